// The metric catalog: every metric name, its type, labels, and which services export it.
export const SERVICES = ['gateway', 'auth', 'email-worker', 'ai-worker', 'audit'] as const;
export type ServiceName = (typeof SERVICES)[number];

export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Def {
  type: 'counter' | 'gauge' | 'histogram';
  help: string;
  labels: readonly string[];
  services: readonly ServiceName[];
  buckets?: readonly number[];
}

const HTTP_SERVICES = ['gateway', 'auth', 'audit'] as const;
const QUEUE_SERVICES = ['gateway', 'email-worker', 'ai-worker', 'audit'] as const;
const DB_SERVICES = ['auth', 'audit'] as const;
const ALL = SERVICES;

export const CATALOG = {
  http_request_duration_seconds: {
    type: 'histogram',
    help: 'HTTP request duration in seconds, by method, route template and status code',
    labels: ['method', 'route', 'status'],
    services: HTTP_SERVICES,
    buckets: LATENCY_BUCKETS,
  },
  emails_sent_total: {
    type: 'counter',
    help: 'Emails accepted by the SMTP server',
    labels: [],
    services: ['email-worker'],
  },
  emails_failed_total: {
    type: 'counter',
    help: 'Email delivery attempts that failed, by kind (transient or permanent)',
    labels: ['kind'],
    services: ['email-worker'],
  },
  ai_generations_total: {
    type: 'counter',
    help: 'AI generations finished, by model and outcome',
    labels: ['model', 'outcome'],
    services: ['ai-worker'],
  },
  ai_tokens_total: {
    type: 'counter',
    help: 'AI tokens used, by model and kind (prompt or completion)',
    labels: ['model', 'kind'],
    services: ['ai-worker'],
  },
  ai_time_to_first_token_seconds: {
    type: 'histogram',
    help: 'Seconds from the provider call to the first streamed token, by model',
    labels: ['model'],
    services: ['ai-worker'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
  },
  queue_jobs: {
    type: 'gauge',
    help: 'Jobs per queue and state (waiting, active, delayed, failed, completed)',
    labels: ['queue', 'state'],
    services: QUEUE_SERVICES,
  },
  queue_jobs_processed_total: {
    type: 'counter',
    help: 'Jobs processed by this worker, by queue and outcome',
    labels: ['queue', 'outcome'],
    services: ['email-worker', 'ai-worker', 'audit'],
  },
  audit_events_total: {
    type: 'counter',
    help: 'Audit events stored, by source service and outcome',
    labels: ['source', 'outcome'],
    services: ['audit'],
  },
  audit_emit_failures_total: {
    type: 'counter',
    help: 'Audit events this service could not hand to the audit queue',
    labels: [],
    services: ['gateway', 'auth', 'email-worker', 'ai-worker'],
  },
  audit_chain_head_seq: {
    type: 'gauge',
    help: 'Sequence number of the newest audit event in the hash chain (its hash is logged with it)',
    labels: [],
    services: ['audit'],
  },
  audit_batch_size: {
    type: 'histogram',
    help: 'Audit events per batch written to the hash chain in one transaction',
    labels: [],
    services: ['audit'],
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
  },
  audit_stats_refresh_total: {
    type: 'counter',
    help: 'Refreshes of the audit stats materialized view, by outcome (success or failure)',
    labels: ['outcome'],
    services: ['audit'],
  },
  audit_stats_refreshed_timestamp_seconds: {
    type: 'gauge',
    help: 'Unix time of the last successful refresh of the audit stats materialized view',
    labels: [],
    services: ['audit'],
  },
  audit_retention_partitions_dropped_total: {
    type: 'counter',
    help: 'Monthly audit partitions dropped by retention',
    labels: [],
    services: ['audit'],
  },
  security_alerts_total: {
    type: 'counter',
    help: 'Security alerts raised from audit events, by rule',
    labels: ['rule'],
    services: ['audit'],
  },
  rate_limit_blocked_total: {
    type: 'counter',
    help: 'Requests refused by a rate limit, by policy',
    labels: ['policy'],
    services: ['gateway'],
  },
  secret_stale_total: {
    type: 'counter',
    help: 'Reads of a mounted secret file that failed, so the last good value was kept, by secret name',
    labels: ['secret'],
    services: ['gateway', 'auth'],
  },
  cache_requests_total: {
    type: 'counter',
    help: 'Cache look-ups by cache name and result (hit or miss)',
    labels: ['cache', 'result'],
    services: ['gateway', 'ai-worker'],
  },
  db_pool_connections: {
    type: 'gauge',
    help: 'Postgres pool connections by state (total, idle, in_use, waiting)',
    labels: ['state'],
    services: DB_SERVICES,
  },
  db_pool_errors_total: {
    type: 'counter',
    help: 'Errors raised by idle Postgres pool clients',
    labels: [],
    services: DB_SERVICES,
  },
  redis_connection_up: {
    type: 'gauge',
    help: 'Whether a Redis client is connected (1) or not (0), by client',
    labels: ['client'],
    services: ALL,
  },
  redis_commands_waiting: {
    type: 'gauge',
    help: 'Redis commands queued while the client is not connected, by client',
    labels: ['client'],
    services: ALL,
  },
  redis_errors_total: {
    type: 'counter',
    help: 'Redis client errors, by client',
    labels: ['client'],
    services: ALL,
  },
} as const satisfies Record<string, Def>;

export type MetricName = keyof typeof CATALOG;

/** The catalog names a service must export (plus prom-client's default process metrics). */
export function metricsFor(service: ServiceName): MetricName[] {
  return (Object.keys(CATALOG) as MetricName[]).filter((name) =>
    (CATALOG[name].services as readonly ServiceName[]).includes(service),
  );
}

/** Default process metrics we rely on in rules and dashboards. */
export const PROCESS_METRICS = [
  'process_cpu_seconds_total',
  'process_resident_memory_bytes',
  'nodejs_eventloop_lag_p99_seconds',
  'nodejs_heap_size_used_bytes',
] as const;
