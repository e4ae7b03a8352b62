// The audit event: one schema for every service that emits one and for the audit service that stores it.
import { z } from 'zod';
import { TraceCarrier } from './jobs.ts';

/** Dotted lower-case names: `auth.login.failed`, `email.sent`, `apikey.created`. */
export const AuditAction = z
  .string()
  .min(3)
  .max(100)
  .regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/, 'dotted lower-case action name');

export const AUDIT_ACTIONS = [
  'auth.register',
  'auth.login.succeeded',
  'auth.login.failed',
  'auth.logout',
  'auth.session.expired',
  'auth.role.changed',
  'apikey.created',
  'apikey.revoked',
  'email.queued',
  'email.sent',
  'email.failed',
  'email.suppressed',
  'ai.requested',
  'ai.completed',
  'ai.failed',
  'audit.listed',
  'audit.exported',
  'security.rate_limited',
  'security.alert',
] as const;
export type KnownAuditAction = (typeof AUDIT_ACTIONS)[number];

export const AuditActor = z.object({
  type: z.enum(['user', 'service', 'anonymous']),
  /** user id for users, service name for services, null for anonymous callers. */
  id: z.string().max(128).nullable(),
  apiKeyId: z.uuid().optional(),
  ip: z.string().max(64).optional(),
  userAgent: z.string().max(512).optional(),
});
export type AuditActor = z.infer<typeof AuditActor>;

export const AuditEvent = z.object({
  id: z.uuid(),
  time: z.iso.datetime(),
  /** the service that emitted the event */
  source: z.enum(['gateway', 'auth', 'email-worker', 'ai-worker', 'audit']),
  actor: AuditActor,
  action: AuditAction,
  target: z.object({ type: z.string().min(1).max(64), id: z.string().max(128) }).optional(),
  outcome: z.enum(['success', 'failure', 'denied']),
  /** the user the event belongs to: members see the events they own. */
  ownerId: z.uuid().nullable(),
  requestId: z.string().max(128).optional(),
  traceId: z.string().max(64).optional(),
  metadata: z.record(z.string(), z.unknown()).default({}),
  trace: TraceCarrier.optional(),
});
export type AuditEvent = z.infer<typeof AuditEvent>;
export type AuditEventInput = z.input<typeof AuditEvent>;

/** What the audit service answers for GET /internal/events and the gateway relays. */
export const StoredAuditEvent = AuditEvent.omit({ trace: true }).extend({ seq: z.string() });
export type StoredAuditEvent = z.infer<typeof StoredAuditEvent>;

/** A suspicious-activity alert the audit service raised (GET /api/audit/alerts). */
export const AuditAlert = z.object({
  id: z.uuid(),
  time: z.iso.datetime(),
  rule: z.string(),
  subject: z.string(),
  ownerId: z.uuid().nullable(),
  /** seq of the chained `security.alert` event that records it */
  eventSeq: z.string(),
  details: z.record(z.string(), z.unknown()),
});
export type AuditAlert = z.infer<typeof AuditAlert>;

/** GET /api/audit/verify: the result of walking the hash chain. */
export const ChainVerification = z.object({
  valid: z.boolean(),
  checked: z.number().int(),
  firstBrokenSeq: z.string().nullable(),
  reason: z.enum(['prev_hash_mismatch', 'hash_mismatch']).nullable(),
  head: z.object({ seq: z.string(), hash: z.string() }).nullable(),
  anchor: z.object({
    seq: z.string(),
    hash: z.string(),
    kind: z.enum(['genesis', 'checkpoint', 'previous_row']),
  }),
});
export type ChainVerification = z.infer<typeof ChainVerification>;

/** Emails and generations counted per day from the audit trail (GET /api/stats). */
export const StatsCounts = z.object({
  emailsSent: z.number().int(),
  emailsFailed: z.number().int(),
  generations: z.number().int(),
  promptTokens: z.number().int(),
  completionTokens: z.number().int(),
});
export type StatsCounts = z.infer<typeof StatsCounts>;
export const StatsReport = z.object({
  /** when the materialized view behind these numbers was last refreshed */
  refreshedAt: z.iso.datetime(),
  from: z.iso.date(),
  totals: StatsCounts,
  days: z.array(StatsCounts.extend({ day: z.iso.date() })),
  /** per user, for admins (null owner = events without an owner) */
  users: z.array(StatsCounts.extend({ ownerId: z.uuid().nullable() })).optional(),
});
export type StatsReport = z.infer<typeof StatsReport>;

/** The most events one audit job carries (the audit service stores them in one transaction). */
export const AUDIT_JOB_MAX_EVENTS = 100;

/**
 * Events an emitter queued together (group commit): while one job is being added, the events
 * emitted meanwhile wait and travel in the next job, so a busy service queues one job per round
 * trip instead of one per event. The job's trace is its first event's.
 */
export const AuditEventBatch = z.object({
  id: z.uuid(),
  events: z.array(AuditEvent).min(1).max(AUDIT_JOB_MAX_EVENTS),
  trace: TraceCarrier.optional(),
});
export type AuditEventBatch = z.infer<typeof AuditEventBatch>;

/** What the audit queue carries: one event (a batch of one, and older producers) or a batch. */
export const AuditJob = z.union([AuditEventBatch, AuditEvent]);
export type AuditJob = z.infer<typeof AuditJob>;
export type AuditJobInput = z.input<typeof AuditJob>;

/** The events of an audit job's payload, in the order they were emitted. */
export function auditEventsOf(job: AuditJob): AuditEvent[] {
  return 'events' in job ? job.events : [job];
}
