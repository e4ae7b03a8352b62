// Suspicious-activity rules replaying an attack through the real audit queue (Redis/BullMQ) into a
// real Postgres; alerts land as chained events, in the alerts API and as real jobs on the webhook queue.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { AuditAlert, AuditEvent, QUEUES, WebhookEventJob } from '@securevault/contracts';
import type { Metrics } from '@securevault/observability';
import {
  closeRedis,
  createProducer,
  createRedis,
  createWorker,
  listen,
  waitForRedis,
  type HttpServer,
  type Producer,
} from '@securevault/service-kit';
import { cleanupRedisPrefix, uniquePrefix } from '@securevault/testing';
import { createApp } from '../src/app.ts';
import { verifyChain } from '../src/chain.ts';
import type { DetectionConfig } from '../src/detect.ts';
import { republishAlerts } from '../src/maintenance.ts';
import { createProcessor } from '../src/processor.ts';
import {
  REDIS_URL,
  logger,
  migratedDatabase,
  sampleEvent,
  testMetrics,
  waitFor,
  type MigratedDatabase,
} from './helpers.ts';

const RULES: DetectionConfig = {
  windowSeconds: 600,
  failedLogins: 5,
  stuffingAccounts: 4,
  newLoginLocation: true,
  apiKeyIps: 3,
  exports: 3,
  rateLimitBlocks: 3,
};

