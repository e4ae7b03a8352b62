// What every route handler gets: the database, the audit emitter, settings and the clock.
import type { Request } from 'express';
import type { AuditEmitter } from '@securevault/service-kit';
import type { Db } from '../db/database.ts';
import type { PrincipalContext } from '../principals.ts';
import type { Revocations } from '../revocations.ts';

export interface RouteContext extends PrincipalContext {
  audit: Pick<AuditEmitter, 'emit'>;
  ttlSeconds: number;
  adminEmails: ReadonlySet<string>;
  dummyHash: () => Promise<string>;
  db: Db;
  revocations: Revocations;
}

/** Express 5 route params are strings for named segments; this keeps the type honest. */
export function param(req: Request, name: string): string {
  const value: unknown = (req.params as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : '';
}
