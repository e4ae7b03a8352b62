// Typed API errors and the one middleware that turns any error into `{ error: { code, ... } }`.
import type { NextFunction, Request, Response } from 'express';
import { z } from 'zod';
import { ERROR_CODES, type ErrorCode, type ErrorBody } from '@securevault/contracts';
import { currentRequestContext, type Logger } from '@securevault/observability';

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Array<{ path: string; message: string }> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: {
      details?: Array<{ path: string; message: string }>;
      headers?: Record<string, string>;
      cause?: unknown;
    } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_CODES[code];
    this.details = options.details;
    this.headers = options.headers;
  }
}

export function zodDetails(error: z.ZodError): Array<{ path: string; message: string }> {
  return error.issues.slice(0, 20).map((i) => ({
    path: i.path.map(String).join('.') || '(body)',
    message: i.message,
  }));
}

/** Parses `value` or throws VALIDATION_FAILED listing what is wrong (never echoing values). */
export function validate<T extends z.ZodType>(
  schema: T,
  value: unknown,
  what = 'request',
): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new AppError('VALIDATION_FAILED', `${what} is invalid`, {
      details: zodDetails(result.error),
    });
  }
  return result.data;
}

interface BodyParserError {
  type?: string;
  status?: number;
  statusCode?: number;
}

function toAppError(err: unknown): AppError | undefined {
  if (err instanceof AppError) return err;
  if (err instanceof z.ZodError) {
    return new AppError('VALIDATION_FAILED', 'request is invalid', { details: zodDetails(err) });
  }
  const e = err as BodyParserError | null;
  switch (e?.type) {
    case 'entity.parse.failed':
      return new AppError('MALFORMED_JSON', 'request body is not valid JSON');
    case 'entity.too.large':
      return new AppError('PAYLOAD_TOO_LARGE', 'request body is too large');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new AppError('UNSUPPORTED_MEDIA_TYPE', 'unsupported body encoding');
    case 'request.aborted':
      return new AppError('VALIDATION_FAILED', 'request was aborted');
    default:
      break;
  }
  const status = e?.status ?? e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new AppError(status === 404 ? 'NOT_FOUND' : 'VALIDATION_FAILED', 'bad request');
  }
  return undefined;
}

export function errorBody(
  code: string,
  message: string,
  details?: ErrorBody['error']['details'],
): ErrorBody {
  const requestId = currentRequestContext()?.requestId;
  return {
    error: { code, message, ...(requestId ? { requestId } : {}), ...(details ? { details } : {}) },
  };
}

/** Last middleware: maps errors to statuses; unknown errors are logged and answered as 500 without internals. */
export function errorHandler(logger: Logger) {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction): void => {
    const appError = toAppError(err);
    if (res.headersSent) {
      logger.error({ err }, 'error after response started');
      res.destroy();
      return;
    }
    if (appError) {
      if (appError.status >= 500) logger.error({ err }, appError.message);
      for (const [k, v] of Object.entries(appError.headers ?? {})) res.setHeader(k, v);
      res
        .status(appError.status)
        .json(errorBody(appError.code, appError.message, appError.details));
      return;
    }
    logger.error({ err }, 'unhandled error');
    res.status(500).json(errorBody('INTERNAL', 'internal error'));
  };
}

export function notFoundHandler(req: Request, _res: Response, next: NextFunction): void {
  next(new AppError('NOT_FOUND', `no route for ${req.method} ${req.path.slice(0, 200)}`));
}