void describe('detection rules', () => {
  let mdb: MigratedDatabase;
  let metrics: Metrics;
  let prefix: string;
  let workerRedis: Redis;
  let producerRedis: Redis;
  let producer: Producer<AuditEvent>;
  let webhooks: Producer<WebhookEventJob>;
  let worker: Worker;
  let server: HttpServer;
  const victim = randomUUID();
  const traveller = randomUUID();
  const keyOwner = randomUUID();
  const apiKeyId = randomUUID();
  const exporter = randomUUID();

  const alerts = () =>
    mdb.database.db.selectFrom('audit.alerts').selectAll().orderBy('time').execute();
  const send = async (events: AuditEvent[]) => {
    for (const e of events) await producer.add(e);
    await waitFor(
      async () => {
        const n = await mdb.database.db
          .selectFrom('audit.events')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where(
            'id',
            'in',
            events.map((e) => e.id),
          )
          .executeTakeFirstOrThrow();
        return Number(n.n) === events.length ? true : undefined;
      },
      15_000,
      'events stored',
    );
  };
  const failedLogin = (ip: string, ownerId: string | null) =>
    sampleEvent({
      action: 'auth.login.failed',
      outcome: 'failure',
      actor: { type: 'anonymous', id: null, ip, userAgent: 'curl/8' },
      ownerId,
    });

  before(async () => {
    mdb = await migratedDatabase();
    metrics = testMetrics();
    prefix = uniquePrefix('audit-detect');
    workerRedis = createRedis({ url: REDIS_URL, name: 'worker', logger, metrics, role: 'worker' });
    producerRedis = createRedis({
      url: REDIS_URL,
      name: 'producer',
      logger,
      metrics,
      role: 'producer',
    });
    await Promise.all([waitForRedis(workerRedis), waitForRedis(producerRedis)]);
    producer = createProducer({
      queue: QUEUES.audit,
      schema: AuditEvent,
      connection: producerRedis,
      prefix,
    });
    webhooks = createProducer({
      queue: QUEUES.webhook,
      schema: WebhookEventJob,
      connection: producerRedis,
      prefix,
    });
    worker = createWorker({
      queue: QUEUES.audit,
      schema: AuditEvent,
      processor: createProcessor({
        pool: mdb.database.pool,
        logger,
        metrics,
        detection: RULES,
        alerts: webhooks,
      }),
      connection: workerRedis,
      prefix,
      concurrency: 8,
      logger,
      metrics,
    });
    server = await listen(createApp({ db: mdb.database.db, logger, metrics }), 0, '127.0.0.1');
  });
  after(async () => {
    await server.close();
    await worker.close();
    await webhooks.close();
    await producer.close();
    await closeRedis(workerRedis);
    await closeRedis(producerRedis);
    await cleanupRedisPrefix(REDIS_URL, prefix);
    await mdb.close();
  });

  void it('replays an attack and raises each rule once, as chained events, webhook jobs and metrics', async () => {
    // Brute force on one account from one IP: 6 failures (threshold 5, fires once).
    await send(Array.from({ length: 6 }, () => failedLogin('198.51.100.1', victim)));
    // Credential stuffing: one failure each on 4 accounts from another IP.
    await send(Array.from({ length: 4 }, () => failedLogin('198.51.100.2', randomUUID())));
    // A login from somewhere new: first the usual place, then a new IP and browser.
    const usual = {
      type: 'user' as const,
      id: traveller,
      ip: '192.0.2.10',
      userAgent: 'Firefox/140',
    };
    await send([sampleEvent({ actor: usual, ownerId: traveller })]);
    await send([sampleEvent({ actor: usual, ownerId: traveller })]);
    await send([
      sampleEvent({
        actor: { ...usual, ip: '203.0.113.99', userAgent: 'python-requests/2' },
        ownerId: traveller,
      }),
    ]);
    // One API key from three IPs.
    await send(
      ['10.0.0.1', '10.0.0.2', '10.0.0.3'].map((ip) =>
        sampleEvent({
          action: 'email.queued',
          actor: { type: 'user', id: keyOwner, apiKeyId, ip },
          ownerId: keyOwner,
        }),
      ),
    );
    // A burst of exports.
    await send(
      Array.from({ length: 3 }, () =>
        sampleEvent({
          source: 'gateway',
          action: 'audit.exported',
          actor: { type: 'user', id: exporter, ip: '192.0.2.50' },
          ownerId: exporter,
        }),
      ),
    );
    // Repeated rate-limit blocks (what the gateway emits for a refused request).
    await send(
      Array.from({ length: 3 }, () =>
        sampleEvent({
          source: 'gateway',
          action: 'security.rate_limited',
          outcome: 'denied',
          actor: { type: 'anonymous', id: null, ip: '198.51.100.7' },
          ownerId: null,
        }),
      ),
    );

    const raised = await alerts();
    const byRule = Object.fromEntries(raised.map((a) => [a.rule, a]));
    assert.deepEqual(raised.map((a) => a.rule).sort(), [
      'apikey_many_ips',
      'credential_stuffing',
      'export_burst',
      'failed_logins',
      'new_login_location',
      'rate_limit_blocks',
    ]);
    assert.equal(byRule.failed_logins?.subject, '198.51.100.1');
    assert.equal(byRule.failed_logins?.owner_id, victim);
    // Counted when the batch holding the fifth failure was stored: it may hold the sixth too.
    assert.ok(Number(byRule.failed_logins?.details.count) >= 5);
    assert.equal(byRule.failed_logins?.details.threshold, 5);
    assert.equal(byRule.credential_stuffing?.subject, '198.51.100.2');
    assert.equal(byRule.credential_stuffing?.owner_id, null);
    assert.equal(byRule.new_login_location?.owner_id, traveller);
    assert.deepEqual(
      [byRule.new_login_location?.details.newIp, byRule.new_login_location?.details.newUserAgent],
      [true, true],
    );
    assert.equal(byRule.apikey_many_ips?.subject, apiKeyId);
    assert.equal(byRule.export_burst?.subject, exporter);
    assert.equal(byRule.rate_limit_blocks?.subject, '198.51.100.7');

    // Each alert is a security.alert event in the chain, which still verifies.
    const events = await mdb.database.db
      .selectFrom('audit.events')
      .selectAll()
      .where('action', '=', 'security.alert')
      .execute();
    assert.deepEqual(events.map((e) => e.id).sort(), raised.map((a) => a.id).sort());
    for (const a of raised) {
      const e = events.find((x) => x.id === a.id);
      assert.equal(e?.seq, a.event_seq);
      assert.equal(e?.source, 'audit');
      assert.equal(e?.owner_id, a.owner_id);
      assert.equal(e?.metadata.rule, a.rule);
    }
    assert.equal((await verifyChain(mdb.database.db)).valid, true);

    // Each alert is a webhook job in the contract's shape, keyed by the alert id.
    for (const a of raised) {
      const job = await webhooks.queue.getJob(a.id);
      assert.ok(job, `webhook job for ${a.rule}`);
      const data = WebhookEventJob.parse(job.data);
      assert.equal(data.event, 'security.alert');
      assert.equal(data.ownerId, a.owner_id);
      assert.equal(data.payload.rule, a.rule);
      assert.equal(data.payload.alertId, a.id);
      assert.equal(data.occurredAt, a.time.toISOString());
    }
    const counted = await metrics.get('security_alerts_total').get();
    assert.deepEqual(
      Object.fromEntries(counted.values.map((v) => [v.labels.rule, v.value])),
      Object.fromEntries(raised.map((a) => [a.rule, 1])),
    );

    // More of the same within the window raises nothing new (cool-down).
    await send(Array.from({ length: 3 }, () => failedLogin('198.51.100.1', victim)));
    assert.equal((await alerts()).length, raised.length);

    // Re-publishing does not duplicate jobs that BullMQ still knows.
    assert.equal(
      await republishAlerts(mdb.database.db, { logger, metrics, alerts: webhooks }, 3_600_000),
      raised.length,
    );
    assert.equal(await webhooks.queue.count(), raised.length);

    // GET /internal/alerts: everyone's, one owner's, paged.
    const base = `http://127.0.0.1:${server.port}`;
    const all = (await (await fetch(`${base}/internal/alerts`)).json()) as { items: AuditAlert[] };
    assert.equal(all.items.length, raised.length);
    for (const item of all.items) AuditAlert.parse(item);
    const mine = (await (await fetch(`${base}/internal/alerts?ownerId=${traveller}`)).json()) as {
      items: AuditAlert[];
    };
    assert.deepEqual(
      mine.items.map((i) => i.rule),
      ['new_login_location'],
    );
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 10; i++) {
      const res = await fetch(
        `${base}/internal/alerts?limit=4${cursor ? `&cursor=${cursor}` : ''}`,
      );
      const page = (await res.json()) as { items: AuditAlert[]; nextCursor: string | null };
      seen.push(...page.items.map((x) => x.id));
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    assert.deepEqual([...seen].sort(), raised.map((a) => a.id).sort());
    assert.equal(new Set(seen).size, seen.length);
    const bad = await fetch(`${base}/internal/alerts?cursor=nonsense`);
    assert.equal(bad.status, 400);
  });
});
