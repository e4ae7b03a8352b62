// `make benchmark`: SecureVault against small reference programs, each pair back to back in one run
// (warm-up, three repetitions, median). Prints one table; writes JSON, Markdown and an SVG chart to
// bench/results/. `--quick` (make benchmark QUICK=1) keeps the same rows with shorter runs.
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { generationStreamKey } from '@securevault/contracts';
import { Metrics, createLogger } from '@securevault/observability';
import { createAuditEmitter, type AuditEventDraft } from '@securevault/service-kit';
import { cleanupRedisPrefix, freePort, uniquePrefix, waitForHttp } from '@securevault/testing';
import type { ServiceName } from '../scripts/lib/service-env.ts';
import { REPO_ROOT, spawnNodeScript, type ServiceProcess } from '../scripts/lib/processes.ts';
import { burst, fixedRate, saturate, type Target as LoadTarget } from './lib/load.ts';
import { IDLE_QUIET_MS, MemorySampler, residentMb } from './lib/memory.ts';
import { BENCH_OVERRIDES, REDIS_URL, startPlatform, type Platform } from './lib/platform.ts';
import {
  evaluate,
  formatTable,
  toJson,
  toMarkdown,
  toSvg,
  type Row,
  type RunMeta,
} from './lib/report.ts';
import { streamGeneration, type StreamOutcome } from './lib/sse.ts';
import { median, percentile, type Target } from './lib/stats.ts';
import { pool, until } from './lib/drive.ts';
import { ourJobs } from './lib/ours-jobs.ts';
import { argon2Verifies } from './peers/argon2-verify.ts';
import { rawBullmqJobs, type JobsRun } from './peers/bullmq-raw.ts';
import { firstChunkDirect } from './peers/model-direct.ts';
import { pooledNodemailer } from './peers/nodemailer-pooled.ts';
import { copyRows, readStoredRows } from './peers/pg-copy.ts';

const quick = process.argv.includes('--quick');
// `--only=jobs,audit` runs just those sections (section keys below), for investigating one row.
const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',')
  .filter(Boolean);
// `--profile=auth,gateway` runs those services under --cpu-prof (bench/results/profiles/).
const profiled = (process.argv
  .find((a) => a.startsWith('--profile='))
  ?.slice('--profile='.length)
  .split(',')
  .filter(Boolean) ?? []) as ServiceName[];
const REPS = 3;
// Durations in seconds, counts in items: the quick run keeps every row, only shorter.
const P = quick
  ? {
      warm: 1,
      sat: 2,
      rate: 2,
      jobs: 1500,
      // Fewer than ~1,000 emails per repetition measures the warm-up, not the pipeline.
      emails: 1000,
      audit: 1000,
      ttfe: 20,
      streams: 2000,
      restarts: 2,
    }
  : {
      warm: 3,
      sat: 8,
      rate: 8,
      jobs: 8000,
      emails: 1500,
      audit: 5000,
      ttfe: 150,
      streams: 2000,
      restarts: 2,
    };
const CONNECTIONS = 32;
const LOGIN_CONNECTIONS = 8;
const JOB_CONCURRENCY = 10;
const PRODUCER_IN_FLIGHT = 32;

const rows: Row[] = [];
const t0 = performance.now();
function log(line: string): void {
  process.stdout.write(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
}

/** The first line of an error, for a row's "not measured" reason. */
function reason(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]?.slice(0, 200) ?? '';
}

function addRow(row: Row): void {
  rows.push(row);
  const r = evaluate(row);
  log(
    `  ${row.metric}: ours ${r.ours?.toFixed(2) ?? '—'} ${row.unit}, peer ${r.peer?.toFixed(2) ?? '—'}, ${r.status}`,
  );
}

function notMeasured(metrics: Array<[string, string, string, Target]>, err: unknown): void {
  for (const [id, metric, unit, target] of metrics) {
    rows.push({ id, metric, unit, ours: null, peer: null, target, note: reason(err) });
  }
  log(`  not measured (${metrics.map((m) => m[0]).join(', ')}): ${reason(err)}`);
}

/** Runs one section; a failure marks its rows "not measured" with the reason and the run goes on. */
async function section(
  key: string,
  name: string,
  metrics: Array<[string, string, string, Target]>,
  fn: () => Promise<void>,
): Promise<void> {
  if (only && !only.includes(key)) return;
  log(name);
  const before = rows.length;
  try {
    await fn();
  } catch (err) {
    const done = new Set(rows.slice(before).map((r) => r.id));
    notMeasured(
      metrics.filter(([id]) => !done.has(id)),
      err,
    );
  }
}

