// Start-up failure reporting usable before anything else is loaded (telemetry must come first).

/** Logs a start-up failure (config errors name variables only) and exits non-zero. */
export function exitOnStartupError(service: string, err: unknown): never {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(
    JSON.stringify({
      level: 'fatal',
      service,
      time: new Date().toISOString(),
      msg: 'start-up failed',
      error: message,
    }) + '\n',
  );
  process.exit(1);
}
