// Admins' list of emails that failed for good, read from BullMQ's failed set (newest first), for
// the console's failed-jobs page; each one can be replayed with POST /api/admin/emails/:id/retry.
import type { Express } from 'express';
import type { Job } from 'bullmq';
import { z } from 'zod';
import { maskEmails } from '@securevault/contracts';
import { route, validate } from '@securevault/service-kit';
import { requireScope } from '../authn.ts';
import { fromRedis } from '../jobs.ts';
import type { RouteContext } from './context.ts';

export const FailedEmailsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  // A position in the failed set, as the previous page's nextCursor gave it.
  cursor: z
    .string()
    .regex(/^\d{1,9}$/, 'is not a cursor this endpoint issued')
    .optional(),
});

/** One failed email as listed (exported with the query for the OpenAPI document). */
export const FailedEmail = z.object({
  id: z.string(),
  to: z.string().describe('the recipient, masked: j***@example.com'),
  subject: z.string(),
  failedReason: z.string().describe('the last error, addresses masked'),
  attemptsMade: z.int(),
  failedAt: z.iso.datetime().nullable(),
});
export type FailedEmail = z.infer<typeof FailedEmail>;

export const FailedEmailPage = z.object({
  items: z.array(FailedEmail),
  total: z.int().describe('failed emails in the queue'),
  nextCursor: z.string().nullable(),
});

function view(job: Job): FailedEmail {
  const data = job.data as { to?: unknown; subject?: unknown };
  return {
    id: job.id ?? '',
    to: typeof data.to === 'string' ? maskEmails(data.to) : '',
    subject: typeof data.subject === 'string' ? data.subject : '',
    failedReason: maskEmails(job.failedReason ?? ''),
    attemptsMade: job.attemptsMade,
    failedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
  };
}

export function failedJobRoutes(app: Express, ctx: RouteContext): void {
  app.get(
    '/api/admin/emails/failed',
    ctx.authenticate,
    requireScope('admin'),
    route(async (req, res) => {
      const query = validate(FailedEmailsQuery, req.query, 'failed email query');
      const start = query.cursor === undefined ? 0 : Number(query.cursor);
      const queue = ctx.email.queue;
      // getFailed reads the failed set newest first; `end` is inclusive.
      const [jobs, total] = await fromRedis(ctx.redis, () =>
        Promise.all([
          queue.getFailed(start, start + query.limit - 1),
          queue.getJobCountByTypes('failed'),
        ]),
      );
      const next = start + query.limit;
      res.set('Cache-Control', 'no-store').json({
        // A job removed between the two reads comes back empty: skip it.
        items: jobs.filter((job): job is Job => Boolean(job?.id)).map(view),
        total,
        nextCursor: next < total ? String(next) : null,
      });
    }),
  );
}