function problems(results: Array<{ non2xx: number; errors: number }>): string | undefined {
  const non2xx = results.reduce((n, r) => n + r.non2xx, 0);
  const errors = results.reduce((n, r) => n + r.errors, 0);
  return non2xx + errors > 0 ? `${non2xx} non-2xx answers and ${errors} errors` : undefined;
}

// ---- Processes outside the platform ----------------------------------------------------------

async function startExpressPeer(prefix: string): Promise<{ url: string; proc: ServiceProcess }> {
  const port = await freePort();
  const proc = spawnNodeScript(
    'express-peer',
    'bench/peers/express-peer.ts',
    {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      NODE_ENV: 'production',
      PORT: String(port),
      REDIS_URL,
      RATE_LIMIT_PREFIX: `${prefix}:peer:rl:`,
    },
    { onLine: () => {} },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/api/health`, { timeoutMs: 15_000, expectStatus: 200 });
  return { url, proc };
}

/** A stand-in OTLP/HTTP receiver: accepts every export and counts requests and bytes. */
async function startOtlpReceiver(): Promise<{
  url: string;
  stats: { posts: number; bytes: number };
  close(): void;
}> {
  const stats = { posts: 0, bytes: 0 };
  const server = http.createServer((req, res) => {
    req.on('data', (c: Buffer) => (stats.bytes += c.length));
    req.on('end', () => {
      stats.posts++;
      // An empty ExportTraceServiceResponse is the success answer in both encodings.
      const json = (req.headers['content-type'] ?? '').includes('json');
      res
        .writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' })
        .end(json ? '{}' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stats,
    close: () => server.close(),
  };
}

// ---- Sections ----------------------------------------------------------------------------------

interface HttpContext {
  platform: Platform;
  peerUrl: string;
  /** median saturation of our /api/health, for the latency rows' fixed rate */
  healthSat: number;
}

const T = {
  health: { ratioMin: 0.8 },
  auth: { ratioMin: 0.6 },
  tracing: { ratioMin: 0.85 },
  jobs: { ratioMin: 0.7 },
  emails: { ratioMin: 0.25, oursMin: 500 },
  audit: { ratioMin: 0.3 },
  logins: { ratioMin: 0.85 },
  storm: { ratioMax: 1.5 },
  ttfe: { diffMax: 5 },
  streams: { ratioMin: 0.999 },
} satisfies Record<string, Target>;

async function httpRows(ctx: HttpContext): Promise<void> {
  const { platform, peerUrl } = ctx;
  const ours: LoadTarget = { url: `${platform.base}/api/health` };
  const peer: LoadTarget = { url: `${peerUrl}/api/health` };
  const authed: LoadTarget = {
    url: `${platform.base}/api/ai/budget`,
    headers: { authorization: `Bearer ${platform.apiKey}` },
  };
  const sat = { seconds: P.sat, connections: CONNECTIONS };
  for (const t of [ours, peer, authed]) await saturate(t, { ...sat, seconds: P.warm });
  const o = [];
  const p = [];
  const a = [];
  for (let i = 0; i < REPS; i++) {
    o.push(await saturate(ours, sat));
    p.push(await saturate(peer, sat));
    a.push(await saturate(authed, sat));
  }
  const oursRps = o.map((r) => r.rps);
  const peerRps = p.map((r) => r.rps);
  const authRps = a.map((r) => r.rps);
  ctx.healthSat = median(oursRps);
  addRow({
    id: 'health-rps',
    metric: 'GET /api/health, every middleware',
    unit: 'req/s',
    ours: median(oursRps),
    peer: median(peerRps),
    peerLabel: 'express peer',
    target: T.health,
    samples: { ours: oursRps, peer: peerRps },
    ...optionalNote(problems([...o, ...p])),
  });
  addRow({
    id: 'auth-rps',
    metric: 'authenticated GET /api/ai/budget (API key)',
    unit: 'req/s',
    ours: median(authRps),
    peer: median(peerRps),
    peerLabel: 'express peer',
    target: T.auth,
    samples: { ours: authRps, peer: peerRps },
    ...optionalNote(problems(a)),
  });

  // Latency at half of the slower side's saturation: both sides get the same offered load.
  const healthRate = Math.min(median(oursRps), median(peerRps)) / 2;
  const authRate = median(authRps) / 2;
  const lat = { o: [] as Latencies[], p: [] as Latencies[], a: [] as Latencies[] };
  for (let i = 0; i < REPS; i++) {
    lat.o.push(await fixedRate(ours, { seconds: P.rate, rate: healthRate }));
    lat.p.push(await fixedRate(peer, { seconds: P.rate, rate: healthRate }));
    lat.a.push(await fixedRate(authed, { seconds: P.rate, rate: authRate }));
  }
  for (const q of ['p50', 'p95', 'p99'] as const) {
    addRow({
      id: `health-${q}`,
      metric: `GET /api/health ${q} at ${Math.round(healthRate)} req/s`,
      unit: 'ms',
      ours: median(lat.o.map((l) => l[q])),
      peer: median(lat.p.map((l) => l[q])),
      peerLabel: 'express peer',
      target: {},
      samples: { ours: lat.o.map((l) => l[q]), peer: lat.p.map((l) => l[q]) },
    });
  }
  for (const q of ['p50', 'p95', 'p99'] as const) {
    addRow({
      id: `auth-${q}`,
      metric: `authenticated GET ${q} at ${Math.round(authRate)} req/s`,
      unit: 'ms',
      ours: median(lat.a.map((l) => l[q])),
      peer: null,
      target: {},
      samples: { ours: lat.a.map((l) => l[q]), peer: [] },
      ...optionalNote(problems(lat.a)),
    });
  }
}

type Latencies = Awaited<ReturnType<typeof fixedRate>>;

function optionalNote(note: string | undefined): { note?: string } {
  return note === undefined ? {} : { note };
}

async function tracingRow(platform: Platform, samplerRatio: number): Promise<void> {
  const receiver = await startOtlpReceiver();
  const port = await freePort();
  const managementPort = await freePort();
  const traced = await platform.startExtra(
    'gateway-traced',
    'gateway',
    platform.envFor('gateway', {
      PORT: String(port),
      MANAGEMENT_PORT: String(managementPort),
      // What the chart sets with tracing.enabled (its default samplerRatio is 1: every trace).
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: String(samplerRatio),
    }),
    managementPort,
  );
  try {
    const path = '/api/ai/budget';
    const headers = { authorization: `Bearer ${platform.apiKey}` };
    const on: LoadTarget = { url: `http://127.0.0.1:${port}${path}`, headers };
    const off: LoadTarget = { url: `${platform.base}${path}`, headers };
    const sat = { seconds: P.sat, connections: CONNECTIONS };
    await saturate(on, { ...sat, seconds: P.warm });
    await saturate(off, { ...sat, seconds: P.warm });
    const a = [];
    const b = [];
    for (let i = 0; i < REPS; i++) {
      a.push(await saturate(on, sat));
      b.push(await saturate(off, sat));
    }
    // Spans are batched: give the last batch time to arrive before reading the count.
    await new Promise((r) => setTimeout(r, 1_500));
    const onRps = a.map((r) => r.rps);
    const offRps = b.map((r) => r.rps);
    addRow({
      id: samplerRatio === 1 ? 'tracing-rps' : `tracing-rps-${samplerRatio}`,
      metric:
        samplerRatio === 1
          ? 'tracing tax: authenticated GET, every trace exported'
          : `tracing tax, ${samplerRatio * 100} % of traces sampled`,
      unit: 'req/s',
      ours: median(onRps),
      peer: median(offRps),
      peerLabel: 'tracing off',
      // The chart's default (every trace) carries the target; other ratios are for operators.
      target: samplerRatio === 1 ? T.tracing : {},
      samples: { ours: onRps, peer: offRps },
      note:
        receiver.stats.posts > 0
          ? `${receiver.stats.posts} OTLP exports (${(receiver.stats.bytes / 1e6).toFixed(1)} MB) received`
          : 'the receiver got no spans: tracing was not on',
    });
  } finally {
    await traced.process.stop(15_000);
    receiver.close();
  }
}

