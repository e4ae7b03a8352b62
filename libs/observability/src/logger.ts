// The pino JSON logger every service uses: service name, request and trace ids, secrets redacted.
import { pino, type Logger, type DestinationStream, type LevelWithSilent } from 'pino';
import { trace } from '@opentelemetry/api';
import { currentRequestContext } from './context.ts';
import { redact } from './redact.ts';

export type { Logger } from 'pino';

export interface LoggerOptions {
  service: string;
  level?: LevelWithSilent;
  /** where lines go; stdout by default (tests pass a stream to read them back) */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: options.service },
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        // Runs on every line's own fields: a copy is redacted, the caller's object is untouched.
        log: (obj) => redact(obj),
      },
      mixin() {
        const fields: Record<string, string> = {};
        const ctx = currentRequestContext();
        if (ctx) fields.requestId = ctx.requestId;
        const span = trace.getActiveSpan()?.spanContext();
        if (span && span.traceId !== '00000000000000000000000000000000') {
          fields.traceId = span.traceId;
          fields.spanId = span.spanId;
        }
        return fields;
      },
    },
    // Synchronous stdout: with the async default, the flush at process exit can race an
    // in-flight write, and the last lines of a shutdown come out of order or not at all.
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
