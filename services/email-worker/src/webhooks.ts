// Processes one `webhook` job: signed deliveries to the owner's subscribed endpoints, and rate-limited operator notices.
import { createHash, createHmac } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  OPERATOR_WEBHOOK_EVENTS,
  WebhookEndpointRecord,
  deliveryKeys,
  type WebhookEventJob,
} from '@securevault/contracts';
import type { Logger } from '@securevault/observability';
import { createEgressPolicy, type EgressPolicy } from '@securevault/service-kit/worker';

export interface WebhookProcessorDeps {
  redis: Redis;
  prefix: string;
  timeoutMs: number;
  /** the operators' Slack-compatible incoming webhook; undefined turns operator notices off */
  operatorUrl: string | undefined;
  operatorMaxPerMinute: number;
  /** CIDRs consumers' endpoints may reach although private (WEBHOOK_ALLOWED_CIDRS) */
  allowedCidrs?: readonly string[];
  logger: Logger;
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: the documented verification recipe. */
export function signature(secret: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

/** A UUID derived from a name, so the same event queued twice is one BullMQ job. */
export function deterministicUuid(name: string): string {
  const h = createHash('sha256').update(name).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const ATTEMPTS_KEPT = 100;

async function post(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<{ ok: boolean; status?: number; error?: string }> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'SecureVault-Webhooks/1',
        ...headers,
      },
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'manual',
    });
    // The body is not ours to keep; read it so the connection can be reused.
    await res.arrayBuffer().catch(() => undefined);
    return { ok: res.status >= 200 && res.status < 300, status: res.status };
  } catch (err) {
    const name = err instanceof Error ? err.name : 'Error';
    return { ok: false, error: name === 'TimeoutError' ? 'timed out' : 'connection failed' };
  }
}

/**
 * POST to an endpoint an API consumer chose, only ever to a public address: a literal address
 * or a name resolving to a private, loopback or link-local one is refused before connecting, and
 * the connection uses the address that was checked (no second lookup to rebind).
 */
async function postToConsumer(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
  egress: EgressPolicy,
): Promise<{ ok: boolean; status?: number; error?: string; refused?: boolean }> {
  const refused = egress.refuseUrl(url);
  if (refused !== undefined) return { ok: false, error: `refused: ${refused}`, refused: true };
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const req = send(
      target,
      {
        method: 'POST',
        lookup: egress.lookup,
        headers: {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'user-agent': 'SecureVault-Webhooks/1',
          ...headers,
        },
        signal: AbortSignal.timeout(timeoutMs),
      },
      (res) => {
        // The body is not ours to keep; drain it so the socket is released.
        res.resume();
        res.once('end', () => {
          const status = res.statusCode ?? 0;
          resolve({ ok: status >= 200 && status < 300, status });
        });
        res.once('error', () => resolve({ ok: false, error: 'connection failed' }));
      },
    );
    req.once('error', (err: Error & { code?: string }) => {
      if (err.code === 'EGRESS_REFUSED') {
        resolve({
          ok: false,
          error: 'refused: the host resolves to a private or reserved address',
          refused: true,
        });
      } else {
        const timedOut = err.name === 'AbortError' || err.name === 'TimeoutError';
        resolve({ ok: false, error: timedOut ? 'timed out' : 'connection failed' });
      }
    });
    req.end(body);
  });
}

export function createWebhookProcessor(deps: WebhookProcessorDeps) {
  const egress = createEgressPolicy(deps.allowedCidrs ?? []);
  return async function processWebhook(
    event: WebhookEventJob,
    job: Job,
  ): Promise<{ delivered: number }> {
    const attempt = job.attemptsMade + 1;
    const delivered = deliveryKeys.webhookDelivered(deps.prefix, event.id);
    const already = new Set(await deps.redis.smembers(delivered));
    const body = JSON.stringify({
      id: event.id,
      type: event.event,
      occurredAt: event.occurredAt,
      data: event.payload,
    });
    const failures: string[] = [];
    let count = 0;

    const endpoints =
      event.ownerId === null
        ? []
        : Object.values(
            await deps.redis.hgetall(deliveryKeys.webhookEndpoints(deps.prefix, event.ownerId)),
          )
            .map((raw) => WebhookEndpointRecord.safeParse(JSON.parse(raw)))
            .flatMap((r) => (r.success ? [r.data] : []))
            .filter((e) => e.events.includes(event.event));

    for (const endpoint of endpoints) {
      // A retry of the event only goes to the endpoints that have not acknowledged it yet.
      if (already.has(endpoint.id)) continue;
      const timestamp = Math.floor(Date.now() / 1000);
      const outcome = await postToConsumer(
        endpoint.url,
        body,
        {
          'securevault-signature': signature(endpoint.secret, timestamp, body),
          'securevault-event': event.event,
          'securevault-delivery': event.id,
        },
        deps.timeoutMs,
        egress,
      );
      const attempts = deliveryKeys.webhookAttempts(deps.prefix, endpoint.id);
      const multi = deps.redis
        .multi()
        .lpush(
          attempts,
          JSON.stringify({
            eventId: event.id,
            event: event.event,
            attempt,
            at: new Date().toISOString(),
            ok: outcome.ok,
            ...(outcome.status !== undefined ? { status: outcome.status } : {}),
            ...(outcome.error !== undefined ? { error: outcome.error } : {}),
          }),
        )
        .ltrim(attempts, 0, ATTEMPTS_KEPT - 1);
      if (outcome.ok) multi.sadd(delivered, endpoint.id).expire(delivered, 7 * 24 * 3600);
      await multi.exec();
      if (outcome.ok) count++;
      else if (outcome.refused) {
        // Not retried: trying again would only knock on the same internal address.
        deps.logger.warn(
          { eventId: event.id, endpointId: endpoint.id },
          'webhook endpoint refused: private or reserved address',
        );
      } else failures.push(endpoint.id);
    }

    const forOperators = event.ownerId === null || OPERATOR_WEBHOOK_EVENTS.includes(event.event);
    if (forOperators && deps.operatorUrl !== undefined && !already.has('operators')) {
      // Rate-limited per minute across all workers, so an incident does not flood the channel.
      const window = `${deliveryKeys.operatorNotices(deps.prefix)}:${Math.floor(Date.now() / 60_000)}`;
      const [[, n] = []] = ((await deps.redis.multi().incr(window).expire(window, 120).exec()) ??
        []) as Array<[unknown, number]>;
      if (typeof n === 'number' && n <= deps.operatorMaxPerMinute) {
        const text = `SecureVault ${event.event}: ${JSON.stringify(event.payload).slice(0, 2_000)}`;
        const outcome = await post(deps.operatorUrl, JSON.stringify({ text }), {}, deps.timeoutMs);
        if (outcome.ok) {
          await deps.redis
            .multi()
            .sadd(delivered, 'operators')
            .expire(delivered, 7 * 24 * 3600)
            .exec();
          count++;
        } else failures.push('operators');
      } else {
        deps.logger.warn(
          { eventId: event.id, event: event.event },
          'operator notice rate-limited; dropped',
        );
      }
    }

    if (failures.length > 0) {
      // BullMQ retries the event with backoff; only the endpoints listed here will be tried again.
      throw new Error(`webhook delivery failed for ${failures.length} endpoint(s)`);
    }
    return { delivered: count };
  };
}
