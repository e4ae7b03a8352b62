// Test harness: the real app on a fresh Postgres database and a unique BullMQ prefix on real Redis.
import { Queue } from 'bullmq';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import {
  AuditJob,
  auditEventsOf,
  type AuditEvent,
  ErrorBody,
  QUEUES,
  Role,
  SESSION_COOKIE,
  Scope,
} from '@securevault/contracts';
import { Metrics, createLogger } from '@securevault/observability';
import {
  closeRedis,
  createAuditEmitter,
  createDatabase,
  createRedis,
  listen,
  migrateToLatest,
  waitForRedis,
} from '@securevault/service-kit';
import {
  cleanupRedisPrefix,
  createTestDatabase,
  uniquePrefix,
  type TestDatabase,
} from '@securevault/testing';
import { createApp } from '../src/app.ts';
import { createRevocations } from '../src/revocations.ts';
import type { Database } from '../src/db/database.ts';
import { migrations } from '../src/migrations/index.ts';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const SECRET = 'test-secret-0123456789abcdef-0123456789';
export const TTL_SECONDS = 3600;
export const IDLE_SECONDS = 1800;

export interface Reply {
  status: number;
  headers: Headers;
  body: unknown;
  /** the body parsed with `schema`: strict schemas below, so extra fields fail the test */
  as<S extends z.ZodType>(schema: S): z.infer<S>;
  /** the error of an error answer */
  error(): ErrorBody['error'];
}

const User = z.strictObject({
  id: z.uuid(),
  email: z.string(),
  role: Role,
  createdAt: z.iso.datetime(),
});
export const UserReply = z.strictObject({ user: User });
export const LoginReply = z.strictObject({ user: User, expiresAt: z.iso.datetime() });
export const MeReply = z.strictObject({
  user: User,
  principal: z.strictObject({
    type: z.enum(['session', 'apikey']),
    scopes: z.array(Scope),
    apiKeyId: z.uuid().optional(),
  }),
});
export const ApiKeyCreated = z.strictObject({
  id: z.uuid(),
  key: z.string(),
  name: z.string(),
  scopes: z.array(Scope),
  keyPrefix: z.string(),
  createdAt: z.iso.datetime(),
  expiresAt: z.iso.datetime().nullable(),
});
export const ApiKeyList = z.strictObject({
  items: z.array(
    z.strictObject({
      id: z.uuid(),
      name: z.string(),
      keyPrefix: z.string(),
      scopes: z.array(Scope),
      createdAt: z.iso.datetime(),
      lastUsedAt: z.iso.datetime().nullable(),
      expiresAt: z.iso.datetime().nullable(),
      revokedAt: z.iso.datetime().nullable(),
      revoked: z.boolean(),
    }),
  ),
});

export interface Harness {
  baseUrl: string;
  db: Kysely<Database>;
  testDb: TestDatabase;
  prefix: string;
  metrics: Metrics;
  /** moves the app's clock forward (sessions idle out, keys expire) */
  advance(ms: number): void;
  request(method: string, path: string, options?: RequestOptions): Promise<Reply>;
  auditEvents(): Promise<AuditEvent[]>;
  close(): Promise<void>;
}

export interface RequestOptions {
  body?: unknown;
  rawBody?: string;
  contentType?: string;
  token?: string;
  bearer?: string;
  headers?: Record<string, string>;
}

