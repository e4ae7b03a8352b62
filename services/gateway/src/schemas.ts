// Response shapes of the public API, and the request shapes of the auth routes the gateway relays:
// the OpenAPI document (openapi.ts) is generated from these, and the hostile-input suite checks
// every answer against it, so a route that starts answering differently fails a test.
import { z } from 'zod';
import {
  AiResult,
  AuditAlert,
  ChainVerification,
  EmailHistoryEntry,
  Role,
  Scope,
  StatsReport,
  StoredAuditEvent,
  TokenUsage,
  WebhookEventType,
} from '@securevault/contracts';

/** `{ error: { code, message, requestId } }`: every 4xx and 5xx of every route. */
export const ErrorEnvelope = z.object({
  error: z.object({
    code: z.string().regex(/^[A-Z_]+$/),
    message: z.string(),
    requestId: z.string(),
    details: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    /** INSUFFICIENT_SCOPE: the scope the endpoint needs */
    required: Scope.optional(),
  }),
});

const isoTime = z.iso.datetime({ offset: true });

export const HealthAnswer = z.object({ status: z.literal('ok') });

const Check = z.object({ ok: z.boolean(), durationMs: z.number(), error: z.string().optional() });
const QueueCounts = z.record(z.string(), z.number().int()).nullable();
export const DetailedHealth = z.object({
  status: z.enum(['ok', 'degraded']),
  checks: z.object({ redis: Check, auth: Check, audit: Check }),
  queues: z.object({ email: QueueCounts, ai: QueueCounts, audit: QueueCounts }),
  process: z.object({
    cpu: z.object({ percent: z.number() }),
    memory: z.object({ rss: z.number(), heapUsed: z.number() }),
    uptime: z.number(),
    eventLoopDelay: z.object({ p99Ms: z.number() }),
  }),
});

export const EmailAccepted = z.object({
  id: z.uuid(),
  status: z.enum(['queued', 'scheduled']),
  sendAt: isoTime.optional(),
});

export const EmailView = z.object({
  id: z.uuid(),
  status: z.enum(['queued', 'scheduled', 'sending', 'sent', 'failed', 'suppressed']),
  to: z.string(),
  subject: z.string(),
  attempts: z.int().nonnegative(),
  createdAt: isoTime,
  updatedAt: isoTime,
  sendAt: isoTime.optional(),
  history: z.array(EmailHistoryEntry.partial({ at: true }).loose()),
  sentAt: isoTime.optional(),
  messageId: z.string().optional(),
  error: z.string().optional(),
});

export const EmailCancelled = z.object({ id: z.uuid(), status: z.literal('cancelled') });
export const EmailRequeued = z.object({ id: z.uuid(), status: z.literal('queued') });

export const Suppression = z.object({
  address: z.string(),
  reason: z.string(),
  source: z.string(),
  at: isoTime,
});
export const SuppressionList = z.object({ items: z.array(Suppression.loose()) });

export const WebhookEndpoint = z.object({
  id: z.uuid(),
  url: z.string(),
  events: z.array(WebhookEventType),
  createdAt: isoTime,
});
/** Only the creation and rotation answers carry the signing secret. */
export const WebhookEndpointWithSecret = WebhookEndpoint.extend({
  secret: z.string().regex(/^whsec_/),
});
export const WebhookList = z.object({ items: z.array(WebhookEndpoint) });
export const WebhookAttempts = z.object({ items: z.array(z.record(z.string(), z.unknown())) });

export const GenerationAccepted = z.object({ id: z.uuid(), status: z.literal('queued') });
export const GenerationView = z.object({
  id: z.uuid(),
  status: z.enum(['queued', 'running', 'completed', 'failed', 'cancelled']),
  model: z.string().optional(),
  attempts: z.int().nonnegative(),
  createdAt: isoTime.optional(),
  text: z.string().optional(),
  usage: TokenUsage.extend({ estimated: z.boolean().optional() }).optional(),
  finishReason: AiResult.shape.finishReason.optional(),
  completedAt: isoTime.optional(),
  error: z.string().optional(),
});
export const GenerationCancel = z.object({
  id: z.uuid(),
  status: z.enum(['cancelled', 'cancelling']),
});
export const AiBudget = z.object({
  limit: z.int().nullable(),
  used: z.int().nonnegative(),
  remaining: z.int().nullable(),
});

export const AuditEventPage = z.object({
  items: z.array(StoredAuditEvent),
  nextCursor: z.string().nullable(),
});
export const AuditAlertPage = z.object({
  items: z.array(AuditAlert),
  nextCursor: z.string().nullable(),
});
export { ChainVerification };
export const ExportLink = z.object({
  url: z.string().regex(/^\/api\/audit\/export\/download\?token=/),
  expiresAt: isoTime,
  format: z.enum(['ndjson', 'csv']),
});

export const StatsAnswer = StatsReport.extend({
  scope: z.enum(['global', 'user']),
  cache: z.object({
    hit: z.boolean(),
    cachedAt: isoTime,
    ageSeconds: z.int().nonnegative(),
    ttlSeconds: z.int().positive(),
  }),
});

// ---- The auth service's public routes (relayed unchanged by the gateway) -------------------
// The auth service is a package of its own (its image does not ship the gateway and the other
// way round), so these describe its wire format here; the hostile-input suite runs the real auth
// service behind the gateway and fails when its answers drift from them.

const Email = z.string().max(254).pipe(z.email());
export const RegisterBody = z.strictObject({ email: Email, password: z.string().min(8).max(128) });
export const LoginBody = z.strictObject({ email: Email, password: z.string().min(1).max(128) });
export const RoleBody = z.strictObject({ role: Role });
export const StatusBody = z.strictObject({ disabled: z.boolean() });
export const ApiKeyCreateBody = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[^\p{Cc}]*$/u),
  scopes: z.array(Scope).min(1),
  expiresAt: isoTime.optional(),
});
export const UserIdParam = z.strictObject({ id: z.uuid() });
export const UserListQuery = z.strictObject({
  /** an email prefix, matched literally */
  email: z
    .string()
    .max(254)
    .regex(/^[^\p{Cc}]*$/u)
    .optional(),
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(100).optional(),
});

export const PublicUser = z.object({
  id: z.uuid(),
  email: z.string(),
  role: Role,
  createdAt: isoTime,
});
export const UserAnswer = z.object({ user: PublicUser });
export const UserStatusAnswer = z.object({
  user: PublicUser.extend({ disabled: z.boolean() }),
});
export const UserList = z.object({
  items: z.array(PublicUser.extend({ disabled: z.boolean() })),
  nextCursor: z.string().nullable(),
});
export const LoginAnswer = z.object({ user: PublicUser, expiresAt: isoTime });
export const MeAnswer = z.object({
  user: PublicUser,
  principal: z.object({
    type: z.enum(['session', 'apikey']),
    scopes: z.array(Scope),
    apiKeyId: z.uuid().optional(),
  }),
});
export const ApiKeyView = z.object({
  id: z.uuid(),
  name: z.string(),
  keyPrefix: z.string(),
  scopes: z.array(Scope),
  createdAt: isoTime,
  lastUsedAt: isoTime.nullable(),
  expiresAt: isoTime.nullable(),
  revokedAt: isoTime.nullable(),
  revoked: z.boolean(),
});
export const ApiKeyCreated = z.object({
  id: z.uuid(),
  key: z.string(),
  name: z.string(),
  scopes: z.array(Scope),
  keyPrefix: z.string(),
  createdAt: isoTime,
  expiresAt: isoTime.nullable(),
});
export const ApiKeyList = z.object({ items: z.array(ApiKeyView) });
