// The audit service's internal HTTP API: querying stored events for the gateway to relay.
import type { Express, NextFunction, Request, Response } from 'express';
import { z } from 'zod';
import { AuditExportQuery, AuditQuery, type AuditAlert } from '@securevault/contracts';
import type { Logger, Metrics } from '@securevault/observability';
import { AppError, createBaseApp, finishApp, route, validate } from '@securevault/service-kit';
import type { Db } from './db/database.ts';
import { verifyChain } from './chain.ts';
import { findEventById, listEvents, rowToStored } from './db/events.ts';
import { streamExport, toFilter } from './export.ts';
import { readStats } from './stats.ts';

export interface AppDeps {
  db: Db;
  logger: Logger;
  metrics: Metrics;
}

const MAX_SEQ = 9223372036854775807n;

/** A cursor is the last seq of the previous page: a positive int8, written in decimal. */
function parseCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  if (!/^[1-9]\d{0,18}$/.test(cursor) || BigInt(cursor) > MAX_SEQ) {
    throw new AppError('VALIDATION_FAILED', 'query is invalid', {
      details: [{ path: 'cursor', message: 'must be the nextCursor of a previous page' }],
    });
  }
  return cursor;
}

// One check (not regex then refine): zod runs refinements even after the regex failed.
const Seq = z
  .string()
  .refine((v) => /^[1-9]\d{0,18}$/.test(v) && BigInt(v) <= MAX_SEQ, 'must be a positive seq');
const VerifyQuery = z.object({ fromSeq: Seq.optional(), toSeq: Seq.optional() });
const AlertsQuery = z.object({
  ownerId: z.uuid().optional(),
  rule: z.string().max(64).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  /** the time of the previous page's last alert, with its id as the tie-breaker */
  cursor: z.string().max(100).optional(),
});
const StatsQuery = z.object({
  ownerId: z.uuid().optional(),
  days: z.coerce.number().int().min(1).max(366).default(30),
});

const EventParams = z.object({ id: z.uuid() });
const EventLookup = z.object({ ownerId: z.uuid().optional() });

export function createApp(deps: AppDeps): Express {
  const app = createBaseApp({ logger: deps.logger, metrics: deps.metrics, bodyLimit: '16kb' });

  // Who may see what is the gateway's decision: no ownerId means every owner's events.
  app.get(
    '/internal/events',
    route(async (req, res) => {
      const query = validate(AuditQuery, req.query, 'query');
      const beforeSeq = parseCursor(query.cursor);
      // One extra row tells whether another page exists without a count.
      const rows = await listEvents(deps.db, {
        ...toFilter({ ...query, format: 'ndjson' }),
        beforeSeq,
        limit: query.limit + 1,
      });
      const page = rows.slice(0, query.limit);
      const nextCursor = rows.length > query.limit ? (page.at(-1)?.seq ?? null) : null;
      res.json({ items: page.map(rowToStored), nextCursor });
    }),
  );

  // ownerId, when given, scopes the lookup: another owner's event answers 404, not 403.
  app.get(
    '/internal/events/:id',
    route(async (req, res) => {
      const { id } = validate(EventParams, req.params, 'path');
      const { ownerId } = validate(EventLookup, req.query, 'query');
      const row = await findEventById(deps.db, id);
      if (!row || (ownerId !== undefined && row.owner_id !== ownerId)) {
        throw new AppError('NOT_FOUND', 'no such audit event');
      }
      res.json(rowToStored(row));
    }),
  );

  // Walks the whole chain (or a seq range): only the gateway's admins reach this.
  app.get(
    '/internal/verify',
    route(async (req, res) => {
      const range = validate(VerifyQuery, req.query, 'query');
      res.json(await verifyChain(deps.db, range));
    }),
  );

  // Streamed, so headers go out before the first row: a failure mid-way cuts the download short
  // (the client sees a truncated body, never a half-JSON error).
  app.get(
    '/internal/export',
    route(async (req, res) => {
      const query = validate(AuditExportQuery, req.query, 'query');
      res.status(200);
      res.setHeader(
        'content-type',
        query.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
      );
      res.setHeader('cache-control', 'no-store');
      try {
        const rows = await streamExport(deps.db, query, res);
        deps.logger.info({ rows, format: query.format }, 'audit export streamed');
        res.end();
      } catch (err) {
        if (!res.headersSent) throw err;
        deps.logger.error({ err }, 'audit export failed mid-stream');
        res.destroy();
      }
    }),
  );

  app.get(
    '/internal/alerts',
    route(async (req, res) => {
      const query = validate(AlertsQuery, req.query, 'query');
      let q = deps.db.selectFrom('audit.alerts').selectAll();
      if (query.ownerId !== undefined) q = q.where('owner_id', '=', query.ownerId);
      if (query.rule !== undefined) q = q.where('rule', '=', query.rule);
      if (query.cursor !== undefined) {
        const [time, id] = query.cursor.split('_');
        const at = new Date(time ?? '');
        if (Number.isNaN(at.getTime()) || !z.uuid().safeParse(id).success) {
          throw new AppError('VALIDATION_FAILED', 'query is invalid', {
            details: [{ path: 'cursor', message: 'must be the nextCursor of a previous page' }],
          });
        }
        q = q.where((eb) =>
          eb.or([eb('time', '<', at), eb.and([eb('time', '=', at), eb('id', '<', id ?? '')])]),
        );
      }
      const rows = await q
        .orderBy('time', 'desc')
        .orderBy('id', 'desc')
        .limit(query.limit + 1)
        .execute();
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      const items: AuditAlert[] = page.map((r) => ({
        id: r.id,
        time: r.time.toISOString(),
        rule: r.rule,
        subject: r.subject,
        ownerId: r.owner_id,
        eventSeq: r.event_seq,
        details: r.details,
      }));
      res.json({
        items,
        nextCursor:
          rows.length > query.limit && last ? `${last.time.toISOString()}_${last.id}` : null,
      });
    }),
  );

  app.get(
    '/internal/stats',
    route(async (req, res) => {
      const query = validate(StatsQuery, req.query, 'query');
      res.json(await readStats(deps.db, query));
    }),
  );

  app.use(storeUnavailable);
  return finishApp(app, deps.logger);
}

// Errors that mean Postgres cannot be reached (as opposed to a bad query): connection refused or
// reset, pool connect timeout, server shutting down or out of connections (SQLSTATE 08*, 57P*, 53300).
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
]);

export function isStoreUnavailable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (UNAVAILABLE_CODES.has(code) || /^(08|57P)/.test(code) || code === '53300') return true;
  }
  return (
    typeof message === 'string' &&
    /timeout exceeded when trying to connect|Connection terminated/i.test(message)
  );
}

/** Postgres down answers 503 with Retry-After, not 500: the caller may try again shortly. */
function storeUnavailable(err: unknown, _req: Request, _res: Response, next: NextFunction): void {
  if (isStoreUnavailable(err)) {
    next(
      new AppError('SERVICE_UNAVAILABLE', 'the audit store is unavailable, try again later', {
        headers: { 'Retry-After': '5' },
        cause: err,
      }),
    );
    return;
  }
  next(err);
}
