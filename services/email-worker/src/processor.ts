// Processes one `email` job: sends it over SMTP at most once per id, counts it, audits it, and sorts failures into retry or give up.
import { UnrecoverableError, type Job } from 'bullmq';
import type { EmailJob, EmailResult, WebhookEventType } from '@securevault/contracts';
import type { Logger, Metrics } from '@securevault/observability';
import type { AuditEmitter } from '@securevault/service-kit/worker';
import { domainOf, withoutAddresses } from './address.ts';
import type { DeliveryStore } from './store.ts';
import { renderBody } from './templates.ts';
import type { SmtpTransport } from './transport.ts';

export interface EmailProcessorDeps {
  transport: Pick<SmtpTransport, 'sendMail'>;
  from: string;
  store: DeliveryStore;
  /** puts an event on the `webhook` queue (the owner's endpoints; operators for failures) */
  notify: (
    event: WebhookEventType,
    ownerId: string,
    payload: Record<string, unknown>,
  ) => Promise<void>;
  logger: Logger;
  metrics: Metrics;
  audit: Pick<AuditEmitter, 'emit'>;
}

interface SmtpError {
  message: string;
  code?: string;
  command?: string;
  responseCode?: number;
}

function asSmtpError(err: unknown): SmtpError {
  if (err instanceof Error) return err;
  return { message: String(err) };
}

/**
 * Starts the reason of an attempt that failed before any SMTP conversation began, or after a
 * definite refusal it could not record (Redis lost). BullMQ keeps the reason on the job, so the
 * next attempt knows the send record's "sending" from that attempt does not mean the server may
 * hold the message.
 */
export const NOT_SENT_MARK = '[not sent] ';

function notSent(err: unknown): Error {
  const message = err instanceof Error ? err.message : String(err);
  return new Error(NOT_SENT_MARK + withoutAddresses(message), { cause: err });
}

/** 5xx replies mean the server will never take this message; everything else may pass later. */
export function isPermanent(err: SmtpError): boolean {
  return typeof err.responseCode === 'number' && err.responseCode >= 500;
}