export async function startHarness(
  options: {
    adminEmails?: string[];
    databaseUrl?: string;
    secrets?: () => { current: string; previous?: string | undefined };
  } = {},
): Promise<Harness> {
  const testDb = await createTestDatabase();
  const logger = createLogger({ service: 'auth', level: 'silent' });
  const metrics = new Metrics('auth', { defaultMetrics: false });
  const database = createDatabase<Database>({
    url: options.databaseUrl ?? testDb.url,
    logger,
    metrics,
    applicationName: 'auth-test',
  });
  const migrator = createDatabase({
    url: testDb.url,
    logger,
    applicationName: 'auth-test-migrate',
    max: 1,
  });
  await migrateToLatest(migrator.db, 'auth', migrations, logger);
  await migrator.close();

  const prefix = uniquePrefix('auth');
  const redis = createRedis({ url: REDIS_URL, name: 'auth', logger, metrics, role: 'producer' });
  await waitForRedis(redis);
  const audit = createAuditEmitter({ source: 'auth', connection: redis, prefix, logger, metrics });
  const queue = new Queue(QUEUES.audit, { connection: { url: REDIS_URL }, prefix });

  let offsetMs = 0;
  const app = createApp({
    config: {
      SESSION_SECRET: SECRET,
      SESSION_TTL_SECONDS: TTL_SECONDS,
      SESSION_IDLE_SECONDS: IDLE_SECONDS,
      ADMIN_EMAILS: options.adminEmails ?? ['root@example.com'],
    },
    db: database.db,
    audit,
    revocations: createRevocations({ redis, prefix, logger }),
    ...(options.secrets ? { secrets: options.secrets } : {}),
    logger,
    metrics,
    now: () => new Date(Date.now() + offsetMs),
  });
  const server = await listen(app, 0, '127.0.0.1');
  const baseUrl = `http://127.0.0.1:${server.port}`;

  return {
    baseUrl,
    db: database.db,
    testDb,
    prefix,
    metrics,
    advance(ms) {
      offsetMs += ms;
    },
    async request(method, path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      let body: string | undefined;
      if (opts.rawBody !== undefined) body = opts.rawBody;
      else if (opts.body !== undefined) body = JSON.stringify(opts.body);
      if (body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
      if (opts.token !== undefined) headers.cookie = `${SESSION_COOKIE}=${opts.token}`;
      if (opts.bearer !== undefined) headers.authorization = `Bearer ${opts.bearer}`;
      const res = await fetch(`${baseUrl}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
      });
      const text = await res.text();
      const parsed = text === '' ? undefined : (JSON.parse(text) as unknown);
      return {
        status: res.status,
        headers: res.headers,
        body: parsed,
        as: (schema) => schema.parse(parsed),
        error: () => ErrorBody.strict().parse(parsed).error,
      };
    },
    async auditEvents() {
      const jobs = await queue.getJobs([
        'waiting',
        'active',
        'delayed',
        'completed',
        'failed',
        'prioritized',
      ]);
      return jobs
        .flatMap((job) => auditEventsOf(AuditJob.parse(job.data)))
        .sort((a, b) => a.time.localeCompare(b.time));
    },
    async close() {
      await server.close();
      await queue.close();
      await audit.close();
      await closeRedis(redis);
      await database.close();
      await testDb.drop();
      await cleanupRedisPrefix(REDIS_URL, prefix);
    },
  };
}

/** The session token from a login's Set-Cookie. */
export function tokenFrom(reply: Reply): string {
  const cookie = reply.headers.get('set-cookie') ?? '';
  const match = new RegExp(`^${SESSION_COOKIE}=([^;]*);`).exec(cookie);
  if (!match?.[1]) throw new Error('no session cookie in the answer');
  return match[1];
}

export async function registerAndLogin(
  h: Harness,
  email: string,
  password = 'correct horse battery',
): Promise<{ userId: string; token: string }> {
  const reg = await h.request('POST', '/api/auth/register', { body: { email, password } });
  if (reg.status !== 201) throw new Error(`register answered ${reg.status}`);
  const login = await h.request('POST', '/api/auth/login', { body: { email, password } });
  if (login.status !== 200) throw new Error(`login answered ${login.status}`);
  return { userId: reg.as(UserReply).user.id, token: tokenFrom(login) };
}

/** Asserts nothing in `value` (serialised) contains any of `secrets`. */
export function containsNone(value: unknown, secrets: string[]): boolean {
  const text = JSON.stringify(value);
  return secrets.every((s) => !text.includes(s));
}
