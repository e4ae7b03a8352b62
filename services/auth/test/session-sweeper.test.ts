// Session expiry sweep against real Postgres (fresh database, real migrations) and the real BullMQ
// audit queue on Redis; nothing is faked.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { IDLE_SECONDS, registerAndLogin, startHarness, type Harness } from './helpers.ts';
import { sweepExpiredSessions } from '../src/session-sweeper.ts';
import { createAuditEmitter, waitForRedis } from '@securevault/service-kit';
import { createLogger } from '@securevault/observability';
import { Redis } from 'ioredis';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h.close();
});

describe('sweepExpiredSessions', () => {
  it('ends idle and absolutely expired sessions once, and records auth.session.expired for each', async () => {
    const idle = await registerAndLogin(h, 'idle-sweep@example.com');
    const old = await registerAndLogin(h, 'old-sweep@example.com');
    const live = await registerAndLogin(h, 'live-sweep@example.com');
    const now = new Date();
    await sql`update auth.sessions set last_seen_at = ${new Date(now.getTime() - (IDLE_SECONDS + 5) * 1000)}
      where user_id = ${idle.userId}`.execute(h.db);
    await sql`update auth.sessions set expires_at = ${new Date(now.getTime() - 1000)}
      where user_id = ${old.userId}`.execute(h.db);

    const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
      maxRetriesPerRequest: 1,
    });
    // Producers fail fast while disconnected: wait for the connection first.
    await waitForRedis(redis);
    const audit = createAuditEmitter({
      source: 'auth',
      connection: redis,
      prefix: h.prefix,
      logger: createLogger({ service: 'auth', level: 'silent' }),
      metrics: h.metrics,
    });
    try {
      // Two sweeps at once, as two auth replicas would: each session ends exactly once.
      const counts = await Promise.all([
        sweepExpiredSessions({ db: h.db, audit, now, idleSeconds: IDLE_SECONDS }),
        sweepExpiredSessions({ db: h.db, audit, now, idleSeconds: IDLE_SECONDS }),
      ]);
      assert.equal(counts[0] + counts[1], 2);
      assert.equal(
        await sweepExpiredSessions({ db: h.db, audit, now, idleSeconds: IDLE_SECONDS }),
        0,
      );

      const ended = await sql<{ user_id: string; revoked: boolean }>`
        select user_id, revoked_at is not null as revoked from auth.sessions`.execute(h.db);
      const byUser = new Map(ended.rows.map((r) => [r.user_id, r.revoked]));
      assert.equal(byUser.get(idle.userId), true);
      assert.equal(byUser.get(old.userId), true);
      assert.equal(byUser.get(live.userId), false, 'a live session is untouched');

      const events = (await h.auditEvents()).filter((e) => e.action === 'auth.session.expired');
      assert.deepEqual(
        events.map((e) => [e.ownerId, e.metadata.reason]).sort(),
        [
          [idle.userId, 'idle'],
          [old.userId, 'absolute'],
        ].sort(),
      );
      assert.ok(events.every((e) => e.target?.type === 'session' && e.actor.type === 'service'));
    } finally {
      await audit.close();
      redis.disconnect();
    }
  });
});
