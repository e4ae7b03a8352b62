// Delivery test harness: the real gateway app, the real email-worker as a process, stand-ins for SMTP pieces.
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForHttp } from '@securevault/testing';
import { spawnService, type ServiceProcess } from '../../../scripts/lib/processes.ts';

export const FROM = 'SecureVault <no-reply@securevault.test>';

export interface WorkerProcess {
  proc: ServiceProcess;
  logs: string[];
  managementPort: number;
}

/** Starts services/email-worker/src/main.ts and waits until it is ready. */
export async function startEmailWorkerProcess(env: Record<string, string>): Promise<WorkerProcess> {
  const logs: string[] = [];
  const managementPort = await freePort();
  const proc = spawnService(
    'email-worker',
    {
      PATH: process.env.PATH ?? '',
      LOG_LEVEL: 'info',
      SMTP_FROM: FROM,
      MANAGEMENT_PORT: String(managementPort),
      SHUTDOWN_GRACE_MS: '10000',
      ...env,
    },
    { onLine: (line) => void logs.push(line) },
  );
  await waitForHttp(`http://127.0.0.1:${managementPort}/readyz`, {
    expectStatus: 200,
    timeoutMs: 15_000,
  });
  return { proc, logs, managementPort };
}

/** Starts services/ai-worker/src/main.ts against an OpenAI-compatible stand-in and waits until ready. */
export async function startAiWorkerProcess(env: Record<string, string>): Promise<WorkerProcess> {
  const logs: string[] = [];
  const managementPort = await freePort();
  const proc = spawnService(
    'ai-worker',
    {
      PATH: process.env.PATH ?? '',
      LOG_LEVEL: 'info',
      OPENAI_API_KEY: 'sk-test-not-a-secret',
      MANAGEMENT_PORT: String(managementPort),
      ...env,
    },
    { onLine: (line) => void logs.push(line) },
  );
  await waitForHttp(`http://127.0.0.1:${managementPort}/readyz`, {
    expectStatus: 200,
    timeoutMs: 15_000,
  });
  return { proc, logs, managementPort };
}

export interface SseEvent {
  id?: string;
  event: string;
  data: unknown;
}

/** Reads Server-Sent Events from a response until a terminal event (done, error) or the end. */
export async function* readSse(res: Response): AsyncGenerator<SseEvent> {
  const reader = res.body?.getReader() as ReadableStreamDefaultReader<Uint8Array> | undefined;
  if (!reader) return;
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let cut = buffer.indexOf('\n\n');
      while (cut !== -1) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        cut = buffer.indexOf('\n\n');
        const fields: Record<string, string> = {};
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).trimStart();
        }
        if (fields.event === undefined) continue;
        const event: SseEvent = {
          event: fields.event,
          data: fields.data ? (JSON.parse(fields.data) as unknown) : null,
          ...(fields.id !== undefined ? { id: fields.id } : {}),
        };
        yield event;
        if (event.event === 'done' || event.event === 'error') return;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/** Kills the worker without letting it clean up, like an OOM kill or a node failure. */
export async function killHard(worker: WorkerProcess): Promise<void> {
  worker.proc.child.kill('SIGKILL');
  await worker.proc.exited;
}

/**
 * A TCP relay in front of a real SMTP server that can hold back the server's reply to the end
 * of DATA: the server has the message, the client has not heard "250" yet. That is the window
 * in which a crash leaves the sender unsure whether the mail went.
 */
export interface DataHoldingRelay {
  url: string;
  /** resolves when a connection has sent a full message and its reply is being held */
  held(): Promise<void>;
  /** let held and future replies through */
  release(): void;
  hold(): void;
  close(): Promise<void>;
}

export async function startDataHoldingRelay(targetPort: number): Promise<DataHoldingRelay> {
  let holding = true;
  const pending: Array<() => void> = [];
  const heldWaiters: Array<() => void> = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    let afterData = false;
    let tail = '';
    client.on('data', (chunk: Buffer) => {
      tail = (tail + chunk.toString('latin1')).slice(-5);
      if (tail === '\r\n.\r\n') afterData = true;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (afterData && holding) {
        afterData = false;
        pending.push(() => client.write(chunk));
        for (const w of heldWaiters.splice(0)) w();
        return;
      }
      afterData = false;
      client.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    held: () =>
      pending.length > 0 ? Promise.resolve() : new Promise<void>((r) => heldWaiters.push(r)),
    release() {
      holding = false;
      for (const send of pending.splice(0)) send();
    },
    hold() {
      holding = true;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** An SMTP server that accepts connections and never says a word (no 220 greeting). */
export async function startSilentServer(): Promise<{
  url: string;
  connections: () => number;
  close(): Promise<void>;
}> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    connections: () => count,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A private redis-server (never the shared one on 6379) that a test may stop and start. */
export interface PrivateRedis {
  url: string;
  port: number;
  start(): Promise<void>;
  /** SHUTDOWN: the AOF is flushed, as on an orderly restart */
  stop(): Promise<void>;
  close(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sv-redis-'));
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--dir',
        dir,
      ],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 10_000;
    for (;;) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1', () => {
          s.write('PING\r\n');
        });
        s.once('data', (d: Buffer) => {
          s.destroy();
          resolve(d.toString().startsWith('+PONG'));
        });
        s.once('error', () => resolve(false));
      });
      if (ok) return;
      if (Date.now() > deadline) throw new Error('private redis did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async () => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    stop,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `fn` until it returns a value (not undefined), bounded. */
export async function until<T>(
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
