// The console's one way to call the gateway: same-origin fetch with the session cookie, and every
// failure turned into a sentence a person understands (never raw JSON).

/** Fired when the gateway says the session is gone; the app then shows the sign-in page. */
export const SESSION_EXPIRED_EVENT = 'securevault:session-expired';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly retryAfterSeconds: number | undefined;

  constructor(status: number, code: string, message: string, retryAfterSeconds?: number) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

interface ErrorPayload {
  error?: {
    code?: unknown;
    message?: unknown;
    details?: Array<{ path?: unknown; message?: unknown }>;
  };
}

/**
 * Seconds until a retry may succeed: Retry-After (seconds or an HTTP date), else the reset of the
 * RateLimit header (`…;t=30` in the IETF draft, or `reset=30` in its older form).
 */
export function retryAfterSeconds(headers: Headers, now = Date.now()): number | undefined {
  const retryAfter = headers.get('retry-after');
  if (retryAfter !== null) {
    if (/^\d+$/.test(retryAfter.trim())) return Number(retryAfter.trim());
    const at = Date.parse(retryAfter);
    if (!Number.isNaN(at)) return Math.max(0, Math.ceil((at - now) / 1000));
  }
  const rateLimit = headers.get('ratelimit') ?? headers.get('ratelimit-reset');
  if (rateLimit !== null) {
    const match = /(?:^|[;,\s])(?:t|reset)=(\d+)/.exec(rateLimit) ?? /^(\d+)$/.exec(rateLimit);
    if (match?.[1] !== undefined) return Number(match[1]);
  }
  return undefined;
}

function sentence(text: string): string {
  const trimmed = text.trim();
  if (trimmed === '') return trimmed;
  const capital = trimmed[0]!.toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** What to tell a person about a failed call; the server's own message only where it is for people. */
export function friendlyMessage(
  status: number,
  code: string,
  serverMessage: string | undefined,
  details: Array<{ path: string; message: string }> = [],
  retryAfter?: number,
): string {
  if (status === 429) {
    return retryAfter !== undefined
      ? `Too many requests, try again in ${retryAfter} s.`
      : 'Too many requests, try again in a moment.';
  }
  if (status === 401) {
    if (code === 'INVALID_CREDENTIALS') return 'The email or password is incorrect.';
    return 'Your session has expired, sign in again.';
  }
  if (status === 403) {
    return code === 'INSUFFICIENT_SCOPE' || !serverMessage
      ? "You don't have permission to do this."
      : sentence(serverMessage);
  }
  if (status === 404) return serverMessage ? sentence(serverMessage) : 'Not found.';
  if (status === 400 && details.length > 0) {
    const fields = details.map((d) => `${d.path === '(body)' ? 'form' : d.path} ${d.message}`);
    return `Please check the form: ${fields.join('; ')}.`;
  }
  if (status === 413) return 'That is too large to send.';
  if (status >= 500 && status !== 501) {
    return status === 503
      ? 'SecureVault is temporarily unavailable, try again in a moment.'
      : 'Something went wrong on our side, try again in a moment.';
  }
  return serverMessage ? sentence(serverMessage) : `The request failed (${status}).`;
}

/** Builds the ApiError of a non-2xx answer, reading its JSON body when there is one. */
export async function errorFrom(response: Response, path: string): Promise<ApiError> {
  let payload: ErrorPayload = {};
  try {
    payload = (await response.json()) as ErrorPayload;
  } catch {
    // not JSON (a proxy's page): the status alone decides the message
  }
  const code = typeof payload.error?.code === 'string' ? payload.error.code : 'HTTP_ERROR';
  const message = typeof payload.error?.message === 'string' ? payload.error.message : undefined;
  const details = (payload.error?.details ?? []).flatMap((d) =>
    typeof d.path === 'string' && typeof d.message === 'string'
      ? [{ path: d.path, message: d.message }]
      : [],
  );
  const retry = retryAfterSeconds(response.headers);
  // Signing in is the one place a 401 means "wrong password", not "session gone".
  if (response.status === 401 && !path.startsWith('/api/auth/login')) {
    window.dispatchEvent(new Event(SESSION_EXPIRED_EVENT));
  }
  return new ApiError(
    response.status,
    code,
    friendlyMessage(response.status, code, message, details, retry),
    retry,
  );
}

export interface RequestOptions {
  method?: string;
  json?: unknown;
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

/** Calls the gateway and parses its JSON answer; throws ApiError with a readable message. */
export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  let body: string | undefined;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  }
  let response: Response;
  try {
    response = await fetch(path, {
      method: options.method ?? 'GET',
      headers,
      credentials: 'same-origin',
      ...(body !== undefined ? { body } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'NETWORK', 'Cannot reach SecureVault, check your connection.');
  }
  if (!response.ok) throw await errorFrom(response, path);
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/** A message for anything a call may throw. */
export function messageOf(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof DOMException && err.name === 'AbortError') return 'Cancelled.';
  return 'Something went wrong, try again.';
}

export function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === 'AbortError';
}

export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/**
 * Splits a text/event-stream into events as bytes arrive (comments, like the heartbeat's
 * `: ping`, are skipped). Feed chunks to `push`; it returns the events they completed.
 */
export function sseParser(): { push(chunk: string): SseEvent[] } {
  let buffer = '';
  return {
    push(chunk) {
      buffer += chunk.replace(/\r\n?/g, '\n');
      const events: SseEvent[] = [];
      let end: number;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event: SseEvent = { event: 'message', data: '' };
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line === '' || line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon === -1 ? line : line.slice(0, colon);
          const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') event.event = value;
          else if (field === 'data') data.push(value);
          else if (field === 'id') event.id = value;
        }
        if (data.length === 0) continue;
        event.data = data.join('\n');
        events.push(event);
      }
      return events;
    },
  };
}
