// The OpenAPI 3.1 document of the public API (GET /api/openapi.json), generated from the zod
// schemas the routes themselves validate with, so the document cannot drift from the code.
import { z } from 'zod';
import { SESSION_COOKIE } from '@securevault/contracts';
import { JobId } from './jobs.ts';
import { SendEmailBody } from './routes/emails.ts';
import { AddressParam, SuppressionBody } from './routes/delivery-admin.ts';
import { FailedEmailPage, FailedEmailsQuery } from './routes/failed-jobs.ts';
import { EndpointId, WebhookCreateBody } from './routes/webhooks.ts';
import { generateBody } from './routes/generations.ts';
import { AuditListQuery } from './routes/audit.ts';
import { AlertsQuery, VerifyQuery } from './routes/audit-verify.ts';
import { DownloadQuery, ExportLinkQuery } from './routes/audit-export.ts';
import { StatsQuery } from './routes/stats.ts';
import { DASHBOARD_PATH } from './routes/queue-dashboard.ts';
import { OPENAPI_PATH } from './app.ts';
import {
  AiBudget,
  ApiKeyCreateBody,
  ApiKeyCreated,
  ApiKeyList,
  AuditAlertPage,
  AuditEventPage,
  ChainVerification,
  DetailedHealth,
  EmailAccepted,
  EmailCancelled,
  EmailRequeued,
  EmailView,
  ErrorEnvelope,
  ExportLink,
  GenerationAccepted,
  GenerationCancel,
  GenerationView,
  HealthAnswer,
  LoginAnswer,
  LoginBody,
  MeAnswer,
  RegisterBody,
  RoleBody,
  StatsAnswer,
  StatusBody,
  Suppression,
  SuppressionList,
  UserAnswer,
  UserIdParam,
  UserList,
  UserListQuery,
  UserStatusAnswer,
  WebhookAttempts,
  WebhookEndpointWithSecret,
  WebhookList,
} from './schemas.ts';

type JsonSchema = Record<string, unknown>;
type Auth = 'none' | 'user' | 'operator' | 'link';
type Media = 'json' | 'text' | 'sse' | 'download' | 'html' | 'none';

interface Answer {
  description: string;
  schema?: z.ZodType;
  media?: Media;
  /** response headers worth documenting beyond X-Request-Id */
  headers?: string[];
}

interface Operation {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** express style (`/api/emails/:id`); converted to `{id}` in the document */
  path: string;
  summary: string;
  tag: string;
  auth: Auth;
  /** the scope an API key needs (admins have every scope) */
  scope?: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** a body the route accepts, shown in the document (and a seed for the hostile-input suite) */
  example?: unknown;
  /** accepts Idempotency-Key */
  idempotent?: boolean;
  /** reads Last-Event-ID (SSE resumption) */
  lastEventId?: boolean;
  responses: Record<number, Answer>;
  /** error statuses this operation can answer besides the ones every request can get */
  errors: number[];
}

const ERROR_TEXT: Record<number, string> = {
  400: 'invalid request: malformed JSON, a body or parameter failing validation (`details` says which)',
  401: 'no valid credential (session cookie or API key)',
  403: 'the credential lacks the scope or role, or a cross-site request was refused',
  404: 'no such resource (or it belongs to someone else)',
  405: 'the path exists but not with this method (see Allow)',
  409: 'conflict with the current state, or an Idempotency-Key reused with another body',
  413: 'request body too large',
  415: 'a request body that is not application/json',
  429: 'rate limited (see Retry-After)',
  502: 'an internal service gave an invalid answer',
  503: 'a dependency (Redis, auth, audit) is unavailable; retry after Retry-After',
};

/** Statuses any request can get before a route runs: body parsing and content type. */
const EVERY_REQUEST = [400, 413, 415];
/** What an authenticated route adds: credentials, scopes, rate limits, auth being down. */
const AUTHENTICATED = [401, 403, 429, 502, 503];

const media = (kind: Media): string[] => {
  switch (kind) {
    case 'json':
      return ['application/json'];
    case 'text':
      return ['text/plain'];
    case 'sse':
      return ['text/event-stream'];
    case 'download':
      return ['application/x-ndjson', 'text/csv'];
    case 'html':
      return ['text/html'];
    case 'none':
      return [];
  }
};

