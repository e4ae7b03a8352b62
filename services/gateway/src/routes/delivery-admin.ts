// Admin delivery endpoints: replay a failed email, and manage the suppression list.
import type { Express } from 'express';
import { z } from 'zod';
import { deliveryKeys } from '@securevault/contracts';
import { AppError, route, validate } from '@securevault/service-kit';
import { principalOf, requireScope } from '../authn.ts';
import { JobId, fromRedis, getOwnedJob } from '../jobs.ts';
import { actorOf, type RouteContext } from './context.ts';

export const SuppressionBody = z.strictObject({
  address: z.email().max(320),
  reason: z.string().min(1).max(500).optional(),
});
export const AddressParam = z.strictObject({ address: z.email().max(320) });

export function deliveryAdminRoutes(app: Express, ctx: RouteContext): void {
  const prefix = ctx.config.QUEUE_PREFIX;
  const suppressed = deliveryKeys.suppressed(prefix);

  app.post(
    '/api/admin/emails/:id/retry',
    ctx.authenticate,
    requireScope('admin'),
    route(async (req, res) => {
      const { id } = validate(JobId, req.params, 'email id');
      const job = await getOwnedJob(ctx.redis, ctx.email.queue, id, principalOf(req), 'email');
      const state = await fromRedis(ctx.redis, () => job.getState());
      if (state !== 'failed') throw new AppError('CONFLICT', `the email is not failed (${state})`);
      const to = (job.data as { to?: string }).to ?? '';
      if (
        (await fromRedis(ctx.redis, () => ctx.redis.hexists(suppressed, to.toLowerCase()))) === 1
      ) {
        throw new AppError('CONFLICT', 'the recipient is suppressed; remove the suppression first');
      }
      // A replay starts a fresh round of attempts; the send record still prevents a second send.
      await fromRedis(ctx.redis, () =>
        job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true }),
      );
      await ctx.audit.emit({
        actor: actorOf(req),
        action: 'email.retried',
        target: { type: 'email', id },
        outcome: 'success',
        ownerId: (job.data as { ownerId?: string }).ownerId ?? null,
        requestId: req.id,
      });
      res.status(202).location(`/api/emails/${id}`).json({ id, status: 'queued' });
    }),
  );

  app.get(
    '/api/admin/suppressions',
    ctx.authenticate,
    requireScope('admin'),
    route(async (_req, res) => {
      const all = await fromRedis(ctx.redis, () => ctx.redis.hgetall(suppressed));
      const items = Object.entries(all)
        .map(([address, raw]) => ({ address, ...(JSON.parse(raw) as Record<string, unknown>) }))
        .sort((a, b) => a.address.localeCompare(b.address));
      res.set('Cache-Control', 'no-store').json({ items });
    }),
  );

  app.post(
    '/api/admin/suppressions',
    ctx.authenticate,
    requireScope('admin'),
    route(async (req, res) => {
      const body = validate(SuppressionBody, req.body, 'suppression');
      const address = body.address.toLowerCase();
      const entry = {
        reason: body.reason ?? 'added by an administrator',
        source: 'admin',
        at: new Date().toISOString(),
      };
      await fromRedis(ctx.redis, () => ctx.redis.hset(suppressed, address, JSON.stringify(entry)));
      // The address is PII: the audit event does not carry it.
      await ctx.audit.emit({
        actor: actorOf(req),
        action: 'email.suppression_added',
        outcome: 'success',
        ownerId: null,
        requestId: req.id,
      });
      res.status(201).json({ address, ...entry });
    }),
  );

  app.delete(
    '/api/admin/suppressions/:address',
    ctx.authenticate,
    requireScope('admin'),
    route(async (req, res) => {
      const { address } = validate(AddressParam, req.params, 'address');
      const removed = await fromRedis(ctx.redis, () =>
        ctx.redis.hdel(suppressed, address.toLowerCase()),
      );
      if (removed === 0) throw new AppError('NOT_FOUND', 'the address is not suppressed');
      await ctx.audit.emit({
        actor: actorOf(req),
        action: 'email.suppression_removed',
        outcome: 'success',
        ownerId: null,
        requestId: req.id,
      });
      res.status(204).end();
    }),
  );
}
