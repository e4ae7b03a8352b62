// What every route module gets: the dependencies and the auth helpers built once in createApp.
import type { Request, RequestHandler } from 'express';
import type { Redis } from 'ioredis';
import type { z } from 'zod';
import type { AiJob, AuditActor, EmailJob } from '@securevault/contracts';
import type { Logger, Metrics } from '@securevault/observability';
import type { AuditEmitter, Producer } from '@securevault/service-kit';
import type { GatewayConfig } from '../config.ts';
import type { Downstream } from '../downstream.ts';
import type { StreamHub } from '../sse.ts';
import type { ProcessStats } from '../process-stats.ts';
import { principalOf } from '../authn.ts';

export interface GatewayDeps {
  config: Pick<
    GatewayConfig,
    | 'AUTH_URL'
    | 'AUDIT_URL'
    | 'AUTH_HEALTH_URL'
    | 'AUDIT_HEALTH_URL'
    | 'AUTH_TIMEOUT_MS'
    | 'BODY_LIMIT'
    | 'TRUST_PROXY'
    | 'AI_DEFAULT_MODEL'
    | 'AI_MODELS'
    | 'AI_MAX_TOKENS_LIMIT'
    | 'METRICS_TOKEN'
    | 'QUEUE_PREFIX'
    | 'EMAIL_ATTEMPTS'
    | 'EMAIL_ATTACHMENTS_MAX_BYTES'
    | 'AI_ATTEMPTS'
    | 'AI_DAILY_TOKEN_BUDGET'
    | 'AUDIT_EXPORT_SIGNING_KEY'
    | 'AUDIT_EXPORT_LINK_TTL_SECONDS'
    | 'STATS_CACHE_TTL_SECONDS'
    | 'WEBHOOK_ALLOWED_CIDRS'
  >;
  logger: Logger;
  metrics: Metrics;
  /** the shared, fail-fast producer connection (job reads, health) */
  redis: Redis;
  email: Producer<z.input<typeof EmailJob>>;
  ai: Producer<z.input<typeof AiJob>>;
  audit: AuditEmitter;
  streams: StreamHub;
  processStats: ProcessStats;
}

export interface RouteContext extends GatewayDeps {
  auth: Downstream;
  auditService: Downstream;
  authenticate: RequestHandler;
}

/** The audit actor for an authenticated request: the user, through which key, from where. */
export function actorOf(req: Request): AuditActor {
  const principal = principalOf(req);
  const ua = req.get('user-agent');
  return {
    type: 'user',
    id: principal.userId,
    ...(principal.apiKeyId ? { apiKeyId: principal.apiKeyId } : {}),
    ...(req.ip ? { ip: req.ip.slice(0, 64) } : {}),
    ...(ua ? { userAgent: ua.slice(0, 512) } : {}),
  };
}