/** JSON Schema 2020-12 (OpenAPI 3.1's dialect) of a zod schema; `input` for what clients send. */
export function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    io,
    reused: 'inline',
    unrepresentable: 'any',
  }) as JsonSchema;
  return rest;
}

function operations(maxTokensLimit: number): Operation[] {
  const idParam = JobId;
  return [
    {
      method: 'get',
      path: '/api/health',
      summary: 'Liveness of the gateway: cheap, touches no dependency',
      tag: 'operations',
      auth: 'none',
      responses: { 200: { description: 'alive', schema: HealthAnswer } },
      errors: [],
    },
    {
      method: 'get',
      path: OPENAPI_PATH,
      summary: 'This document',
      tag: 'operations',
      auth: 'none',
      responses: { 200: { description: 'the OpenAPI 3.1 document' } },
      errors: [],
    },
    {
      method: 'get',
      path: '/api/health/detailed',
      summary: 'Dependencies, queue depths and process figures (admin or metrics token)',
      tag: 'operations',
      auth: 'operator',
      responses: {
        200: { description: 'every dependency answers', schema: DetailedHealth },
        503: { description: 'degraded: at least one check failed', schema: DetailedHealth },
      },
      errors: [401, 403, 502],
    },
    {
      method: 'get',
      path: '/api/metrics',
      summary: "The gateway's Prometheus metrics (admin or metrics token)",
      tag: 'operations',
      auth: 'operator',
      responses: { 200: { description: 'Prometheus text exposition format', media: 'text' } },
      errors: [401, 403, 502, 503],
    },
    {
      method: 'post',
      path: '/api/send-email',
      summary: 'Queue an email (or schedule it with sendAt)',
      tag: 'email',
      auth: 'user',
      scope: 'email:send',
      body: SendEmailBody,
      example: { to: 'someone@example.com', subject: 'Welcome', text: 'Hello!' },
      idempotent: true,
      responses: {
        202: { description: 'queued or scheduled', schema: EmailAccepted, headers: ['Location'] },
      },
      errors: [409],
    },
    {
      method: 'get',
      path: '/api/emails/:id',
      summary: "An email's delivery status and history",
      tag: 'email',
      auth: 'user',
      scope: 'email:send',
      params: idParam,
      responses: { 200: { description: 'the email', schema: EmailView } },
      errors: [404],
    },
    {
      method: 'delete',
      path: '/api/emails/:id',
      summary: 'Cancel an email that has not started sending',
      tag: 'email',
      auth: 'user',
      scope: 'email:send',
      params: idParam,
      responses: { 200: { description: 'cancelled', schema: EmailCancelled } },
      errors: [404, 409],
    },
    {
      method: 'post',
      path: '/api/admin/emails/:id/retry',
      summary: 'Replay a failed email (admin)',
      tag: 'email',
      auth: 'user',
      scope: 'admin',
      params: idParam,
      responses: {
        202: { description: 'queued again', schema: EmailRequeued, headers: ['Location'] },
      },
      errors: [404, 409],
    },
    {
      method: 'get',
      path: '/api/admin/emails/failed',
      summary: 'Emails that failed for good, newest first, addresses masked (admin)',
      tag: 'email',
      auth: 'user',
      scope: 'admin',
      query: FailedEmailsQuery,
      responses: { 200: { description: 'a page of failed emails', schema: FailedEmailPage } },
      errors: [],
    },
    {
      method: 'get',
      path: '/api/admin/suppressions',
      summary: 'The suppression list (admin)',
      tag: 'email',
      auth: 'user',
      scope: 'admin',
      responses: { 200: { description: 'suppressed addresses', schema: SuppressionList } },
      errors: [],
    },
    {
      method: 'post',
      path: '/api/admin/suppressions',
      summary: 'Suppress an address (admin)',
      tag: 'email',
      auth: 'user',
      scope: 'admin',
      body: SuppressionBody,
      example: { address: 'bounced@example.com', reason: 'hard bounce' },
      responses: { 201: { description: 'suppressed', schema: Suppression } },
      errors: [],
    },
    {
      method: 'delete',
      path: '/api/admin/suppressions/:address',
      summary: 'Lift a suppression (admin)',
      tag: 'email',
      auth: 'user',
      scope: 'admin',
      params: AddressParam,
      responses: { 204: { description: 'removed', media: 'none' } },
      errors: [404],
    },
    {
      method: 'get',
      path: '/api/webhooks',
      summary: "The caller's webhook endpoints",
      tag: 'webhooks',
      auth: 'user',
      scope: 'email:send',
      responses: { 200: { description: 'endpoints (never their secrets)', schema: WebhookList } },
      errors: [],
    },
    {
      method: 'post',
      path: '/api/webhooks',
      summary: 'Register a webhook endpoint; the signing secret is shown once',
      tag: 'webhooks',
      auth: 'user',
      scope: 'email:send',
      body: WebhookCreateBody,
      example: { url: 'https://example.com/hooks/securevault', events: ['email.sent'] },
      idempotent: true,
      responses: {
        201: {
          description: 'registered',
          schema: WebhookEndpointWithSecret,
          headers: ['Location'],
        },
      },
      errors: [409],
    },
    {
      method: 'delete',
      path: '/api/webhooks/:id',
      summary: 'Delete a webhook endpoint',
      tag: 'webhooks',
      auth: 'user',
      scope: 'email:send',
      params: EndpointId,
      responses: { 204: { description: 'deleted', media: 'none' } },
      errors: [404],
    },
    {
      method: 'get',
      path: '/api/webhooks/:id/attempts',
      summary: 'The latest delivery attempts of an endpoint',
      tag: 'webhooks',
      auth: 'user',
      scope: 'email:send',
      params: EndpointId,
      responses: { 200: { description: 'attempts, newest first', schema: WebhookAttempts } },
      errors: [404],
    },
    {
      method: 'post',
      path: '/api/webhooks/:id/rotate-secret',
      summary: "Replace an endpoint's signing secret",
      tag: 'webhooks',
      auth: 'user',
      scope: 'email:send',
      params: EndpointId,
      responses: { 200: { description: 'the new secret', schema: WebhookEndpointWithSecret } },
      errors: [404],
    },
    {
      method: 'post',
      path: '/api/generate-content',
      summary: 'Queue an AI generation; with Accept: text/event-stream, stream it as it is written',
      tag: 'ai',
      auth: 'user',
      scope: 'ai:generate',
      body: generateBody(maxTokensLimit),
      example: { prompt: 'Write a haiku about queues', maxTokens: 64 },
      idempotent: true,
      lastEventId: true,
      responses: {
        200: {
          description:
            'Accept: text/event-stream: `queued`, then `chunk`, `reset`, `done` or `error` events',
          media: 'sse',
          headers: ['Location'],
        },
        202: { description: 'queued', schema: GenerationAccepted, headers: ['Location'] },
      },
      errors: [409],
    },
    {
      method: 'get',
      path: '/api/generations/:id',
      summary: "A generation's status, result and token usage",
      tag: 'ai',
      auth: 'user',
      scope: 'ai:generate',
      params: idParam,
      responses: { 200: { description: 'the generation', schema: GenerationView } },
      errors: [404],
    },
    {
      method: 'delete',
      path: '/api/generations/:id',
      summary: 'Cancel a generation',
      tag: 'ai',
      auth: 'user',
      scope: 'ai:generate',
      params: idParam,
      responses: { 202: { description: 'cancelled or being cancelled', schema: GenerationCancel } },
      errors: [404, 409],
    },
    {
      method: 'get',
      path: '/api/generations/:id/stream',
      summary: 'The generation as Server-Sent Events, resuming after Last-Event-ID',
      tag: 'ai',
      auth: 'user',
      scope: 'ai:generate',
      params: idParam,
      lastEventId: true,
      responses: { 200: { description: 'the event stream', media: 'sse' } },
      errors: [404],
    },
    {
      method: 'get',
      path: '/api/ai/budget',
      summary: "The caller's daily token budget",
      tag: 'ai',
      auth: 'user',
      scope: 'ai:generate',
      responses: { 200: { description: 'limit, used and remaining tokens', schema: AiBudget } },
      errors: [],
    },
    {
      method: 'get',
      path: '/api/audit/events',
      summary: 'Audit events (members see their own), filtered, cursor-paginated',
      tag: 'audit',
      auth: 'user',
      scope: 'audit:read',
      query: AuditListQuery,
      responses: { 200: { description: 'a page of events', schema: AuditEventPage } },
      errors: [],
    },
    {
      method: 'get',
      path: '/api/audit/verify',
      summary: 'Walk the hash chain (admin)',
      tag: 'audit',
      auth: 'user',
      scope: 'audit:read',
      query: VerifyQuery,
      responses: { 200: { description: 'the verification', schema: ChainVerification } },
      errors: [],
    },
    {
      method: 'get',
      path: '/api/audit/alerts',
      summary: 'Security alerts (members see their own)',
      tag: 'audit',
      auth: 'user',
      scope: 'audit:read',
      query: AlertsQuery,
      responses: { 200: { description: 'a page of alerts', schema: AuditAlertPage } },
      errors: [],
    },
    {
      method: 'get',
      path: '/api/audit/export',
      summary: 'A signed, expiring download link for an export (NDJSON or CSV)',
      tag: 'audit',
      auth: 'user',
      scope: 'audit:read',
      query: ExportLinkQuery,
      responses: {
        200: { description: 'the link', schema: ExportLink },
        303: {
          description: 'redirect=true: to the download',
          media: 'none',
          headers: ['Location'],
        },
      },
      errors: [],
    },
    {
      method: 'get',
      path: '/api/audit/export/download',
      summary: 'The export file; the signed token is the authorisation',
      tag: 'audit',
      auth: 'link',
      query: DownloadQuery,
      responses: { 200: { description: 'the file, as an attachment', media: 'download' } },
      errors: [403, 502, 503],
    },
    {
      method: 'get',
      path: '/api/stats',
      summary: 'Counts of emails and generations, cached 1–5 minutes',
      tag: 'stats',
      auth: 'user',
      scope: 'stats:read',
      query: StatsQuery,
      responses: { 200: { description: 'the counts', schema: StatsAnswer } },
      errors: [],
    },
    {
      method: 'get',
      path: DASHBOARD_PATH,
      summary: 'The queue dashboard (admin; an HTML application)',
      tag: 'operations',
      auth: 'user',
      scope: 'admin',
      responses: { 200: { description: 'the dashboard page', media: 'html' } },
      errors: [404],
    },
    // ---- auth, relayed to the auth service ----
    {
      method: 'post',
      path: '/api/auth/register',
      summary: 'Create an account',
      tag: 'auth',
      auth: 'none',
      body: RegisterBody,
      example: { email: 'new.user@example.com', password: 'a long passphrase 42' },
      responses: { 201: { description: 'registered', schema: UserAnswer } },
      errors: [409, 429, 502, 503],
    },
    {
      method: 'post',
      path: '/api/auth/login',
      summary: 'Sign in: sets the session cookie',
      tag: 'auth',
      auth: 'none',
      body: LoginBody,
      example: { email: 'new.user@example.com', password: 'a long passphrase 42' },
      responses: {
        200: { description: 'signed in', schema: LoginAnswer, headers: ['Set-Cookie'] },
      },
      errors: [401, 403, 429, 502, 503],
    },
    {
      method: 'post',
      path: '/api/auth/logout',
      summary: 'End the session of the cookie',
      tag: 'auth',
      auth: 'user',
      responses: { 204: { description: 'signed out', media: 'none', headers: ['Set-Cookie'] } },
      errors: [401, 403, 429, 502, 503],
    },
    {
      method: 'get',
      path: '/api/auth/me',
      summary: 'Who is calling',
      tag: 'auth',
      auth: 'user',
      responses: { 200: { description: 'the user and the credential', schema: MeAnswer } },
      errors: [401, 429, 502, 503],
    },
    {
      method: 'get',
      path: '/api/auth/api-keys',
      summary: "The caller's API keys (never the keys themselves)",
      tag: 'auth',
      auth: 'user',
      responses: { 200: { description: 'keys', schema: ApiKeyList } },
      errors: [401, 403, 429, 502, 503],
    },
    {
      method: 'post',
      path: '/api/auth/api-keys',
      summary: 'Create an API key; the key is shown once',
      tag: 'auth',
      auth: 'user',
      body: ApiKeyCreateBody,
      example: { name: 'ci', scopes: ['email:send'] },
      responses: { 201: { description: 'created', schema: ApiKeyCreated } },
      errors: [401, 403, 429, 502, 503],
    },
    {
      method: 'delete',
      path: '/api/auth/api-keys/:id',
      summary: 'Revoke an API key',
      tag: 'auth',
      auth: 'user',
      params: UserIdParam,
      responses: { 204: { description: 'revoked', media: 'none' } },
      errors: [401, 403, 404, 429, 502, 503],
    },
    {
      method: 'get',
      path: '/api/auth/users',
      summary: 'The user directory (admin): newest first, by email prefix, cursor-paginated',
      tag: 'auth',
      auth: 'user',
      scope: 'admin',
      query: UserListQuery,
      responses: { 200: { description: 'a page of users', schema: UserList } },
      errors: [401, 403, 429, 502, 503],
    },
    {
      method: 'patch',
      path: '/api/auth/users/:id/role',
      summary: "Change a user's role (admin); ends their sessions",
      tag: 'auth',
      auth: 'user',
      scope: 'admin',
      params: UserIdParam,
      body: RoleBody,
      example: { role: 'member' },
      responses: { 200: { description: 'the user', schema: UserAnswer } },
      errors: [401, 403, 404, 409, 429, 502, 503],
    },
    {
      method: 'patch',
      path: '/api/auth/users/:id/status',
      summary: 'Disable or enable an account (admin)',
      tag: 'auth',
      auth: 'user',
      scope: 'admin',
      params: UserIdParam,
      body: StatusBody,
      example: { disabled: false },
      responses: { 200: { description: 'the user', schema: UserStatusAnswer } },
      errors: [401, 403, 404, 409, 429, 502, 503],
    },
  ];
}

