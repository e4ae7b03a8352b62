// Relaying a JSON answer of the audit service: its 400s become ours, anything else odd a 502/503.
import type { Request } from 'express';
import type { z } from 'zod';
import { ERROR_CODES, ErrorBody, type ErrorCode } from '@securevault/contracts';
import { AppError } from '@securevault/service-kit';
import {
  badGateway,
  callService,
  discard,
  internalHeaders,
  readJson,
  unavailable,
  type Downstream,
} from '../downstream.ts';

/** Who may see whose audit data: admins anyone's (or everyone's), members only their own. */
export function scopedOwner(
  principal: { role: string; userId: string },
  requested: string | undefined,
): string | undefined {
  if (principal.role === 'admin') return requested;
  if (requested !== undefined && requested !== principal.userId) {
    throw new AppError('FORBIDDEN', 'members can only read their own audit data');
  }
  return principal.userId;
}

export function queryString(params: Record<string, string | number | undefined>): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) qs.set(k, String(v));
  const text = qs.toString();
  return text ? `?${text}` : '';
}

/** The audit service's refusal of a query as our own 400 (never its requestId or wording beyond 200 chars). */
export function refusal(body: unknown): AppError {
  const parsed = ErrorBody.safeParse(body);
  const code = parsed.success ? parsed.data.error.code : 'VALIDATION_FAILED';
  const known =
    code in ERROR_CODES && ERROR_CODES[code as ErrorCode] === 400
      ? (code as ErrorCode)
      : 'VALIDATION_FAILED';
  return new AppError(
    known,
    parsed.success ? parsed.data.error.message.slice(0, 200) : 'query is invalid',
    parsed.success && parsed.data.error.details ? { details: parsed.data.error.details } : {},
  );
}

export async function relayJson<S extends z.ZodType>(
  service: Downstream,
  req: Request,
  path: string,
  schema: S,
): Promise<z.output<S>> {
  const response = await callService(service, path, {
    headers: { accept: 'application/json', ...internalHeaders(req) },
  });
  const status = response.statusCode ?? 0;
  if (status >= 500) {
    discard(response);
    throw unavailable(service);
  }
  const body = await readJson(service, response);
  if (status === 400) throw refusal(body);
  if (status !== 200) throw badGateway(service);
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw badGateway(service, parsed.error);
  return parsed.data;
}
