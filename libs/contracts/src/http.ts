// Shapes shared over HTTP: the error body, principals, and the internal service endpoints.
import { z } from 'zod';

export const ERROR_CODES = {
  VALIDATION_FAILED: 400,
  MALFORMED_JSON: 400,
  UNAUTHENTICATED: 401,
  INVALID_CREDENTIALS: 401,
  FORBIDDEN: 403,
  INSUFFICIENT_SCOPE: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  EMAIL_TAKEN: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  BAD_GATEWAY: 502,
  SERVICE_UNAVAILABLE: 503,
  GATEWAY_TIMEOUT: 504,
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;

export const ErrorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    requestId: z.string().optional(),
    details: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

export const SCOPES = ['email:send', 'ai:generate', 'audit:read', 'stats:read', 'admin'] as const;
export const Scope = z.enum(SCOPES);
export type Scope = z.infer<typeof Scope>;

export const Role = z.enum(['admin', 'member']);
export type Role = z.infer<typeof Role>;

/** Who is calling, as auth's introspection answers it. */
export const Principal = z.object({
  type: z.enum(['session', 'apikey']),
  userId: z.uuid(),
  role: Role,
  scopes: z.array(Scope),
  apiKeyId: z.uuid().optional(),
  sessionId: z.string().optional(),
  /** when the credential stops working at the latest (session absolute expiry, key expiry) */
  expiresAt: z.iso.datetime().optional(),
});
export type Principal = z.infer<typeof Principal>;

/**
 * Redis pub/sub channel on which auth announces revoked credentials, so every gateway replica
 * drops its cached introspection at once (docs/security.md).
 */
export const revocationChannel = (prefix: string) => `${prefix}:auth:revocations`;
export const RevocationEvent = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('session'), sessionId: z.string().min(1).max(64) }),
  z.object({ kind: z.literal('user'), userId: z.uuid() }),
  z.object({ kind: z.literal('apikey'), apiKeyId: z.uuid() }),
]);
export type RevocationEvent = z.infer<typeof RevocationEvent>;

/** POST {AUTH_URL}/internal/introspect */
export const IntrospectRequest = z
  .object({ sessionToken: z.string().max(512).optional(), apiKey: z.string().max(512).optional() })
  .refine((r) => (r.sessionToken === undefined) !== (r.apiKey === undefined), {
    message: 'exactly one of sessionToken or apiKey',
  });
export type IntrospectRequest = z.infer<typeof IntrospectRequest>;
export const IntrospectResponse = z.discriminatedUnion('active', [
  z.object({ active: z.literal(true), principal: Principal }),
  z.object({ active: z.literal(false) }),
]);
export type IntrospectResponse = z.infer<typeof IntrospectResponse>;

/** GET {AUDIT_URL}/internal/events query */
export const AuditFilter = z.object({
  ownerId: z.uuid().optional(),
  /** a prefix of the action name: `auth.` for every auth event */
  action: z.string().max(100).optional(),
  actorId: z.string().min(1).max(128).optional(),
  targetType: z.string().min(1).max(64).optional(),
  targetId: z.string().min(1).max(128).optional(),
  outcome: z.enum(['success', 'failure', 'denied']).optional(),
  /** event time range: from inclusive, to exclusive */
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
});
export type AuditFilter = z.infer<typeof AuditFilter>;
export const AuditQuery = AuditFilter.extend({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(64).optional(),
});
export type AuditQuery = z.infer<typeof AuditQuery>;

/** GET {AUDIT_URL}/internal/export query: the filters and a format. */
export const AuditExportQuery = AuditFilter.extend({
  format: z.enum(['ndjson', 'csv']).default('ndjson'),
});
export type AuditExportQuery = z.infer<typeof AuditExportQuery>;

/** Headers the gateway sets when it relays a request to an internal service. */
export const INTERNAL_HEADERS = {
  requestId: 'x-request-id',
  clientIp: 'x-securevault-client-ip',
  userAgent: 'x-securevault-user-agent',
  /** edge A/B assignment, `experiment=variant` pairs joined by commas */
  variants: 'x-securevault-variants',
  /** edge feature flags that are on, joined by commas */
  flags: 'x-securevault-flags',
} as const;

/** The browser session cookie: `__Host-` so it is Secure, host-only and Path=/. */
export const SESSION_COOKIE = '__Host-sv_session';