const HEADER_DOCS: Record<string, JsonSchema> = {
  Location: { description: 'where the created resource is', schema: { type: 'string' } },
  'Set-Cookie': { description: `the ${SESSION_COOKIE} session cookie`, schema: { type: 'string' } },
  'Retry-After': { description: 'seconds to wait', schema: { type: 'string' } },
};

function responseOf(answer: Answer): JsonSchema {
  const headers: Record<string, JsonSchema> = {
    'X-Request-Id': { $ref: '#/components/headers/RequestId' },
  };
  for (const name of answer.headers ?? []) headers[name] = HEADER_DOCS[name] ?? {};
  const kind = answer.media ?? 'json';
  const out: JsonSchema = { description: answer.description, headers };
  if (kind === 'none') return out;
  const schema =
    kind === 'json'
      ? answer.schema
        ? jsonSchema(answer.schema, 'output')
        : { type: 'object' }
      : { type: 'string' };
  out.content = Object.fromEntries(media(kind).map((type) => [type, { schema }]));
  return out;
}

/** `/api/emails/:id` → `/api/emails/{id}` */
export function openApiPath(path: string): string {
  return path.replace(/:(\w+)/g, '{$1}');
}

function parameters(op: Operation): JsonSchema[] {
  const out: JsonSchema[] = [];
  for (const [where, shape] of [
    ['path', op.params],
    ['query', op.query],
  ] as const) {
    if (!shape) continue;
    const schema = jsonSchema(shape, 'input');
    const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
    const required = new Set((schema.required ?? []) as string[]);
    for (const [name, property] of Object.entries(properties)) {
      out.push({
        name,
        in: where,
        required: where === 'path' || required.has(name),
        schema: property,
      });
    }
  }
  if (op.idempotent) out.push({ $ref: '#/components/parameters/IdempotencyKey' });
  if (op.lastEventId) out.push({ $ref: '#/components/parameters/LastEventId' });
  out.push({ $ref: '#/components/parameters/RequestId' });
  return out;
}

