// Webhook endpoints of API consumers: register (secret shown once), list, rotate the secret, delete, see attempts.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Express } from 'express';
import { z } from 'zod';
import { WebhookEndpointRecord, WebhookEventType, deliveryKeys } from '@securevault/contracts';
import { AppError, createEgressPolicy, route, validate } from '@securevault/service-kit';
import { principalOf, requireScope } from '../authn.ts';
import { idempotency } from '../idempotency.ts';
import { fromRedis } from '../jobs.ts';
import { actorOf, type RouteContext } from './context.ts';

const MAX_ENDPOINTS = 20;

export const WebhookCreateBody = z.strictObject({
  url: z.url({ protocol: /^https?$/ }).max(2048),
  events: z.array(WebhookEventType).min(1).max(4),
});
export const EndpointId = z.strictObject({ id: z.uuid() });

function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

/** What an API answer may show of an endpoint: never the secret. */
function publicView(e: WebhookEndpointRecord) {
  return { id: e.id, url: e.url, events: e.events, createdAt: e.createdAt };
}

export function webhookRoutes(app: Express, ctx: RouteContext): void {
  const prefix = ctx.config.QUEUE_PREFIX;
  const endpointsKey = (ownerId: string) => deliveryKeys.webhookEndpoints(prefix, ownerId);

  async function load(ownerId: string, id: string): Promise<WebhookEndpointRecord> {
    const raw = await fromRedis(ctx.redis, () => ctx.redis.hget(endpointsKey(ownerId), id));
    const parsed = raw === null ? undefined : WebhookEndpointRecord.safeParse(JSON.parse(raw));
    if (!parsed?.success) throw new AppError('NOT_FOUND', 'no such webhook endpoint');
    return parsed.data;
  }

  const egress = createEgressPolicy(ctx.config.WEBHOOK_ALLOWED_CIDRS);

  app.post(
    '/api/webhooks',
    ctx.authenticate,
    requireScope('email:send'),
    idempotency(ctx.redis, prefix),
    route(async (req, res) => {
      const body = validate(WebhookCreateBody, req.body, 'webhook endpoint');
      // The email-worker checks the resolved address again at every delivery; this catches
      // the obvious cases while the consumer is still there to read the answer.
      const refused = egress.refuseUrl(body.url);
      if (refused !== undefined) {
        throw new AppError('VALIDATION_FAILED', `the webhook url is not allowed: ${refused}`);
      }
      const principal = principalOf(req);
      const count = await fromRedis(ctx.redis, () =>
        ctx.redis.hlen(endpointsKey(principal.userId)),
      );
      if (count >= MAX_ENDPOINTS) {
        throw new AppError('CONFLICT', `at most ${MAX_ENDPOINTS} webhook endpoints per user`);
      }
      const record: WebhookEndpointRecord = {
        id: randomUUID(),
        ownerId: principal.userId,
        url: body.url,
        events: [...new Set(body.events)],
        secret: newSecret(),
        createdAt: new Date().toISOString(),
      };
      await fromRedis(ctx.redis, () =>
        ctx.redis.hset(endpointsKey(principal.userId), record.id, JSON.stringify(record)),
      );
      await ctx.audit.emit({
        actor: actorOf(req),
        action: 'webhook.created',
        target: { type: 'webhook', id: record.id },
        outcome: 'success',
        ownerId: principal.userId,
        requestId: req.id,
        metadata: { events: record.events },
      });
      // The secret is shown here once; afterwards only a rotation reveals a new one.
      res
        .status(201)
        .location(`/api/webhooks/${record.id}`)
        .set('Cache-Control', 'no-store')
        .json({ ...publicView(record), secret: record.secret });
    }),
  );

  app.get(
    '/api/webhooks',
    ctx.authenticate,
    requireScope('email:send'),
    route(async (req, res) => {
      const all = await fromRedis(ctx.redis, () =>
        ctx.redis.hgetall(endpointsKey(principalOf(req).userId)),
      );
      const items = Object.values(all)
        .map((raw) => WebhookEndpointRecord.safeParse(JSON.parse(raw)))
        .flatMap((r) => (r.success ? [publicView(r.data)] : []))
        .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
      res.json({ items });
    }),
  );

  app.get(
    '/api/webhooks/:id/attempts',
    ctx.authenticate,
    requireScope('email:send'),
    route(async (req, res) => {
      const { id } = validate(EndpointId, req.params, 'webhook id');
      await load(principalOf(req).userId, id);
      const raw = await fromRedis(ctx.redis, () =>
        ctx.redis.lrange(deliveryKeys.webhookAttempts(prefix, id), 0, 99),
      );
      res.json({ items: raw.map((line) => JSON.parse(line) as unknown) });
    }),
  );

  app.post(
    '/api/webhooks/:id/rotate-secret',
    ctx.authenticate,
    requireScope('email:send'),
    route(async (req, res) => {
      const { id } = validate(EndpointId, req.params, 'webhook id');
      const principal = principalOf(req);
      const record = { ...(await load(principal.userId, id)), secret: newSecret() };
      await fromRedis(ctx.redis, () =>
        ctx.redis.hset(endpointsKey(principal.userId), id, JSON.stringify(record)),
      );
      await ctx.audit.emit({
        actor: actorOf(req),
        action: 'webhook.secret_rotated',
        target: { type: 'webhook', id },
        outcome: 'success',
        ownerId: principal.userId,
        requestId: req.id,
      });
      res.set('Cache-Control', 'no-store').json({ ...publicView(record), secret: record.secret });
    }),
  );

  app.delete(
    '/api/webhooks/:id',
    ctx.authenticate,
    requireScope('email:send'),
    route(async (req, res) => {
      const { id } = validate(EndpointId, req.params, 'webhook id');
      const principal = principalOf(req);
      const removed = await fromRedis(ctx.redis, () =>
        ctx.redis.hdel(endpointsKey(principal.userId), id),
      );
      if (removed === 0) throw new AppError('NOT_FOUND', 'no such webhook endpoint');
      await ctx.audit.emit({
        actor: actorOf(req),
        action: 'webhook.deleted',
        target: { type: 'webhook', id },
        outcome: 'success',
        ownerId: principal.userId,
        requestId: req.id,
      });
      res.status(204).end();
    }),
  );
}
