// A minimal SSE client over node:http for the streaming rows: first-chunk time and chunk counts.
import http from 'node:http';

export interface StreamOutcome {
  /** ms from sending the request to the first `chunk` event */
  firstChunkMs: number | undefined;
  chunks: number;
  /** the stream ended with `done` */
  done: boolean;
  generationId: string | undefined;
  status: number;
}

const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });

/** POST /api/generate-content with Accept: text/event-stream, read to the end. */
export function streamGeneration(options: {
  base: string;
  apiKey: string;
  prompt: string;
  maxTokens: number;
  timeoutMs: number;
}): Promise<StreamOutcome> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ prompt: options.prompt, maxTokens: options.maxTokens });
    const started = performance.now();
    const outcome: StreamOutcome = {
      firstChunkMs: undefined,
      chunks: 0,
      done: false,
      generationId: undefined,
      status: 0,
    };
    const req = http.request(
      `${options.base}/api/generate-content`,
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
        outcome.status = res.statusCode ?? 0;
        res.setEncoding('utf8');
        let buffer = '';
        res.on('data', (text: string) => {
          buffer += text;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const event = /^event: (.+)$/m.exec(block)?.[1];
            if (event === 'chunk') {
              outcome.chunks++;
              outcome.firstChunkMs ??= performance.now() - started;
            } else if (event === 'done') {
              outcome.done = true;
            } else if (event !== undefined && outcome.generationId === undefined) {
              const id = /"id":"([0-9a-f-]{36})"/.exec(block)?.[1];
              if (id) outcome.generationId = id;
            }
          }
        });
        res.on('end', () => resolve(outcome));
        res.on('error', reject);
      },
    );
    req.setTimeout(options.timeoutMs, () => req.destroy(new Error('stream timed out')));
    req.on('error', reject);
    req.end(body);
  });
}
