// POST /api/send-email, GET and DELETE /api/emails/:id: queue (or schedule) an email, report its delivery, cancel it.
import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import { z } from 'zod';
import { EmailAttachment, EmailTemplateName } from '@securevault/contracts';
import { AppError, validate, route } from '@securevault/service-kit';
import { principalOf, requireScope } from '../authn.ts';
import { idempotency } from '../idempotency.ts';
import { JobId, emailView, fromRedis, getOwnedJob } from '../jobs.ts';
import { actorOf, type RouteContext } from './context.ts';

/** How far ahead sendAt may be: a delayed job lives in Redis until then. */
const MAX_SCHEDULE_MS = 30 * 24 * 3600 * 1000;

export const SendEmailBody = z
  .strictObject({
    to: z.email().max(320),
    subject: z
      .string()
      .min(1)
      .max(998)
      .regex(/^[^\r\n]*$/, 'must be one line'),
    text: z.string().max(1_000_000).optional(),
    html: z.string().max(1_000_000).optional(),
    template: EmailTemplateName.optional(),
    variables: z.record(z.string().regex(/^\w{1,64}$/), z.string().max(10_000)).optional(),
    attachments: z.array(EmailAttachment).max(10).optional(),
    sendAt: z.iso.datetime({ offset: true }).optional(),
  })
  .refine((b) => b.text !== undefined || b.html !== undefined || b.template !== undefined, {
    message: 'text, html or template is required',
    path: ['text'],
  })
  .refine((b) => b.template === undefined || (b.text === undefined && b.html === undefined), {
    message: 'a template brings its own text and html',
    path: ['template'],
  })
  .refine((b) => b.variables === undefined || b.template !== undefined, {
    message: 'variables need a template',
    path: ['variables'],
  });

export function emailRoutes(app: Express, ctx: RouteContext): void {
  const maxAttachmentBytes = ctx.config.EMAIL_ATTACHMENTS_MAX_BYTES;
  app.post(
    '/api/send-email',
    ctx.authenticate,
    requireScope('email:send'),
    idempotency(ctx.redis, ctx.config.QUEUE_PREFIX),
    route(async (req, res) => {
      const body = validate(SendEmailBody, req.body, 'email');
      const principal = principalOf(req);
      const attachmentBytes = (body.attachments ?? []).reduce(
        (n, a) => n + Buffer.byteLength(a.contentBase64, 'base64'),
        0,
      );
      if (attachmentBytes > maxAttachmentBytes) {
        throw new AppError(
          'PAYLOAD_TOO_LARGE',
          `attachments may total at most ${maxAttachmentBytes} bytes`,
        );
      }
      let delay = 0;
      let sendAt: string | undefined;
      if (body.sendAt !== undefined) {
        const at = Date.parse(body.sendAt);
        delay = at - Date.now();
        if (delay > MAX_SCHEDULE_MS) {
          throw new AppError('VALIDATION_FAILED', 'email is invalid', {
            details: [{ path: 'sendAt', message: 'may be at most 30 days ahead' }],
          });
        }
        // A time already past sends now rather than refusing a slightly late clock.
        delay = Math.max(0, delay);
        sendAt = new Date(at).toISOString();
      }
      const id = randomUUID();
      await ctx.email.add(
        {
          id,
          ownerId: principal.userId,
          requestId: req.id,
          to: body.to,
          subject: body.subject,
          ...(body.text !== undefined ? { text: body.text } : {}),
          ...(body.html !== undefined ? { html: body.html } : {}),
          ...(body.template !== undefined ? { template: body.template } : {}),
          ...(body.variables !== undefined ? { variables: body.variables } : {}),
          ...(body.attachments !== undefined ? { attachments: body.attachments } : {}),
          ...(sendAt !== undefined ? { sendAt } : {}),
          queuedAt: new Date().toISOString(),
        },
        { attempts: ctx.config.EMAIL_ATTEMPTS, ...(delay > 0 ? { delay } : {}) },
      );
      // The address is PII: the event names the email by id only.
      await ctx.audit.emit({
        actor: actorOf(req),
        action: 'email.queued',
        target: { type: 'email', id },
        outcome: 'success',
        ownerId: principal.userId,
        requestId: req.id,
        metadata: {
          hasText: body.text !== undefined,
          hasHtml: body.html !== undefined,
          ...(body.template !== undefined ? { template: body.template } : {}),
          attachments: body.attachments?.length ?? 0,
          scheduled: sendAt !== undefined,
        },
      });
      res
        .status(202)
        .location(`/api/emails/${id}`)
        .json({
          id,
          status: sendAt !== undefined && delay > 0 ? 'scheduled' : 'queued',
          ...(sendAt !== undefined ? { sendAt } : {}),
        });
    }),
  );

  app.get(
    '/api/emails/:id',
    ctx.authenticate,
    requireScope('email:send'),
    route(async (req, res) => {
      const { id } = validate(JobId, req.params, 'email id');
      const job = await getOwnedJob(ctx.redis, ctx.email.queue, id, principalOf(req), 'email');
      res.json(await emailView(ctx.redis, job, ctx.config.QUEUE_PREFIX));
    }),
  );

  // Cancels an email that has not started: a scheduled one, or one still waiting in the queue.
  app.delete(
    '/api/emails/:id',
    ctx.authenticate,
    requireScope('email:send'),
    route(async (req, res) => {
      const { id } = validate(JobId, req.params, 'email id');
      const principal = principalOf(req);
      const job = await getOwnedJob(ctx.redis, ctx.email.queue, id, principal, 'email');
      const state = await fromRedis(ctx.redis, () => job.getState());
      if (!['delayed', 'waiting', 'prioritized'].includes(state) || job.attemptsMade > 0) {
        throw new AppError('CONFLICT', 'only an email that has not started can be cancelled');
      }
      // remove() refuses a job a worker has locked meanwhile, so a send is never cut in half.
      try {
        await job.remove();
      } catch (err) {
        throw new AppError('CONFLICT', 'the email started sending and can no longer be cancelled', {
          cause: err,
        });
      }
      await ctx.audit.emit({
        actor: actorOf(req),
        action: 'email.cancelled',
        target: { type: 'email', id },
        outcome: 'success',
        ownerId: principal.userId,
        requestId: req.id,
      });
      res.json({ id, status: 'cancelled' });
    }),
  );
}
