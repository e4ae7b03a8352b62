// Zod schemas of every job payload: producers build with them, consumers parse with them.
import { z } from 'zod';

/** W3C trace context carried inside a job so one trace spans producer → queue → worker. */
export const TraceCarrier = z
  .object({
    traceparent: z.string().max(128).optional(),
    tracestate: z.string().max(512).optional(),
  })
  .strict();
export type TraceCarrier = z.infer<typeof TraceCarrier>;

const JobBase = z.object({
  id: z.uuid(),
  ownerId: z.uuid(),
  requestId: z.string().max(128).optional(),
  trace: TraceCarrier.optional(),
});

/** Named templates the email-worker renders; variables are HTML-escaped in the HTML part. */
export const EMAIL_TEMPLATES = ['welcome', 'notification', 'password-reset'] as const;
export const EmailTemplateName = z.enum(EMAIL_TEMPLATES);

export const EmailAttachment = z.strictObject({
  // A bare file name: no path separators, quotes or line breaks that could break the MIME header.
  filename: z
    .string()
    .min(1)
    .max(255)
    .regex(/^[^/\\\r\n"]+$/, 'must be a plain file name'),
  contentType: z
    .string()
    .max(255)
    .regex(/^[\w.+-]+\/[\w.+-]+$/, 'must be a MIME type'),
  /** base64; the gateway caps the decoded total (EMAIL_ATTACHMENTS_MAX_BYTES) */
  contentBase64: z.base64().max(14_000_000),
});
export type EmailAttachment = z.infer<typeof EmailAttachment>;

export const EmailJob = JobBase.extend({
  to: z.email().max(320),
  subject: z.string().min(1).max(998),
  text: z.string().max(1_000_000).optional(),
  html: z.string().max(1_000_000).optional(),
  template: EmailTemplateName.optional(),
  variables: z.record(z.string().max(64), z.string().max(10_000)).optional(),
  attachments: z.array(EmailAttachment).max(10).optional(),
  /** when the sender asked for it to go out (the job is delayed until then) */
  sendAt: z.iso.datetime().optional(),
  queuedAt: z.iso.datetime(),
}).refine((j) => j.text !== undefined || j.html !== undefined || j.template !== undefined, {
  message: 'an email needs text, html or a template',
});
export type EmailJob = z.infer<typeof EmailJob>;

/**
 * The delivery store: Redis keys (on the AOF-persisted queue Redis) that survive restarts. The
 * email-worker writes send records and status history; the gateway reads them for
 * GET /api/emails/:id. Suppression entries are written by the worker (5xx at RCPT) and by admins
 * through the gateway. Webhook endpoints are written by the gateway and read by the worker.
 */
export const deliveryKeys = {
  sendRecord: (prefix: string, emailId: string) => `${prefix}:delivery:email:${emailId}`,
  history: (prefix: string, emailId: string) => `${prefix}:delivery:email:${emailId}:history`,
  suppressed: (prefix: string) => `${prefix}:delivery:suppressed`,
  webhookEndpoints: (prefix: string, ownerId: string) => `${prefix}:delivery:webhooks:${ownerId}`,
  webhookAttempts: (prefix: string, endpointId: string) =>
    `${prefix}:delivery:webhook:${endpointId}:attempts`,
  webhookDelivered: (prefix: string, eventId: string) =>
    `${prefix}:delivery:webhook-event:${eventId}:delivered`,
  operatorNotices: (prefix: string) => `${prefix}:delivery:operator-notices`,
} as const;

/** One entry of an email's status history (newest last). */
export const EmailHistoryEntry = z.object({
  status: z.enum(['queued', 'sending', 'sent', 'failed', 'suppressed', 'retrying']),
  at: z.iso.datetime(),
  attempt: z.int().optional(),
  reason: z.string().optional(),
});
export type EmailHistoryEntry = z.infer<typeof EmailHistoryEntry>;

/** A registered webhook endpoint as stored (secret included: the store is not an API answer). */
export const WebhookEndpointRecord = z.object({
  id: z.uuid(),
  ownerId: z.uuid(),
  url: z.url({ protocol: /^https?$/ }),
  events: z.array(z.enum(['email.sent', 'email.failed', 'ai.completed', 'security.alert'])),
  secret: z.string().min(32),
  createdAt: z.iso.datetime(),
});
export type WebhookEndpointRecord = z.infer<typeof WebhookEndpointRecord>;

/** What a finished email job returns; the gateway reads it for GET /api/emails/:id. */
export const EmailResult = z.object({
  messageId: z.string(),
  accepted: z.array(z.string()),
  sentAt: z.iso.datetime(),
});
export type EmailResult = z.infer<typeof EmailResult>;

export const AiJob = JobBase.extend({
  prompt: z.string().min(1).max(32_000),
  model: z.string().min(1).max(128),
  maxTokens: z.int().min(1).max(32_768),
  /** tokens the gateway reserved from the owner's daily budget (day in UTC); the worker settles */
  budget: z.object({ day: z.iso.date(), reserved: z.int().nonnegative() }).optional(),
  queuedAt: z.iso.datetime(),
});
export type AiJob = z.infer<typeof AiJob>;

/** Redis keys around a generation, shared by the gateway (reserve, cancel) and the ai-worker (settle, obey). */
export const aiKeys = {
  /** tokens used or reserved by one owner on one UTC day */
  budget: (prefix: string, ownerId: string, day: string) => `${prefix}:ai:budget:${ownerId}:${day}`,
  /** set once a generation's reservation is settled, so it is settled exactly once */
  settled: (prefix: string, generationId: string) => `${prefix}:ai:settled:${generationId}`,
  /** present when the owner cancelled the generation; the worker polls it while streaming */
  cancel: (prefix: string, generationId: string) => `${prefix}:gen:${generationId}:cancel`,
} as const;

/**
 * Settles a reservation once: KEYS[1] budget, KEYS[2] settled flag; ARGV[1] reserved, ARGV[2]
 * used. The difference goes back to the budget (or is charged when the estimate was short).
 */
export const SETTLE_BUDGET_LUA = `
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', 172800) then
  local delta = tonumber(ARGV[2]) - tonumber(ARGV[1])
  if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCRBY', KEYS[1], delta) end
  return 1
end
return 0
`;

export const TokenUsage = z.object({
  promptTokens: z.int().nonnegative(),
  completionTokens: z.int().nonnegative(),
  totalTokens: z.int().nonnegative(),
});
export type TokenUsage = z.infer<typeof TokenUsage>;

export const AiResult = z.object({
  text: z.string(),
  model: z.string(),
  finishReason: z.string().nullable(),
  usage: TokenUsage,
  completedAt: z.iso.datetime(),
});
export type AiResult = z.infer<typeof AiResult>;

export const WebhookEventType = z.enum([
  'email.sent',
  'email.failed',
  'ai.completed',
  'security.alert',
]);
export type WebhookEventType = z.infer<typeof WebhookEventType>;

/** Events the operators' WEBHOOK_URL also receives, whoever owns them. */
export const OPERATOR_WEBHOOK_EVENTS: readonly WebhookEventType[] = [
  'email.failed',
  'security.alert',
];

/**
 * An event to notify about, put on the `webhook` queue by any service. The email-worker fans it
 * out: to every endpoint the owner subscribed to this event (signed deliveries), and, for
 * `security.alert` and system events, to the operators' WEBHOOK_URL. Secrets are never carried:
 * the worker looks up signing secrets itself.
 */
export const WebhookEventJob = z.object({
  id: z.uuid(),
  event: WebhookEventType,
  /** the user whose subscriptions receive it; null for events that only operators receive */
  ownerId: z.uuid().nullable(),
  payload: z.record(z.string(), z.unknown()),
  occurredAt: z.iso.datetime(),
  trace: TraceCarrier.optional(),
});
export type WebhookEventJob = z.infer<typeof WebhookEventJob>;
