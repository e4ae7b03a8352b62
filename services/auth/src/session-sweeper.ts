// Ends sessions that passed their absolute or idle expiry, once each, and records auth.session.expired.
import { sql } from 'kysely';
import type { AuditEmitter } from '@securevault/service-kit';
import type { Logger } from '@securevault/observability';
import type { Db } from './db/database.ts';

export interface SweepOptions {
  db: Db;
  audit: Pick<AuditEmitter, 'emit'>;
  now: Date;
  idleSeconds: number;
  /** rows ended per sweep, so a backlog after downtime is worked off in bounded steps */
  batch?: number;
}

/**
 * Marks expired sessions ended (revoked_at) in one statement, so concurrent auth replicas never
 * record the same expiry twice, then emits one audit event per session. Returns how many ended.
 */
export async function sweepExpiredSessions(options: SweepOptions): Promise<number> {
  const idleSince = new Date(options.now.getTime() - options.idleSeconds * 1000);
  const { rows } = await sql<{ id: string; user_id: string; reason: 'absolute' | 'idle' }>`
    update auth.sessions set revoked_at = ${options.now}
    where id in (
      select id from auth.sessions
      where revoked_at is null and (expires_at <= ${options.now} or last_seen_at <= ${idleSince})
      order by expires_at
      limit ${options.batch ?? 500}
      for update skip locked
    )
    returning id, user_id,
      case when expires_at <= ${options.now} then 'absolute' else 'idle' end as reason
  `.execute(options.db);
  for (const row of rows) {
    await options.audit.emit({
      actor: { type: 'service', id: 'auth' },
      action: 'auth.session.expired',
      outcome: 'success',
      ownerId: row.user_id,
      target: { type: 'session', id: row.id },
      metadata: { reason: row.reason },
    });
  }
  return rows.length;
}

/** Sweeps every `intervalMs`; stop() waits for a sweep in progress. */
export function startSessionSweeper(options: {
  db: Db;
  audit: Pick<AuditEmitter, 'emit'>;
  idleSeconds: number;
  intervalMs: number;
  logger: Logger;
  now?: () => Date;
}): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = sweepExpiredSessions({
      db: options.db,
      audit: options.audit,
      idleSeconds: options.idleSeconds,
      now: (options.now ?? (() => new Date()))(),
    })
      .then((n) => {
        if (n > 0) options.logger.info({ sessions: n }, 'expired sessions ended');
      })
      .catch((err: unknown) => options.logger.warn({ err }, 'session sweep failed'));
  }, options.intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