function security(op: Operation): JsonSchema[] | undefined {
  switch (op.auth) {
    case 'none':
    case 'link':
      return [];
    case 'user':
      return [{ apiKey: [] }, { sessionCookie: [] }];
    case 'operator':
      return [{ metricsToken: [] }, { apiKey: [] }, { sessionCookie: [] }];
  }
}

export interface OpenApiOptions {
  /** AI_MAX_TOKENS_LIMIT: the bound on maxTokens depends on the deployment */
  maxTokensLimit: number;
  version?: string;
}

/** The whole document; built once per process (main builds it at start-up). */
export function buildOpenApiDocument(options: OpenApiOptions): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const op of operations(options.maxTokensLimit)) {
    const responses: Record<string, JsonSchema> = {};
    for (const [status, answer] of Object.entries(op.responses)) {
      responses[status] = responseOf(answer);
    }
    const errors = new Set([
      ...EVERY_REQUEST,
      ...(op.auth === 'user' ? AUTHENTICATED : []),
      ...op.errors,
    ]);
    for (const status of [...errors].sort()) {
      if (responses[String(status)]) continue;
      responses[String(status)] = { $ref: `#/components/responses/Error${status}` };
    }
    const operation: JsonSchema = {
      operationId: `${op.method}${openApiPath(op.path)
        .replace(/[{}]/g, '')
        .split(/[/-]/)
        .filter(Boolean)
        .map((w) => w[0]!.toUpperCase() + w.slice(1))
        .join('')}`,
      summary: op.summary,
      tags: [op.tag],
      parameters: parameters(op),
      responses,
      security: security(op),
      ...(op.scope
        ? { description: `API keys need the \`${op.scope}\` scope; admins have every scope.` }
        : {}),
    };
    if (op.body) {
      operation.requestBody = {
        required: true,
        content: {
          'application/json': {
            schema: jsonSchema(op.body, 'input'),
            ...(op.example !== undefined ? { example: op.example } : {}),
          },
        },
      };
    }
    const path = openApiPath(op.path);
    paths[path] = { ...paths[path], [op.method]: operation };
  }

  const errorResponses: Record<string, JsonSchema> = {};
  for (const [status, description] of Object.entries(ERROR_TEXT)) {
    errorResponses[`Error${status}`] = {
      description,
      headers: {
        'X-Request-Id': { $ref: '#/components/headers/RequestId' },
        ...(status === '429' || status === '503'
          ? { 'Retry-After': HEADER_DOCS['Retry-After'] }
          : {}),
      },
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    };
  }

  return {
    openapi: '3.1.1',
    info: {
      title: 'SecureVault API',
      version: options.version ?? '1.0.0',
      description:
        'Transactional email and AI generation with a tamper-evident audit trail. Every error is ' +
        '`{ "error": { "code", "message", "requestId" } }`; a known path asked with another ' +
        'method answers 405 with Allow, an unknown one 404. Before any route, the HTTP layer ' +
        'answers 400 MALFORMED_REQUEST (not HTTP/1.1), 408 REQUEST_TIMEOUT (headers or body too ' +
        'slow) and 431 HEADERS_TOO_LARGE, in the same format, and closes the connection.',
    },
    servers: [{ url: '/' }],
    tags: ['auth', 'email', 'webhooks', 'ai', 'audit', 'stats', 'operations'].map((name) => ({
      name,
    })),
    paths,
    components: {
      schemas: { Error: jsonSchema(ErrorEnvelope, 'output') },
      responses: errorResponses,
      headers: {
        RequestId: {
          description: 'the request id (the one sent, when valid, or a new one)',
          schema: { type: 'string' },
        },
      },
      parameters: {
        IdempotencyKey: {
          name: 'Idempotency-Key',
          in: 'header',
          required: false,
          description: 'a repeat with the same key returns the first answer and creates nothing',
          schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' },
        },
        LastEventId: {
          name: 'Last-Event-ID',
          in: 'header',
          required: false,
          description: 'resume the event stream after this entry id',
          schema: { type: 'string', pattern: '^\\d{1,20}-\\d{1,20}$' },
        },
        RequestId: {
          name: 'X-Request-Id',
          in: 'header',
          required: false,
          description: 'a request id to use in logs and answers (1–128 of A-Z a-z 0-9 . _ : -)',
          schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
        },
      },
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description: 'Authorization: Bearer <API key>',
        },
        sessionCookie: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE },
        metricsToken: {
          type: 'http',
          scheme: 'bearer',
          description: "the operators' METRICS_TOKEN (health/detailed and metrics only)",
        },
      },
    },
  };
}
