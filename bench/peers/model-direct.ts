// Peer for time to first SSE event: a client streaming a chat completion from the model stand-in
// directly (what the gateway path adds is the queue, the worker and the relay).
import http from 'node:http';

const agent = new http.Agent({ keepAlive: false });

/** Milliseconds from sending the request to the first content chunk; reads the stream to its end. */
export function firstChunkDirect(options: {
  baseUrl: string;
  apiKey: string;
  prompt: string;
  maxTokens: number;
}): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({
      model: 'securevault-dev-1',
      messages: [{ role: 'user', content: options.prompt }],
      max_tokens: options.maxTokens,
      stream: true,
    });
    const started = performance.now();
    const req = http.request(
      `${options.baseUrl}/chat/completions`,
      {
        method: 'POST',
        agent,
        headers: {
          authorization: `Bearer ${options.apiKey}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          accept: 'text/event-stream',
        },
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`model stand-in answered ${res.statusCode}`));
          return;
        }
        res.setEncoding('utf8');
        let buffer = '';
        let first: number | undefined;
        res.on('data', (text: string) => {
          if (first !== undefined) return;
          buffer += text;
          // The first delta with text, not the role-only one some providers send first.
          if (/"content":"[^"]/.test(buffer)) first = performance.now() - started;
        });
        res.on('end', () => {
          if (first === undefined) reject(new Error('the stand-in stream carried no content'));
          else resolve(first);
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('stand-in stream timed out')));
    req.on('error', reject);
    req.end(body);
  });
}
