// Service runtime: logger, metrics, health, lifecycle and the management server, wired once.
import {
  HealthRegistry,
  Lifecycle,
  Metrics,
  createLogger,
  startManagementServer,
  type Logger,
  type ServiceName,
  type Telemetry,
} from '@securevault/observability';

export interface Runtime {
  service: ServiceName;
  logger: Logger;
  metrics: Metrics;
  health: HealthRegistry;
  lifecycle: Lifecycle;
  managementPort: number;
  /**
   * Called once the service takes work (its HTTP port listens, its workers run): until then
   * /readyz answers 503, however healthy the dependencies are, so no traffic reaches a port that
   * is not open yet.
   */
  markStarted: () => void;
}

export interface RuntimeConfig {
  LOG_LEVEL: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  MANAGEMENT_PORT: number;
  SHUTDOWN_GRACE_MS: number;
  SHUTDOWN_DRAIN_MS: number;
}

/** Starts the management server first so /healthz answers while the rest starts. */
export async function createRuntime(
  service: ServiceName,
  config: RuntimeConfig,
  options: { telemetry?: Telemetry; installSignals?: boolean } = {},
): Promise<Runtime> {
  const logger = createLogger({ service, level: config.LOG_LEVEL });
  const metrics = new Metrics(service);
  const health = new HealthRegistry();
  const lifecycle = new Lifecycle({
    logger,
    health,
    graceMs: config.SHUTDOWN_GRACE_MS,
    drainMs: config.SHUTDOWN_DRAIN_MS,
  });
  if (options.telemetry) {
    const telemetry = options.telemetry;
    lifecycle.onStop('telemetry', () => telemetry.shutdown());
  }
  let started = false;
  health.register('startup', () => {
    if (!started) throw new Error('still starting');
  });
  const management = await startManagementServer({ port: config.MANAGEMENT_PORT, health, metrics });
  lifecycle.onStop('management-server', () => management.close());
  if (options.installSignals !== false) lifecycle.installSignalHandlers();
  return {
    service,
    logger,
    metrics,
    health,
    lifecycle,
    managementPort: management.port,
    markStarted: () => {
      started = true;
    },
  };
}

export { exitOnStartupError } from '@securevault/observability';
