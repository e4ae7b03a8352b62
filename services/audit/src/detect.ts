// Suspicious-activity rules evaluated on each stored batch, inside the chain transaction.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { AuditEvent } from '@securevault/contracts';
import type { ChainedRow } from './chain.ts';
import type { Db } from './db/database.ts';

export const RULES = [
  'failed_logins',
  'credential_stuffing',
  'new_login_location',
  'apikey_many_ips',
  'export_burst',
  'rate_limit_blocks',
] as const;
export type Rule = (typeof RULES)[number];

export interface DetectionConfig {
  /** the sliding window every counting rule looks back over; also the re-alert cool-down */
  windowSeconds: number;
  failedLogins: number;
  stuffingAccounts: number;
  newLoginLocation: boolean;
  apiKeyIps: number;
  exports: number;
  rateLimitBlocks: number;
}

export interface Alert {
  id: string;
  rule: Rule;
  /** what the alert is about: an IP, a user id (with the new IP), an API key id, an actor id */
  subject: string;
  ownerId: string | null;
  time: Date;
  details: Record<string, unknown>;
}

interface Candidate {
  rule: Rule;
  subject: string;
  ownerId: string | null;
  /** resolves the details when the rule fires, undefined when it does not */
  check: () => Promise<Record<string, unknown> | undefined>;
}

const count = async (db: Db, query: ReturnType<typeof sql<{ n: string }>>) =>
  Number((await query.execute(db)).rows[0]?.n ?? 0);

function candidates(db: Db, row: ChainedRow, since: Date, cfg: DetectionConfig): Candidate[] {
  const out: Candidate[] = [];
  const threshold = (n: number, value: number, extra: Record<string, unknown> = {}) =>
    value >= n
      ? { count: value, threshold: n, windowSeconds: cfg.windowSeconds, ...extra }
      : undefined;
  if (row.action === 'auth.login.failed' && row.ip !== null) {
    const ip = row.ip;
    out.push({
      rule: 'failed_logins',
      subject: ip,
      ownerId: row.owner_id,
      check: async () =>
        threshold(
          cfg.failedLogins,
          await count(
            db,
            sql<{ n: string }>`select count(*) as n from audit.events
              where action = 'auth.login.failed' and ip = ${ip} and received_at >= ${since}`,
          ),
          { ip },
        ),
    });
    out.push({
      rule: 'credential_stuffing',
      subject: ip,
      ownerId: null,
      // A failure for an unknown address has no owner: each counts as one more account tried.
      check: async () =>
        threshold(
          cfg.stuffingAccounts,
          await count(
            db,
            sql<{
              n: string;
            }>`select count(distinct coalesce(owner_id::text, 'unknown:' || seq)) as n
              from audit.events
              where action = 'auth.login.failed' and ip = ${ip} and received_at >= ${since}`,
          ),
          { ip },
        ),
    });
  }
  if (cfg.newLoginLocation && row.action === 'auth.login.succeeded' && row.owner_id !== null) {
    const owner = row.owner_id;
    out.push({
      rule: 'new_login_location',
      subject: `${owner}|${row.ip ?? ''}|${row.user_agent ?? ''}`,
      ownerId: owner,
      check: async () => {
        const { rows } = await sql<{ prior: boolean; ip_seen: boolean; ua_seen: boolean }>`
          select
            exists(select 1 from audit.events where owner_id = ${owner}
                   and action = 'auth.login.succeeded' and seq < ${row.seq}) as prior,
            exists(select 1 from audit.events where owner_id = ${owner}
                   and action = 'auth.login.succeeded' and seq < ${row.seq}
                   and ip is not distinct from ${row.ip}) as ip_seen,
            exists(select 1 from audit.events where owner_id = ${owner}
                   and action = 'auth.login.succeeded' and seq < ${row.seq}
                   and user_agent is not distinct from ${row.user_agent}) as ua_seen`.execute(db);
        const r = rows[0];
        // The first login ever has nothing to compare with.
        if (!r?.prior || (r.ip_seen && r.ua_seen)) return undefined;
        return {
          ip: row.ip,
          userAgent: row.user_agent,
          newIp: !r.ip_seen,
          newUserAgent: !r.ua_seen,
        };
      },
    });
  }
  if (row.api_key_id !== null && row.ip !== null) {
    const key = row.api_key_id;
    out.push({
      rule: 'apikey_many_ips',
      subject: key,
      ownerId: row.owner_id,
      check: async () =>
        threshold(
          cfg.apiKeyIps,
          await count(
            db,
            sql<{ n: string }>`select count(distinct ip) as n from audit.events
              where api_key_id = ${key} and received_at >= ${since}`,
          ),
          { apiKeyId: key },
        ),
    });
  }
  if (/^audit\.export/.test(row.action) && row.actor_id !== null) {
    const actor = row.actor_id;
    out.push({
      rule: 'export_burst',
      subject: actor,
      ownerId: row.owner_id,
      check: async () =>
        threshold(
          cfg.exports,
          await count(
            db,
            sql<{ n: string }>`select count(*) as n from audit.events
              where action like 'audit.export%' and actor_id = ${actor} and received_at >= ${since}`,
          ),
          { actorId: actor },
        ),
    });
  }
  if (row.action === 'security.rate_limited' && row.ip !== null) {
    const ip = row.ip;
    out.push({
      rule: 'rate_limit_blocks',
      subject: ip,
      ownerId: row.owner_id,
      check: async () =>
        threshold(
          cfg.rateLimitBlocks,
          await count(
            db,
            sql<{ n: string }>`select count(*) as n from audit.events
              where action = 'security.rate_limited' and ip = ${ip} and received_at >= ${since}`,
          ),
          { ip },
        ),
    });
  }
  return out;
}

/**
 * Evaluates every rule the new rows can trigger. Runs under the chain lock, so two replicas never
 * both raise the same alert; a rule does not fire again for the same subject within the window.
 */
export async function detect(trx: Db, rows: ChainedRow[], cfg: DetectionConfig): Promise<Alert[]> {
  const alerts: Alert[] = [];
  const done = new Set<string>();
  for (const row of rows) {
    if (row.action === 'security.alert') continue;
    const since = new Date(row.received_at.getTime() - cfg.windowSeconds * 1000);
    for (const c of candidates(trx, row, since, cfg)) {
      const key = `${c.rule}\u0000${c.subject}`;
      if (done.has(key)) continue;
      const details = await c.check();
      if (!details) continue;
      done.add(key);
      const recent = await trx
        .selectFrom('audit.alerts')
        .select('id')
        .where('rule', '=', c.rule)
        .where('subject', '=', c.subject)
        .where('time', '>=', since)
        .limit(1)
        .executeTakeFirst();
      if (recent) continue;
      alerts.push({
        id: randomUUID(),
        rule: c.rule,
        subject: c.subject,
        ownerId: c.ownerId,
        time: row.received_at,
        details: { ...details, triggerSeq: row.seq, triggerAction: row.action },
      });
    }
  }
  return alerts;
}

/** The `security.alert` audit event an alert is recorded as (chained like any other). */
export function alertEvent(alert: Alert): AuditEvent {
  return {
    id: alert.id,
    time: alert.time.toISOString(),
    source: 'audit',
    actor: { type: 'service', id: 'audit' },
    action: 'security.alert',
    target: { type: 'rule', id: alert.rule },
    outcome: 'success',
    ownerId: alert.ownerId,
    metadata: { rule: alert.rule, subject: alert.subject, ...alert.details },
  };
}
