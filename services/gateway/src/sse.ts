// Server-Sent Events relayed from a Redis Stream: one blocking reader connection per open stream.
import { once } from 'node:events';
import type { Request, Response } from 'express';
import { Redis } from 'ioredis';
import type { Logger } from '@securevault/observability';
import { AppError } from '@securevault/service-kit';

/** What a client receives; `id` is the stream entry id (absent for events not read from the stream). */
export interface SseEvent {
  id?: string;
  event: string;
  data: unknown;
}

const TERMINAL = new Set(['done', 'error']);
const ENTRY_ID = /^\d{1,20}-\d{1,20}$/;

/** Turns one ai-worker stream entry (`type=chunk text=...`) into an event; unknown types are skipped. */
export function entryToEvent(id: string, fields: string[]): SseEvent | undefined {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i] as string] = fields[i + 1] as string;
  switch (f.type) {
    case 'chunk':
      return { id, event: 'chunk', data: { text: f.text ?? '' } };
    case 'reset':
      return { id, event: 'reset', data: {} };
    case 'done': {
      let usage: unknown = null;
      try {
        usage = f.usage ? (JSON.parse(f.usage) as unknown) : null;
      } catch {
        usage = null;
      }
      return { id, event: 'done', data: { finishReason: f.finishReason ?? null, usage } };
    }
    case 'error':
      return {
        id,
        event: 'error',
        data: { code: f.code ?? 'GENERATION_FAILED', message: f.message ?? 'generation failed' },
      };
    default:
      return undefined;
  }
}

export function formatEvent(e: SseEvent): string {
  return `${e.id ? `id: ${e.id}\n` : ''}event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;
}

/** The Last-Event-ID a reconnecting client sends, or `0` (from the start) when absent. */
export function lastEventId(req: Request): string {
  const header = req.get('last-event-id');
  if (header === undefined || header.trim() === '') return '0';
  if (!ENTRY_ID.test(header.trim())) {
    throw new AppError('VALIDATION_FAILED', 'Last-Event-ID is not a stream entry id', {
      details: [{ path: 'Last-Event-ID', message: 'expected <ms>-<seq>' }],
    });
  }
  return header.trim();
}

export interface RelayOptions {
  req: Request;
  res: Response;
  key: string;
  lastId: string;
  /** extra headers for the response (e.g. Location) */
  headers?: Record<string, string>;
  /** events to send before the stream's (e.g. which generation this is) */
  preamble?: SseEvent[];
  /**
   * Called when the stream is missing or silent for a whole block: returns terminal events when
   * the work already finished (the stream expired or the worker died), or undefined to keep waiting.
   */
  onIdle?: (lastId: string) => Promise<SseEvent[] | undefined>;
}

export interface StreamHub {
  relay(options: RelayOptions): Promise<void>;
  /** Ends every open stream and refuses new ones (shutdown). */
  closeAll(): Promise<void>;
  readonly size: number;
}

export interface StreamHubOptions {
  redisUrl: string;
  logger: Logger;
  blockMs: number;
  heartbeatMs: number;
  maxStreams: number;
}

interface Active {
  stop(): void;
  done: Promise<void>;
}

export function createStreamHub(options: StreamHubOptions): StreamHub {
  const active = new Set<Active>();
  let closing = false;

  function unavailable(cause?: unknown): AppError {
    return new AppError('SERVICE_UNAVAILABLE', 'streaming is unavailable, try again later', {
      headers: { 'Retry-After': '5' },
      cause,
    });
  }

  async function connect(): Promise<Redis> {
    // Blocking XREAD needs a connection of its own; it never reconnects: the client resumes instead.
    const conn = new Redis(options.redisUrl, {
      lazyConnect: true,
      connectionName: 'securevault-gateway-sse',
      connectTimeout: 3_000,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    conn.on('error', () => {});
    try {
      await conn.connect();
      return conn;
    } catch (err) {
      conn.disconnect();
      throw unavailable(err);
    }
  }

  function streamHeaders(o: RelayOptions): void {
    o.res.status(200);
    o.res.set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      'X-Accel-Buffering': 'no',
      Connection: 'keep-alive',
      ...o.headers,
    });
  }

  async function relay(o: RelayOptions): Promise<void> {
    if (closing) throw unavailable();
    if (active.size >= options.maxStreams) throw unavailable();
    if (o.req.method === 'HEAD') {
      // HEAD gets the stream's headers and nothing else: no Redis connection held open for a
      // response that can never carry an event.
      streamHeaders(o);
      o.res.end();
      return;
    }
    const conn = await connect();
    const { res } = o;
    let stopped = false;
    let resolveDone: () => void = () => {};
    const entry: Active = {
      stop: () => {
        stopped = true;
        // Aborts a pending XREAD BLOCK at once.
        conn.disconnect();
      },
      done: new Promise<void>((r) => (resolveDone = r)),
    };
    active.add(entry);
    const onClose = () => entry.stop();
    res.once('close', onClose);
    streamHeaders(o);
    res.flushHeaders();
    const heartbeat = setInterval(() => {
      if (!stopped) res.write(': ping\n\n');
    }, options.heartbeatMs);

    const write = async (events: SseEvent[]): Promise<boolean> => {
      for (const e of events) {
        if (stopped) return true;
        if (!res.write(formatEvent(e))) {
          // A slow client: wait for the socket to drain rather than buffering the whole stream.
          await Promise.race([once(res, 'drain'), once(res, 'close')]);
        }
        if (TERMINAL.has(e.event)) return true;
      }
      return false;
    };

    let lastId = o.lastId;
    try {
      let finished = await write(o.preamble ?? []);
      if (!finished && o.onIdle && (await conn.exists(o.key)) === 0) {
        const events = await o.onIdle(lastId);
        if (events) {
          await write(events);
          finished = true;
        }
      }
      while (!finished && !stopped) {
        const result = await conn.xread(
          'COUNT',
          100,
          'BLOCK',
          options.blockMs,
          'STREAMS',
          o.key,
          lastId,
        );
        const entries = result?.[0]?.[1] ?? [];
        if (entries.length === 0) {
          const events = o.onIdle ? await o.onIdle(lastId) : undefined;
          if (events) {
            await write(events);
            finished = true;
          }
          continue;
        }
        for (const [id, fields] of entries) {
          lastId = id;
          const event = entryToEvent(id, fields);
          if (event && (await write([event]))) {
            finished = true;
            break;
          }
        }
      }
    } catch (err) {
      // The reader was stopped (client gone, shutdown) or Redis failed mid-stream: the client resumes.
      if (!stopped)
        options.logger.warn(
          { err: err instanceof Error ? err.message : String(err) },
          'stream relay ended',
        );
    } finally {
      clearInterval(heartbeat);
      res.off('close', onClose);
      stopped = true;
      conn.disconnect();
      active.delete(entry);
      if (!res.writableEnded) res.end();
      resolveDone();
    }
  }

  return {
    relay,
    async closeAll() {
      closing = true;
      const all = [...active];
      for (const a of all) a.stop();
      await Promise.all(all.map((a) => a.done));
    },
    get size() {
      return active.size;
    },
  };
}