async function jobsRow(): Promise<void> {
  const prefix = uniquePrefix('bench-jobs');
  const run = (jobs: number): JobsRun => ({
    redisUrl: REDIS_URL,
    prefix,
    jobs,
    concurrency: JOB_CONCURRENCY,
    inFlight: PRODUCER_IN_FLIGHT,
    payload: (i) => ({
      id: randomUUID(),
      event: 'email.sent',
      ownerId: null,
      payload: { n: i },
      occurredAt: new Date().toISOString(),
    }),
  });
  const o: number[] = [];
  const p: number[] = [];
  try {
    await ourJobs(run(Math.ceil(P.jobs / 5)));
    await rawBullmqJobs(run(Math.ceil(P.jobs / 5)));
    for (let i = 0; i < REPS; i++) {
      o.push(P.jobs / (await ourJobs(run(P.jobs))));
      p.push(P.jobs / (await rawBullmqJobs(run(P.jobs))));
    }
  } finally {
    await cleanupRedisPrefix(REDIS_URL, prefix);
  }
  addRow({
    id: 'jobs',
    metric: `jobs/s, no-op handler, concurrency ${JOB_CONCURRENCY}`,
    unit: 'jobs/s',
    ours: median(o),
    peer: median(p),
    peerLabel: 'raw BullMQ',
    target: T.jobs,
    samples: { ours: o, peer: p },
  });
}

