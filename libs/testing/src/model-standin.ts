// A local OpenAI-compatible model server (deterministic output) for tests and `make dev`.
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';

export const STANDIN_MODELS = ['securevault-dev-1', 'securevault-dev-mini'] as const;

export interface ModelStandinFailures {
  status: number;
  /** How many of the next requests fail. */
  times: number;
  /** Sent as the Retry-After header (seconds or an HTTP date), which the openai SDK honours. */
  retryAfter?: string;
}

export interface ModelStandinOptions {
  port?: number;
  host?: string;
  /** Pause between streamed chunks, so streaming is observable (default 5 ms). */
  chunkDelayMs?: number;
  /** Pause before the first byte of any completion, to exercise client timeouts (default 0). */
  responseDelayMs?: number;
  failures?: ModelStandinFailures;
  log?: (message: string) => void;
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** Parsed JSON when the body was JSON, the raw string otherwise, undefined when empty. */
  body: unknown;
  headers: IncomingHttpHeaders;
}

export interface ModelStandin {
  port: number;
  /** What to give the openai SDK as baseURL. */
  baseUrl: string;
  requests: RecordedRequest[];
  /** Arm (or replace) failures at run time, e.g. between two phases of a test. */
  setFailures(failures: ModelStandinFailures | undefined): void;
  close(): Promise<void>;
}

// Fixed text after the echo, so every reply is long enough to test truncation and streaming.
const SENTENCES = [
  'This text comes from the local development model, not a real provider.',
  'It is deterministic so tests can assert on it.',
  'Each word counts as one token for usage and limits.',
  'Streaming sends one word per chunk.',
  'Set OPENAI_BASE_URL to use a real OpenAI-compatible provider instead.',
];

interface ChatMessage {
  role?: unknown;
  content?: unknown;
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  // Content may be an array of parts ({ type: 'text', text }) in the newer API shape.
  if (Array.isArray(content)) {
    return content
      .map((part: unknown) =>
        typeof part === 'object' &&
        part !== null &&
        typeof (part as { text?: unknown }).text === 'string'
          ? (part as { text: string }).text
          : '',
      )
      .join(' ');
  }
  return '';
}

function countWords(text: string): number {
  const trimmed = text.trim();
  return trimmed === '' ? 0 : trimmed.split(/\s+/).length;
}