export function createEmailProcessor(deps: EmailProcessorDeps) {
  const domain = domainOf(deps.from);
  if (domain === undefined) throw new Error('the From address has no domain');
  const sent = deps.metrics.get('emails_sent_total');
  const failed = deps.metrics.get('emails_failed_total');
  const actor = { type: 'service', id: 'email-worker' } as const;

  async function finalFailure(job: EmailJob, reason: string, attempt: number): Promise<void> {
    await deps.audit.emit({
      actor,
      action: 'email.failed',
      outcome: 'failure',
      ownerId: job.ownerId,
      target: { type: 'email', id: job.id },
      metadata: { reason, attempt },
    });
    await deps.notify('email.failed', job.ownerId, { emailId: job.id, reason });
  }

  return async function processEmail(job: EmailJob, bullJob: Job): Promise<EmailResult> {
    const attempt = bullJob.attemptsMade + 1;
    // Deterministic, so a retry after a lost reply carries the same Message-ID and can be deduplicated.
    const messageId = `<${job.id}@${domain}>`;
    const target = { type: 'email', id: job.id };

    // The send record is what makes delivery at most once per id: BullMQ alone is at least once.
    // A previous attempt that failed before talking to the server leaves a claim it may retake.
    const previous = bullJob.attemptsMade;
    const retakable =
      previous > 0 && bullJob.failedReason?.startsWith(NOT_SENT_MARK) === true
        ? previous
        : undefined;
    // One round trip: a suppressed recipient is refused, else the claim and its "sending" entry.
    let claim: Awaited<ReturnType<DeliveryStore['claim']>>;
    try {
      claim = await deps.store.claim(job.id, messageId, attempt, retakable, job.to);
    } catch (err) {
      // Redis answered nothing (or the answer was lost): whatever the record says, no SMTP
      // conversation began.
      throw notSent(err);
    }
    if (claim.kind === 'suppressed') {
      await deps.store.markSuppressed(job.id);
      await deps.store.history(job.id, {
        status: 'suppressed',
        attempt,
        reason: 'the recipient is on the suppression list',
      });
      // Refused before any SMTP conversation: audited as suppressed (denied), not as a delivery failure.
      await deps.audit.emit({
        actor,
        action: 'email.suppressed',
        outcome: 'denied',
        ownerId: job.ownerId,
        target,
        metadata: { attempt },
      });
      await deps.notify('email.failed', job.ownerId, {
        emailId: job.id,
        reason: 'recipient suppressed',
      });
      throw new UnrecoverableError('recipient suppressed');
    }

    if (claim.kind === 'sent') {
      deps.logger.info({ jobId: job.id, attempt }, 'email already sent; not sending again');
      // The earlier attempt may have died before queuing its event; the event id deduplicates.
      await deps.notify('email.sent', job.ownerId, {
        emailId: job.id,
        messageId: claim.result.messageId,
      });
      return claim.result;
    }
    if (claim.kind === 'unknown') {
      // An earlier attempt died between starting the SMTP conversation and recording its answer
      // (a crash, or Redis lost after the 250). The server may hold the message: sending again
      // could deliver it twice, so the message is recorded as sent without confirmation.
      const result: EmailResult = { messageId, accepted: [], sentAt: new Date().toISOString() };
      await deps.store.markSent(job.id, result, {
        status: 'sent',
        attempt,
        reason: 'unconfirmed: an earlier attempt was interrupted after the SMTP conversation began',
      });
      deps.logger.warn(
        { jobId: job.id, attempt, since: claim.since },
        'email outcome unknown; not resent',
      );
      return result;
    }
    let info: Awaited<ReturnType<SmtpTransport['sendMail']>>;
    try {
      info = await deps.transport.sendMail({
        from: deps.from,
        to: job.to,
        subject: job.subject,
        ...renderBody(job),
        ...(job.attachments
          ? {
              attachments: job.attachments.map((a) => ({
                filename: a.filename,
                contentType: a.contentType,
                content: Buffer.from(a.contentBase64, 'base64'),
              })),
            }
          : {}),
        messageId,
      });
    } catch (caught) {
      const err = asSmtpError(caught);
      const permanent = isPermanent(err);
      const final = permanent || attempt >= (bullJob.opts.attempts ?? 1);
      const reason = withoutAddresses(err.message);
      // A definite answer from the server: nothing was accepted, so a later attempt may send.
      try {
        await deps.store.release(job.id);
      } catch (storeErr) {
        // The record still says "sending"; the mark on this failure lets the next attempt retake it.
        const detail = storeErr instanceof Error ? storeErr.message : String(storeErr);
        throw notSent(new Error(`${err.message} (not recorded: ${detail})`, { cause: caught }));
      }
      failed.inc({ kind: permanent ? 'permanent' : 'transient' });
      deps.logger.warn(
        {
          jobId: job.id,
          attempt,
          kind: permanent ? 'permanent' : 'transient',
          code: err.code,
          responseCode: err.responseCode,
          final,
        },
        'email delivery failed',
      );
      const refusedRecipient = permanent && err.command === 'RCPT TO';
      if (refusedRecipient) {
        await deps.store.suppress(job.to, reason);
        await deps.store.markSuppressed(job.id);
      }
      await deps.store.history(job.id, {
        status: refusedRecipient ? 'suppressed' : final ? 'failed' : 'retrying',
        attempt,
        reason,
      });
      if (final) await finalFailure(job, reason, attempt);
      if (permanent) throw new UnrecoverableError(reason);
      // Transient: BullMQ retries with backoff. The message goes to logs and Redis, so it must not
      // carry the address; otherwise the error is passed on untouched.
      if (reason !== err.message || !(caught instanceof Error))
        throw new Error(reason, { cause: caught });
      throw caught;
    }

    const result: EmailResult = {
      messageId: info.messageId || messageId,
      accepted: info.accepted.map(String),
      sentAt: new Date().toISOString(),
    };
    await deps.store.markSent(job.id, result, { status: 'sent', attempt });
    sent.inc();
    deps.logger.info({ jobId: job.id, attempt }, 'email sent');
    // Independent of each other: queued side by side (a failed notify retries the job, which finds
    // the record "sent" and only notifies again; the event id deduplicates).
    await Promise.all([
      deps.audit.emit({
        actor,
        action: 'email.sent',
        outcome: 'success',
        ownerId: job.ownerId,
        target,
        metadata: { messageId, attempt },
      }),
      deps.notify('email.sent', job.ownerId, { emailId: job.id, messageId }),
    ]);
    return result;
  };
}