async function emailsRow(platform: Platform): Promise<void> {
  const { smtp } = platform;
  const send: LoadTarget = {
    url: `${platform.base}/api/send-email`,
    method: 'POST',
    headers: {
      authorization: `Bearer ${platform.apiKey}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({
      to: 'recipient@example.org',
      subject: 'Benchmark',
      text: 'Hello from the benchmark.',
    }),
  };
  // How fast the API alone accepted each burst: tells the API apart from delivery in the note.
  const accepted: number[] = [];
  const ours = async (n: number): Promise<number> => {
    smtp.clear();
    const started = performance.now();
    const sent = await burst(send, { amount: n, connections: 16 });
    if (sent.ok !== n)
      throw new Error(`send-email: ${sent.ok} of ${n} accepted (${sent.non2xx} refused)`);
    accepted.push(n / sent.seconds);
    await until('emails at the SMTP sink', () => smtp.messages.length, n, 120_000, 10);
    return n / ((performance.now() - started) / 1000);
  };
  const peer = async (n: number, noDelay = false): Promise<number> => {
    smtp.clear();
    const seconds = await pooledNodemailer({
      noDelay,
      smtpUrl: smtp.url,
      count: n,
      inFlight: 16,
      // The email-worker's SMTP_POOL_MAX_CONNECTIONS default.
      maxConnections: 10,
      subject: (i) => `Benchmark ${i}`,
    });
    if (smtp.messages.length < n)
      throw new Error(`peer: ${smtp.messages.length} of ${n} at the sink`);
    return n / seconds;
  };
  await ours(Math.ceil(P.emails / 5));
  await peer(Math.ceil(P.emails / 5));
  const o: number[] = [];
  const p: number[] = [];
  const fast: number[] = [];
  for (let i = 0; i < REPS; i++) {
    o.push(await ours(P.emails));
    p.push(await peer(P.emails));
    fast.push(await peer(P.emails, true));
  }
  smtp.clear();
  addRow({
    id: 'emails',
    metric: 'emails/s, API → queue → worker → SMTP sink',
    unit: 'emails/s',
    ours: median(o),
    peer: median(p),
    peerLabel: 'pooled nodemailer',
    target: T.emails,
    samples: { ours: o, peer: p },
    note: `the API accepted the requests at ${Math.round(median(accepted.slice(-REPS)))}/s (median)`,
  });
  addRow({
    id: 'emails-nodelay',
    metric: 'pooled nodemailer with TCP_NODELAY (remedy check)',
    unit: 'emails/s',
    ours: median(fast),
    peer: median(p),
    peerLabel: 'pooled nodemailer',
    target: {},
    samples: { ours: fast, peer: p },
  });
}

async function auditRow(platform: Platform): Promise<void> {
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue('audit', { connection, prefix: platform.prefix });
  // The producer side is the emitter every service uses (group commit: events emitted while a job
  // is being added travel together in the next one), as the gateway would under a burst.
  const emitter = createAuditEmitter({
    source: 'gateway',
    connection,
    prefix: platform.prefix,
    logger: createLogger({ service: 'bench', level: 'warn' }),
    metrics: new Metrics('gateway', { defaultMetrics: false }),
  });
  const client = new pg.Client({ connectionString: platform.db.url });
  await client.connect();
  const stored = async () =>
    Number(
      (await client.query<{ n: string }>('SELECT count(*) AS n FROM audit.events')).rows[0]?.n,
    );
  const event = (i: number): AuditEventDraft => ({
    actor: {
      type: 'user',
      id: platform.user.id,
      ip: `10.0.${i % 250}.${(i >> 8) % 250}`,
      userAgent: 'securevault-bench/1.0',
    },
    action: 'email.queued',
    target: { type: 'email', id: randomUUID() },
    outcome: 'success',
    ownerId: platform.user.id,
    requestId: `bench-${i}`,
    metadata: { to: `person${i}@example.org`, subject: 'Benchmark', template: null },
  });
  let jobs = 0;
  let events = 0;
  /** Emits n events at once while consumption is paused, then times the audit service storing them. */
  const ours = async (n: number): Promise<number> => {
    await queue.pause();
    const before = await stored();
    const queuedBefore = await queue.count();
    const completedBefore = await queue.getCompletedCount();
    const emitted = await Promise.all(Array.from({ length: n }, (_, i) => emitter.emit(event(i))));
    if (emitted.includes(false)) throw new Error('an audit event could not be queued');
    const added = (await queue.count()) - queuedBefore;
    jobs += added;
    events += n;
    const started = performance.now();
    await queue.resume();
    // A job completes only once all its events are committed. Polling the queue (one Redis call)
    // rather than count(*) on the growing table keeps the poll off Postgres's CPU.
    await until('audit jobs', () => queue.getCompletedCount(), completedBefore + added, 120_000);
    const elapsed = performance.now() - started;
    const rows = (await stored()) - before;
    if (rows !== n) throw new Error(`${rows} audit rows stored for ${n} events`);
    return n / (elapsed / 1000);
  };
  const peer = async (n: number): Promise<number> => {
    const rows = await readStoredRows(platform.db.url, n);
    if (rows.length !== n) throw new Error(`only ${rows.length} stored rows to copy`);
    return n / (await copyRows(platform.db.url, rows));
  };
  try {
    await ours(Math.ceil(P.audit / 5));
    await peer(Math.ceil(P.audit / 5));
    const o: number[] = [];
    const p: number[] = [];
    for (let i = 0; i < REPS; i++) {
      o.push(await ours(P.audit));
      p.push(await peer(P.audit));
    }
    addRow({
      id: 'audit',
      metric: 'audit events/s, queue → masked, chained, batched insert',
      unit: 'events/s',
      ours: median(o),
      peer: median(p),
      peerLabel: 'raw COPY',
      target: T.audit,
      samples: { ours: o, peer: p },
      note: `${(events / Math.max(jobs, 1)).toFixed(1)} events per job on average`,
    });
  } finally {
    await queue.resume().catch(() => undefined);
    await emitter.close();
    await queue.close();
    connection.disconnect();
    await client.end();
  }
}

async function loginRows(platform: Platform, healthSat: number): Promise<void> {
  const login: LoadTarget = {
    url: `${platform.base}/api/auth/login`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: platform.user.email, password: platform.user.password }),
  };
  const health: LoadTarget = { url: `${platform.base}/api/health` };
  const sat = { seconds: P.sat, connections: LOGIN_CONNECTIONS };
  await saturate(login, { ...sat, seconds: P.warm });
  await argon2Verifies({ seconds: P.warm, inFlight: LOGIN_CONNECTIONS });
  const o = [];
  const p: number[] = [];
  for (let i = 0; i < REPS; i++) {
    o.push(await saturate(login, sat));
    p.push(await argon2Verifies({ seconds: P.sat, inFlight: LOGIN_CONNECTIONS }));
  }
  const oursRps = o.map((r) => r.rps);
  addRow({
    id: 'logins',
    metric: 'logins/s (gateway → auth, argon2id)',
    unit: 'logins/s',
    ours: median(oursRps),
    peer: median(p),
    peerLabel: 'raw argon2id verify',
    target: T.logins,
    samples: { ours: oursRps, peer: p },
    ...optionalNote(problems(o)),
  });

  // Same offered health load idle and during the storm: half of /api/health saturation.
  const rate = Math.max(1, healthSat / 2);
  const idle: number[] = [];
  const storm: number[] = [];
  const stormRuns = [];
  for (let i = 0; i < REPS; i++) {
    idle.push((await fixedRate(health, { seconds: P.rate, rate })).p99);
    const storming = saturate(login, { seconds: P.rate + 1, connections: LOGIN_CONNECTIONS });
    await new Promise((r) => setTimeout(r, 500));
    const during = await fixedRate(health, { seconds: P.rate, rate });
    storm.push(during.p99);
    stormRuns.push(during);
    await storming;
  }
  addRow({
    id: 'health-storm',
    metric: `/api/health p99 during a login storm (${Math.round(rate)} req/s)`,
    unit: 'ms',
    ours: median(storm),
    peer: median(idle),
    peerLabel: 'idle p99',
    target: T.storm,
    samples: { ours: storm, peer: idle },
    ...optionalNote(problems(stormRuns)),
  });
}

async function ttfeRow(platform: Platform): Promise<void> {
  const prompt = 'Benchmark the time to the first token';
  const gateway = async () => {
    const s = await streamGeneration({
      base: platform.base,
      apiKey: platform.apiKey,
      prompt,
      maxTokens: 16,
      timeoutMs: 30_000,
    });
    if (s.firstChunkMs === undefined) throw new Error(`no chunk through the gateway (${s.status})`);
    return s.firstChunkMs;
  };
  const direct = () =>
    firstChunkDirect({
      baseUrl: platform.model.baseUrl,
      apiKey: 'sk-bench',
      prompt,
      maxTokens: 16,
    });
  for (let i = 0; i < 5; i++) {
    await gateway();
    await direct();
  }
  const o: number[] = [];
  const p: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    const g: number[] = [];
    const d: number[] = [];
    // Interleaved one by one, so both sides see the same moment of the machine.
    for (let i = 0; i < P.ttfe; i++) {
      g.push(await gateway());
      d.push(await direct());
    }
    o.push(percentile(g, 99));
    p.push(percentile(d, 99));
  }
  addRow({
    id: 'ttfe',
    metric: `time to first SSE chunk p99 (${P.ttfe} streams × ${REPS})`,
    unit: 'ms',
    ours: median(o),
    peer: median(p),
    peerLabel: 'stand-in direct',
    target: T.ttfe,
    samples: { ours: o, peer: p },
  });
}

async function streamsRow(platform: Platform): Promise<void> {
  const n = P.streams;
  let open = 0;
  let peakOpen = 0;
  const outcomes: Array<StreamOutcome | Error> = [];
  // Opened in waves of 100 every 20 ms: all 2,000 are open long before the first ones finish,
  // without overflowing the listen backlog with one burst of SYNs.
  await pool(n, n, async (i) => {
    await new Promise((r) => setTimeout(r, Math.floor(i / 100) * 20));
    open++;
    peakOpen = Math.max(peakOpen, open);
    try {
      outcomes.push(
        await streamGeneration({
          base: platform.base,
          apiKey: platform.apiKey,
          prompt: `Benchmark stream ${i} of many concurrent streams`,
          maxTokens: 32,
          timeoutMs: 180_000,
        }),
      );
    } catch (err) {
      outcomes.push(err instanceof Error ? err : new Error(String(err)));
    } finally {
      open--;
    }
  });
  const ok = outcomes.filter((o): o is StreamOutcome => !(o instanceof Error));
  const failed = outcomes.length - ok.length;
  const ids = ok.map((o) => o.generationId).filter((id): id is string => id !== undefined);
  // Chunks sent: the chunk entries the ai-worker appended to each stream that was opened.
  const redis = new Redis(REDIS_URL);
  let sent = 0;
  try {
    for (let i = 0; i < ids.length; i += 200) {
      const pipe = redis.pipeline();
      for (const id of ids.slice(i, i + 200))
        pipe.xrange(generationStreamKey(platform.prefix, id), '-', '+');
      for (const [err, entries] of (await pipe.exec()) ?? []) {
        if (err) throw err;
        for (const [, fields] of entries as Array<[string, string[]]>) {
          if (fields[0] === 'type' && fields[1] === 'chunk') sent++;
        }
      }
    }
  } finally {
    redis.disconnect();
  }
  const delivered = ok.reduce((s, o) => s + o.chunks, 0);
  const notDone = ok.filter((o) => !o.done).length;
  const non200 = ok.filter((o) => o.status !== 200).length;
  addRow({
    id: 'streams',
    metric: `${n} concurrent SSE streams: chunks delivered`,
    unit: 'chunks',
    ours: delivered,
    peer: sent,
    peerLabel: 'chunks sent',
    target: T.streams,
    note:
      `peak ${peakOpen} streams open at once; ${ok.length - notDone} ended with done` +
      (failed + non200 + notDone > 0
        ? `; ${failed} failed, ${non200} not 200, ${notDone} without done`
        : ''),
  });
}

// ---- Main ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const startedAt = new Date().toISOString();
  log(`SecureVault benchmark${quick ? ' (quick)' : ''}: starting the platform`);
  const platform = await startPlatform({
    log,
    ...(profiled.length > 0
      ? { profile: { services: profiled, dir: join(REPO_ROOT, 'bench', 'results', 'profiles') } }
      : {}),
  });
  const readyMs = new Map<ServiceName, number[]>(
    [...platform.services].map(([name, s]) => [name, [s.readyMs]]),
  );
  const pids = () =>
    new Map(
      [...platform.services].map(
        ([name, s]) => [name, s.process.child.pid ?? 0] as [string, number],
      ),
    );
  // Two seconds after the setup traffic (a registration, a login, an API key): shown in the idle
  // rows' notes. The idle rows themselves read a second copy of the platform (its own database,
  // queue prefix and ports), given the same setup traffic and then left alone while the loads run
  // on this one, after at least IDLE_QUIET_MS of quiet.
  await new Promise((r) => setTimeout(r, 2_000));
  const idleSoon = new Map([...pids()].map(([name, pid]) => [name, residentMb(pid)]));
  log('Starting an idle copy of the platform for the idle memory rows');
  let idleCopy: Platform | undefined;
  let idleCopyError = '';
  try {
    idleCopy = await startPlatform({ log: () => {} });
  } catch (err) {
    idleCopyError = `the idle copy did not start: ${reason(err)}`;
    log(`  ${idleCopyError}`);
  }
  const idleSince = performance.now();
  const sampler = new MemorySampler(pids);
  sampler.loaded = true;
  let expressPeer: ServiceProcess | undefined;
  const ctx: HttpContext = { platform, peerUrl: '', healthSat: 0 };
  try {
    await section(
      'http',
      'HTTP: /api/health and an authenticated request vs the express peer',
      [
        ['health-rps', 'GET /api/health, every middleware', 'req/s', T.health],
        ['auth-rps', 'authenticated GET /api/ai/budget (API key)', 'req/s', T.auth],
      ],
      async () => {
        const peer = await startExpressPeer(platform.prefix);
        expressPeer = peer.proc;
        ctx.peerUrl = peer.url;
        await httpRows(ctx);
      },
    );
    await expressPeer?.stop(10_000);
    await section(
      'tracing',
      'Tracing tax: a second gateway exporting spans over OTLP/HTTP',
      [['tracing-rps', 'tracing tax: authenticated GET, every trace exported', 'req/s', T.tracing]],
      async () => {
        await tracingRow(platform, 1);
        // The operator's remedy, measured in the full run only (the quick one must stay < 3 min).
        if (!quick) await tracingRow(platform, 0.1);
      },
    );
    await section(
      'jobs',
      'Jobs: service-kit producer/worker vs raw BullMQ',
      [['jobs', 'jobs/s, no-op handler', 'jobs/s', T.jobs]],
      () => jobsRow(),
    );
    await section(
      'emails',
      'Emails: API → queue → worker → SMTP vs pooled nodemailer',
      [['emails', 'emails/s, API → queue → worker → SMTP sink', 'emails/s', T.emails]],
      () => emailsRow(platform),
    );
    await section(
      'audit',
      'Audit: the audit service consumer vs raw COPY',
      [['audit', 'audit events/s, queue → masked, chained, batched insert', 'events/s', T.audit]],
      () => auditRow(platform),
    );
    await section(
      'logins',
      'Logins vs raw argon2id; /api/health during a login storm',
      [
        ['logins', 'logins/s (gateway → auth, argon2id)', 'logins/s', T.logins],
        ['health-storm', '/api/health p99 during a login storm', 'ms', T.storm],
      ],
      async () => {
        // Run alone (--only=logins), the health rate needs its own saturation measurement.
        if (ctx.healthSat <= 0) {
          const health = { url: `${platform.base}/api/health` };
          ctx.healthSat = (
            await saturate(health, { seconds: P.sat, connections: CONNECTIONS })
          ).rps;
        }
        await loginRows(platform, ctx.healthSat);
      },
    );
    await section(
      'ttfe',
      'Time to first SSE chunk: gateway vs the stand-in directly',
      [['ttfe', 'time to first SSE chunk p99', 'ms', T.ttfe]],
      () => ttfeRow(platform),
    );
    await section(
      'streams',
      `${P.streams} concurrent SSE streams through one gateway`,
      [['streams', `${P.streams} concurrent SSE streams: chunks delivered`, 'chunks', T.streams]],
      () => streamsRow(platform),
    );
  } finally {
    sampler.sample();
    sampler.loaded = false;
    sampler.stop();
    await expressPeer?.stop(10_000);
  }
  const idle = new Map<string, number | undefined>();
  if (idleCopy) {
    const quietLeft = IDLE_QUIET_MS - (performance.now() - idleSince);
    if (quietLeft > 0) {
      log(`Idle copy: ${(quietLeft / 1000).toFixed(0)} s more of quiet before reading it`);
      await new Promise((r) => setTimeout(r, quietLeft));
    }
    for (const [name, s] of idleCopy.services) idle.set(name, residentMb(s.process.child.pid ?? 0));
    const idleCodes = await idleCopy.stop();
    if (idleCodes.some((c) => c !== 0)) log(`idle copy exit codes: ${idleCodes.join(', ')}`);
  }
  // Both platforms run the compiled services (dist/, as the images do).
  const quietMin = (IDLE_QUIET_MS / 60_000).toFixed(0);
  for (const [name] of pids()) {
    const soon = idleSoon.get(name);
    addRow({
      id: `rss-idle-${name}`,
      metric: `${name} resident memory, idle (compiled, ${quietMin} min quiet)`,
      unit: 'MB',
      ours: idle.get(name) ?? null,
      peer: null,
      target: { oursMax: 100 },
      note:
        (idleCopyError ? `${idleCopyError}; ` : '') +
        `2 s after the setup traffic: ${soon === undefined ? '—' : soon.toFixed(0)} MB`,
    });
    addRow({
      id: `rss-load-${name}`,
      metric: `${name} resident memory, peak under load (compiled)`,
      unit: 'MB',
      ours: sampler.peak.get(name) ?? null,
      peer: null,
      target: { oursMax: 200 },
    });
  }

  log(`Start-up: process start to /readyz, ${only ? 0 : P.restarts} restarts per service`);
  const restarts = only ? 0 : P.restarts;
  for (let i = 0; i < restarts; i++) {
    for (const service of ['auth', 'audit', 'email-worker', 'ai-worker', 'gateway'] as const) {
      try {
        readyMs.get(service)?.push(await platform.restart(service));
      } catch (err) {
        log(`  ${service} restart failed: ${reason(err)}`);
      }
    }
  }
  for (const [service, samples] of readyMs) {
    addRow({
      id: `ready-${service}`,
      metric: `${service} process start to /readyz (compiled)`,
      unit: 'ms',
      ours: median(samples),
      peer: null,
      target: { oursMax: 1000 },
      samples: { ours: samples, peer: [] },
    });
  }

  const codes = await platform.stop();
  if (codes.some((c) => c !== 0)) log(`service exit codes at the end: ${codes.join(', ')}`);

  const meta: RunMeta = {
    startedAt,
    finishedAt: new Date().toISOString(),
    quick,
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    repetitions: REPS,
    settings: {
      ...P,
      connections: CONNECTIONS,
      loginConnections: LOGIN_CONNECTIONS,
      jobConcurrency: JOB_CONCURRENCY,
      producerInFlight: PRODUCER_IN_FLIGHT,
      ...BENCH_OVERRIDES,
    },
  };
  const evaluated = rows.map(evaluate);
  const table = formatTable(evaluated);
  process.stdout.write(`\n${table}\n`);
  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = startedAt.replaceAll(':', '').replace(/\.\d+Z$/, 'Z');
  for (const name of [`benchmark-${stamp}`, 'latest']) {
    writeFileSync(join(dir, `${name}.json`), toJson(evaluated, meta));
    writeFileSync(join(dir, `${name}.md`), toMarkdown(evaluated, meta));
    writeFileSync(join(dir, `${name}.svg`), toSvg(evaluated, meta));
  }
  log(`results: bench/results/latest.{json,md,svg} (and benchmark-${stamp}.*)`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`benchmark failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