/** The reply the stand-in gives for a conversation, before any token limit. Exported for tests. */
export function standinReplyWords(messages: readonly ChatMessage[]): string[] {
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  const prompt = contentText(lastUser?.content).replace(/\s+/g, ' ').trim().slice(0, 60);
  const text = `SecureVault dev model reply to: ${prompt}. ${SENTENCES.join(' ')}`;
  return text.split(/\s+/).filter((w) => w !== '');
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

function errorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 429) return 'rate_limit_exceeded';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  code: string | null,
  type?: string,
): void {
  sendJson(res, status, { error: { message, type: type ?? errorType(status), param: null, code } });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function startModelStandin(options: ModelStandinOptions = {}): Promise<ModelStandin> {
  const host = options.host ?? '127.0.0.1';
  const chunkDelayMs = options.chunkDelayMs ?? 5;
  const log = options.log ?? (() => {});
  const requests: RecordedRequest[] = [];
  let failures: ModelStandinFailures | undefined = options.failures
    ? { ...options.failures }
    : undefined;
  const created = Math.floor(Date.now() / 1000);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const rawBody = await readBody(req);
    let body: unknown = rawBody === '' ? undefined : rawBody;
    let badJson = false;
    if (rawBody !== '') {
      try {
        body = JSON.parse(rawBody) as unknown;
      } catch {
        badJson = true;
      }
    }
    requests.push({ method: req.method ?? 'GET', path, body, headers: req.headers });
    res.setHeader('x-request-id', `req_${randomUUID().replaceAll('-', '')}`);

    if (failures && failures.times > 0) {
      failures.times -= 1;
      log(`model-standin: injected failure ${failures.status} on ${path} (${failures.times} left)`);
      if (failures.retryAfter !== undefined) res.setHeader('retry-after', failures.retryAfter);
      sendError(res, failures.status, `Injected failure (status ${failures.status})`, null);
      return;
    }

    const auth = req.headers.authorization;
    if (auth === undefined || !/^Bearer\s+\S+/i.test(auth)) {
      sendError(res, 401, 'Missing bearer authentication in header', 'invalid_api_key');
      return;
    }

    if (req.method === 'GET' && path === '/v1/models') {
      sendJson(res, 200, {
        object: 'list',
        data: STANDIN_MODELS.map((id) => ({
          id,
          object: 'model',
          created,
          owned_by: 'securevault',
        })),
      });
      return;
    }
    const modelMatch = /^\/v1\/models\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && modelMatch) {
      const id = decodeURIComponent(modelMatch[1] ?? '');
      if (!(STANDIN_MODELS as readonly string[]).includes(id)) {
        sendError(res, 404, `The model '${id}' does not exist`, 'model_not_found');
        return;
      }
      sendJson(res, 200, { id, object: 'model', created, owned_by: 'securevault' });
      return;
    }
    if (path === '/v1/chat/completions') {
      if (req.method !== 'POST') {
        sendError(res, 405, 'Use POST for /v1/chat/completions', null);
        return;
      }
      if (badJson) {
        sendError(res, 400, 'We could not parse the JSON body of your request.', 'invalid_json');
        return;
      }
      await chatCompletion(body, res);
      return;
    }
    sendError(res, 404, `Unknown endpoint ${req.method ?? ''} ${path}`, 'unknown_url');
  }

  async function chatCompletion(body: unknown, res: ServerResponse): Promise<void> {
    const request = (typeof body === 'object' && body !== null ? body : {}) as Record<
      string,
      unknown
    >;
    const model = request.model;
    if (typeof model !== 'string' || model === '') {
      sendError(res, 400, 'you must provide a model parameter', 'missing_model');
      return;
    }
    if (!(STANDIN_MODELS as readonly string[]).includes(model)) {
      sendError(
        res,
        404,
        `The model '${model}' does not exist or you do not have access to it.`,
        'model_not_found',
      );
      return;
    }
    if (!Array.isArray(request.messages) || request.messages.length === 0) {
      sendError(res, 400, "'messages' must be a non-empty array", 'invalid_messages');
      return;
    }
    const messages = request.messages as ChatMessage[];
    // max_completion_tokens is the newer name; honour whichever the client sent.
    const limitRaw = request.max_completion_tokens ?? request.max_tokens;
    if (
      limitRaw !== undefined &&
      limitRaw !== null &&
      (typeof limitRaw !== 'number' || !Number.isInteger(limitRaw) || limitRaw < 1)
    ) {
      sendError(res, 400, 'max_tokens must be a positive integer', 'invalid_max_tokens');
      return;
    }
    const limit = typeof limitRaw === 'number' ? limitRaw : undefined;
    const allWords = standinReplyWords(messages);
    const words = limit === undefined ? allWords : allWords.slice(0, limit);
    const finishReason = words.length < allWords.length ? 'length' : 'stop';
    const promptTokens = messages.reduce((sum, m) => sum + countWords(contentText(m.content)), 0);
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: words.length,
      total_tokens: promptTokens + words.length,
    };
    const id = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
    const createdAt = Math.floor(Date.now() / 1000);
    const base = { id, created: createdAt, model, system_fingerprint: 'fp_securevault_dev' };

    if (options.responseDelayMs) await sleep(options.responseDelayMs);

    if (request.stream !== true) {
      sendJson(res, 200, {
        ...base,
        object: 'chat.completion',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: words.join(' '), refusal: null },
            logprobs: null,
            finish_reason: finishReason,
          },
        ],
        usage,
      });
      return;
    }

    const streamOptions = request.stream_options as { include_usage?: unknown } | undefined;
    const includeUsage = streamOptions?.include_usage === true;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    let clientGone = false;
    res.on('close', () => {
      clientGone = !res.writableFinished;
    });
    const send = (payload: unknown): void => {
      res.write(`data: ${JSON.stringify(payload)}\n\n`);
    };
    // As OpenAI does: with include_usage every chunk carries usage: null until the final one.
    const chunk = (
      delta: Record<string, unknown>,
      finish: string | null,
    ): Record<string, unknown> => ({
      ...base,
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...(includeUsage ? { usage: null } : {}),
    });
    send(chunk({ role: 'assistant', content: '', refusal: null }, null));
    for (let i = 0; i < words.length; i++) {
      if (chunkDelayMs > 0) await sleep(chunkDelayMs);
      if (clientGone) return;
      send(chunk({ content: i === 0 ? words[i] : ` ${words[i] ?? ''}` }, null));
    }
    if (clientGone) return;
    send(chunk({}, finishReason));
    if (includeUsage) send({ ...base, object: 'chat.completion.chunk', choices: [], usage });
    res.end('data: [DONE]\n\n');
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log(`model-standin: ${String(err)}`);
      if (!res.headersSent) sendError(res, 500, 'Internal error in the model stand-in', null);
      else res.destroy();
    });
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.removeListener('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
  log(`model-standin: listening on http://${host}:${port}/v1`);

  return {
    port,
    baseUrl: `http://${host}:${port}/v1`,
    requests,
    setFailures(next) {
      failures = next ? { ...next } : undefined;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive sockets from SDK clients would otherwise hold close() open.
        server.closeAllConnections();
      });
    },
  };
}
