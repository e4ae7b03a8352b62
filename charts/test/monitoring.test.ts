// Monitoring: every alert of the chart's PrometheusRule fires (and stays silent) in promtool unit
// tests; a real Prometheus scrapes the five running services through a scrape configuration
// derived from the chart's ServiceMonitors and evaluates the rules; dashboards and runbooks match
// the rules; the `make monitoring-up` stack references files that exist.
// Real: helm, promtool and Debian's prometheus binary; the five services as processes on real
// Postgres, Redis and BullMQ. Stand-ins (outside our system, real protocols): the SMTP sink and
// the OpenAI model stand-in. The promtool series are synthetic by design: they are the input.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { freePort, waitForHttp } from '@securevault/testing';
// The catalog file directly: its package index pulls in pino/OpenTelemetry, not needed here.
import { CATALOG, PROCESS_METRICS, metricsFor } from '../../libs/observability/src/catalog.ts';
import { SERVICES, childProcessEnv, type ServiceName } from '../../scripts/lib/service-env.ts';
import { spawnService } from '../../scripts/lib/processes.ts';
import { startPlatform, type Platform } from '../../scripts/lib/platform.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const CHART = join(ROOT, 'charts/securevault');
const HELM = join(ROOT, 'node_modules/.bin/helm');
const NS = 'securevault';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const COMPONENT_OF: Record<ServiceName, string> = {
  gateway: 'app',
  auth: 'auth',
  audit: 'audit',
  'email-worker': 'email-worker',
  'ai-worker': 'ai-worker',
};
const job = (component: string) => `securevault-${component}-metrics`;

type Labels = Record<string, string>;
type Doc = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Labels; annotations?: Labels };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
};
interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Labels;
  annotations?: Labels;
}
interface RuleGroup {
  name: string;
  rules: Rule[];
}

function render(extra: string[] = []): Doc[] {
  const r = spawnSync(
    HELM,
    [
      'template',
      'securevault',
      'charts/securevault',
      '-n',
      NS,
      '--kube-version',
      '1.30.0',
      '--set',
      'metrics.prometheusRule.enabled=true',
      '--set',
      'metrics.serviceMonitor.enabled=true',
      '--set',
      'grafana.dashboards.enabled=true',
      ...extra,
    ],
    { cwd: ROOT, encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => d !== null);
}

const docs = render();
const ruleDoc = docs.find((d) => d.kind === 'PrometheusRule');
assert.ok(ruleDoc, 'the chart renders a PrometheusRule');
const groups = (ruleDoc.spec as { groups: RuleGroup[] }).groups;
const allRules = groups.flatMap((g) => g.rules);
const alertNames = [...new Set(allRules.flatMap((r) => (r.alert ? [r.alert] : [])))];

function promtool(args: string[]) {
  const r = spawnSync('promtool', args, { encoding: 'utf8' });
  assert.notEqual(r.error?.message ?? '', 'spawnSync promtool ENOENT', 'promtool is installed');
  return r;
}

// ---- Metric names in PromQL ------------------------------------------------------------------

const PROMQL_WORDS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'count',
  'stddev',
  'stdvar',
  'topk',
  'bottomk',
  'quantile',
  'group',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
]);

/** Metric names in a PromQL expression: identifiers that are not functions, keywords or labels. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const names: string[] = [];
  for (const m of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const after = stripped.slice(m.index + m[0].length).trimStart();
    if (after.startsWith('(') || PROMQL_WORDS.has(m[0])) continue;
    names.push(m[0]);
  }
  return names;
}

const recorded = allRules.flatMap((r) => (r.record ? [r.record] : []));
const ALLOWED = new Set<string>(['up', ...PROCESS_METRICS, ...recorded]);
for (const [name, def] of Object.entries(CATALOG)) {
  ALLOWED.add(name);
  if (def.type === 'histogram')
    for (const s of ['_bucket', '_sum', '_count']) ALLOWED.add(name + s);
}

test('the metric-name extractor finds names and ignores functions, labels and keywords', () => {
  assert.deepEqual(
    metricNames(
      'sum by (job, le) (rate(nope_total{job=~"$job", le="0.25"}[$__rate_interval])) / on (job) up > 0.5',
    ),
    ['nope_total', 'up'],
  );
});

// ---- promtool ----------------------------------------------------------------------------------

describe('PrometheusRule in promtool', () => {
  test('promtool check rules accepts the rendered groups', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sv-rules-'));
    try {
      writeFileSync(join(dir, 'rules.yaml'), stringify({ groups }));
      const r = promtool(['check', 'rules', join(dir, 'rules.yaml')]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`SUCCESS: ${allRules.length} rules found`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('every rule names only catalog metrics, up and recording rules', () => {
    for (const r of allRules) {
      const names = metricNames(r.expr);
      assert.ok(names.length > 0, `${r.alert ?? r.record} names a metric`);
      for (const n of names) assert.ok(ALLOWED.has(n), `${r.alert ?? r.record} uses unknown ${n}`);
    }
  });

  test('SLOs are multi-window, multi-burn-rate alerts over recording rules', () => {
    for (const slo of ['http_errors', 'http_slow_p95', 'http_slow_p99'])
      for (const w of ['5m', '30m', '1h', '6h'])
        assert.ok(recorded.includes(`securevault:${slo}:ratio_rate${w}`), `${slo} over ${w}`);
    const expr = (name: string) => allRules.find((r) => r.alert === name)?.expr ?? '';
    for (const slo of ['Availability', 'LatencyP95', 'LatencyP99']) {
      assert.match(
        expr(`SecureVault${slo}BurnFast`),
        /ratio_rate1h > [\d.]+\s+and\s+.*ratio_rate5m/,
      );
      assert.match(
        expr(`SecureVault${slo}BurnSlow`),
        /ratio_rate6h > [\d.]+\s+and\s+.*ratio_rate30m/,
      );
    }
    // 99 % availability: 14.4x and 6x of a 1 % budget; 95 % under 250 ms: 14.4x of 5 %.
    assert.match(expr('SecureVaultAvailabilityBurnFast'), /ratio_rate1h > 0\.144\b/);
    assert.match(expr('SecureVaultAvailabilityBurnSlow'), /ratio_rate6h > 0\.06\b/);
    assert.match(expr('SecureVaultLatencyP95BurnFast'), /ratio_rate1h > 0\.72\b/);
    assert.match(
      allRules.find((r) => r.record === 'securevault:http_slow_p95:ratio_rate5m')!.expr,
      /le="0\.25"/,
    );
    assert.match(
      allRules.find((r) => r.record === 'securevault:http_slow_p99:ratio_rate5m')!.expr,
      /le="1"/,
    );
  });

  test('thresholds come from values', () => {
    // A values file, not --set: helm 3.6 turns --set 0.999 into a string the schema refuses.
    const dir = mkdtempSync(join(tmpdir(), 'sv-values-'));
    const file = join(dir, 'values.yaml');
    writeFileSync(
      file,
      stringify({
        metrics: {
          prometheusRule: {
            runbookUrl: 'https://wiki.example.com/ops/runbooks.md',
            queueBacklogThreshold: 100,
            slo: {
              availability: 0.999,
              latency: [{ name: 'p95', objective: 0.95, le: '0.25' }],
              fastBurnRate: 14.4,
              slowBurnRate: 6,
            },
          },
        },
      }),
    );
    let custom: Doc;
    try {
      custom = render(['-f', file]).find((d) => d.kind === 'PrometheusRule')!;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const rules = (custom.spec as { groups: RuleGroup[] }).groups.flatMap((g) => g.rules);
    const expr = (name: string) => rules.find((r) => r.alert === name)!.expr;
    assert.match(expr('SecureVaultAvailabilityBurnFast'), /ratio_rate1h > 0\.0144\d*\s/);
    assert.match(expr('SecureVaultQueueBacklog'), /> 100\s*$/);
    assert.ok(!rules.some((r) => r.alert === 'SecureVaultLatencyP99BurnFast'), 'p99 SLO removed');
    for (const r of rules.filter((x) => x.alert))
      assert.ok(
        r.annotations!.runbook_url!.startsWith('https://wiki.example.com/ops/runbooks.md#'),
        r.alert,
      );
  });

  // Each alert: series that must make it fire with exactly these labels, and healthy (or just
  // below threshold) series that must leave it silent. Series step is one minute.
  interface Scenario {
    name: string;
    series: Array<{ series: string; values: string }>;
    /** Labels of every expected alert, without alertname; [] means silent. */
    expect: Labels[];
  }
  interface AlertCase {
    alert: string;
    evalTime: string;
    scenarios: Scenario[];
  }

  function series(name: string, labels: Labels, values: string) {
    const all = { namespace: NS, ...labels };
    const text = Object.entries(all)
      .map(([k, v]) => `${k}="${v}"`)
      .join(',');
    return { series: `${name}{${text}}`, values };
  }
  const grow = (perMinute: number, minutes: number) => `0+${perMinute}x${minutes}`;

  /** HTTP traffic of one component: per-minute counts of all, 5xx, and requests within each bound. */
  function http(
    component: string,
    t: {
      total: number;
      errors?: number;
      within250ms?: number;
      within1s?: number;
      within10s?: number;
    },
    minutes = 100,
  ) {
    const base = { job: job(component), method: 'GET', route: '/api/x' };
    const errors = t.errors ?? 0;
    const name = 'http_request_duration_seconds';
    return [
      series(`${name}_count`, { ...base, status: '200' }, grow(t.total - errors, minutes)),
      series(`${name}_count`, { ...base, status: '500' }, grow(errors, minutes)),
      series(
        `${name}_bucket`,
        { ...base, status: '200', le: '0.25' },
        grow(t.within250ms ?? t.total, minutes),
      ),
      series(
        `${name}_bucket`,
        { ...base, status: '200', le: '1' },
        grow(t.within1s ?? t.total, minutes),
      ),
      series(
        `${name}_bucket`,
        { ...base, status: '200', le: '10' },
        grow(t.within10s ?? t.total, minutes),
      ),
    ];
  }
  const appJob = { namespace: NS, job: job('app') };

  const CASES: AlertCase[] = [
    {
      alert: 'SecureVaultAvailabilityBurnFast',
      evalTime: '70m',
      scenarios: [
        { name: '30% 5xx', series: http('app', { total: 100, errors: 30 }), expect: [appJob] },
        {
          name: '10% 5xx (below 14.4x)',
          series: http('app', { total: 100, errors: 10 }),
          expect: [],
        },
      ],
    },
    {
      alert: 'SecureVaultAvailabilityBurnSlow',
      evalTime: '60m',
      scenarios: [
        { name: '10% 5xx', series: http('app', { total: 100, errors: 10 }), expect: [appJob] },
        { name: '2% 5xx (below 6x)', series: http('app', { total: 100, errors: 2 }), expect: [] },
      ],
    },
    {
      alert: 'SecureVaultErrorRateCritical',
      evalTime: '15m',
      scenarios: [
        { name: '10% 5xx', series: http('app', { total: 100, errors: 10 }), expect: [appJob] },
        { name: '3% 5xx', series: http('app', { total: 100, errors: 3 }), expect: [] },
      ],
    },
    {
      alert: 'SecureVaultLatencyP95BurnFast',
      evalTime: '70m',
      scenarios: [
        {
          name: '90% slow',
          series: http('app', { total: 100, within250ms: 10 }),
          expect: [appJob],
        },
        { name: '3% slow', series: http('app', { total: 100, within250ms: 97 }), expect: [] },
      ],
    },
    {
      alert: 'SecureVaultLatencyP95BurnSlow',
      evalTime: '60m',
      scenarios: [
        {
          name: '40% slow',
          series: http('app', { total: 100, within250ms: 60 }),
          expect: [appJob],
        },
        { name: '3% slow', series: http('app', { total: 100, within250ms: 97 }), expect: [] },
      ],
    },
    {
      alert: 'SecureVaultLatencyP99BurnFast',
      evalTime: '70m',
      scenarios: [
        {
          name: '50% over 1 s',
          series: http('app', { total: 100, within1s: 50 }),
          expect: [appJob],
        },
        { name: 'none over 1 s', series: http('app', { total: 100 }), expect: [] },
      ],
    },
    {
      alert: 'SecureVaultLatencyP99BurnSlow',
      evalTime: '60m',
      scenarios: [
        {
          name: '10% over 1 s',
          series: http('app', { total: 100, within1s: 90 }),
          expect: [appJob],
        },
        { name: '0.5% over 1 s', series: http('app', { total: 200, within1s: 199 }), expect: [] },
      ],
    },
    {
      alert: 'SecureVaultResponseTimeOver10s',
      evalTime: '15m',
      scenarios: [
        {
          name: '1/min over 10 s',
          series: http('app', { total: 100, within10s: 99 }),
          expect: [appJob],
        },
        { name: 'none over 10 s', series: http('app', { total: 100 }), expect: [] },
      ],
    },
    {
      alert: 'SecureVaultTargetDown',
      evalTime: '5m',
      scenarios: [
        {
          name: 'scrape fails',
          series: [series('up', { job: job('audit'), pod: 'audit-1' }, '0x10')],
          expect: [{ namespace: NS, job: job('audit'), pod: 'audit-1' }],
        },
        {
          name: 'scrapes',
          series: [series('up', { job: job('audit'), pod: 'audit-1' }, '1x10')],
          expect: [],
        },
      ],
    },
    {
      alert: 'SecureVaultAuthDown',
      evalTime: '5m',
      scenarios: [
        {
          name: 'every auth pod down',
          series: [
            series('up', { job: job('auth'), pod: 'auth-1' }, '0x10'),
            series('up', { job: job('auth'), pod: 'auth-2' }, '0x10'),
          ],
          expect: [{ namespace: NS, job: job('auth') }],
        },
        {
          name: 'auth not scraped at all',
          series: [series('up', { job: job('app'), pod: 'app-1' }, '1x10')],
          expect: [{ namespace: NS, job: job('auth') }],
        },
        {
          name: 'one auth pod of two up',
          series: [
            series('up', { job: job('auth'), pod: 'auth-1' }, '0x10'),
            series('up', { job: job('auth'), pod: 'auth-2' }, '1x10'),
          ],
          expect: [],
        },
      ],
    },
    {
      alert: 'SecureVaultRedisDisconnected',
      evalTime: '5m',
      scenarios: [
        {
          name: 'disconnected',
          series: [
            series(
              'redis_connection_up',
              { job: job('email-worker'), pod: 'e-1', client: 'queue' },
              '0x10',
            ),
          ],
          expect: [{ namespace: NS, job: job('email-worker'), client: 'queue' }],
        },
        {
          name: 'connected',
          series: [
            series(
              'redis_connection_up',
              { job: job('email-worker'), pod: 'e-1', client: 'queue' },
              '1x10',
            ),
          ],
          expect: [],
        },
      ],
    },
    {
      alert: 'SecureVaultDatabaseSaturated',
      evalTime: '8m',
      scenarios: [
        {
          name: 'queries wait for connections',
          series: [
            series(
              'db_pool_connections',
              { job: job('auth'), pod: 'auth-1', state: 'waiting' },
              '3x10',
            ),
            series(
              'db_pool_connections',
              { job: job('auth'), pod: 'auth-1', state: 'in_use' },
              '10x10',
            ),
          ],
          expect: [{ namespace: NS, job: job('auth') }],
        },
        {
          name: 'busy but nobody waits',
          series: [
            series(
              'db_pool_connections',
              { job: job('auth'), pod: 'auth-1', state: 'waiting' },
              '0x10',
            ),
            series(
              'db_pool_connections',
              { job: job('auth'), pod: 'auth-1', state: 'in_use' },
              '10x10',
            ),
          ],
          expect: [],
        },
      ],
    },
    {
      alert: 'SecureVaultMemoryNearLimit',
      evalTime: '8m',
      scenarios: [
        {
          // 500 MiB of the gateway's 512 Mi limit.
          name: 'gateway near its limit',
          series: [
            series(
              'process_resident_memory_bytes',
              { job: job('app'), pod: 'app-1' },
              '524288000x10',
            ),
          ],
          expect: [{ namespace: NS, job: job('app'), pod: 'app-1', component: 'app' }],
        },
        {
          // The same 500 MiB is fine for no one but also proves per-component limits: auth's is 384 Mi.
          name: 'auth at 300 MiB of 384 Mi',
          series: [
            series(
              'process_resident_memory_bytes',
              { job: job('auth'), pod: 'auth-1' },
              '314572800x10',
            ),
          ],
          expect: [],
        },
      ],
    },
    {
      alert: 'SecureVaultQueueBacklog',
      evalTime: '12m',
      scenarios: [
        {
          name: '6000 waiting, seen by two services',
          series: [
            series(
              'queue_jobs',
              { job: job('app'), pod: 'app-1', queue: 'email', state: 'waiting' },
              '6000x15',
            ),
            series(
              'queue_jobs',
              { job: job('email-worker'), pod: 'e-1', queue: 'email', state: 'waiting' },
              '6000x15',
            ),
          ],
          expect: [{ namespace: NS, queue: 'email' }],
        },
        {
          name: '4000 waiting',
          series: [
            series(
              'queue_jobs',
              { job: job('app'), pod: 'app-1', queue: 'email', state: 'waiting' },
              '4000x15',
            ),
          ],
          expect: [],
        },
      ],
    },
    {
      alert: 'SecureVaultAuditEventsStuck',
      evalTime: '12m',
      scenarios: [
        {
          name: 'audit jobs delayed, nothing stored',
          series: [
            series(
              'queue_jobs',
              { job: job('audit'), pod: 'a-1', queue: 'audit', state: 'delayed' },
              '25x15',
            ),
            series(
              'queue_jobs',
              { job: job('audit'), pod: 'a-1', queue: 'audit', state: 'waiting' },
              '0x15',
            ),
            series(
              'audit_events_total',
              { job: job('audit'), pod: 'a-1', source: 'auth', outcome: 'success' },
              '40x15',
            ),
          ],
          expect: [{ namespace: NS }],
        },
        {
          name: 'jobs waiting but events being stored',
          series: [
            series(
              'queue_jobs',
              { job: job('audit'), pod: 'a-1', queue: 'audit', state: 'waiting' },
              '3x15',
            ),
            series(
              'audit_events_total',
              { job: job('audit'), pod: 'a-1', source: 'auth', outcome: 'success' },
              grow(10, 15),
            ),
          ],
          expect: [],
        },
      ],
    },
    {
      alert: 'SecureVaultEmailDeliveryFailing',
      evalTime: '27m',
      scenarios: [
        {
          name: 'failures every minute',
          series: [
            series(
              'emails_failed_total',
              { job: job('email-worker'), pod: 'e-1', kind: 'transient' },
              grow(5, 30),
            ),
          ],
          expect: [{ namespace: NS, kind: 'transient' }],
        },
        {
          name: 'no failures',
          series: [
            series(
              'emails_failed_total',
              { job: job('email-worker'), pod: 'e-1', kind: 'transient' },
              '0x30',
            ),
          ],
          expect: [],
        },
      ],
    },
    {
      alert: 'SecureVaultAIGenerationsFailing',
      evalTime: '25m',
      scenarios: [
        {
          name: '1 of 6 generations fails (timeouts)',
          series: [
            series(
              'ai_generations_total',
              { job: job('ai-worker'), pod: 'a-1', model: 'gpt-4o-mini', outcome: 'failed' },
              grow(2, 30),
            ),
            series(
              'ai_generations_total',
              { job: job('ai-worker'), pod: 'a-1', model: 'gpt-4o-mini', outcome: 'completed' },
              grow(10, 30),
            ),
          ],
          expect: [{ namespace: NS, model: 'gpt-4o-mini' }],
        },
        {
          name: 'all complete',
          series: [
            series(
              'ai_generations_total',
              { job: job('ai-worker'), pod: 'a-1', model: 'gpt-4o-mini', outcome: 'failed' },
              '0x30',
            ),
            series(
              'ai_generations_total',
              { job: job('ai-worker'), pod: 'a-1', model: 'gpt-4o-mini', outcome: 'completed' },
              grow(10, 30),
            ),
          ],
          expect: [],
        },
      ],
    },
    {
      alert: 'SecureVaultCacheMissRateHigh',
      evalTime: '25m',
      scenarios: [
        {
          name: '75% misses',
          series: [
            series(
              'cache_requests_total',
              { job: job('app'), pod: 'app-1', cache: 'session', result: 'hit' },
              grow(10, 30),
            ),
            series(
              'cache_requests_total',
              { job: job('app'), pod: 'app-1', cache: 'session', result: 'miss' },
              grow(30, 30),
            ),
          ],
          expect: [{ namespace: NS, job: job('app'), cache: 'session' }],
        },
        {
          name: '25% misses',
          series: [
            series(
              'cache_requests_total',
              { job: job('app'), pod: 'app-1', cache: 'session', result: 'hit' },
              grow(30, 30),
            ),
            series(
              'cache_requests_total',
              { job: job('app'), pod: 'app-1', cache: 'session', result: 'miss' },
              grow(10, 30),
            ),
          ],
          expect: [],
        },
        {
          name: "75% misses in the ai-worker's response cache (normal there)",
          series: [
            series(
              'cache_requests_total',
              { job: job('ai-worker'), pod: 'a-1', cache: 'ai', result: 'hit' },
              grow(10, 30),
            ),
            series(
              'cache_requests_total',
              { job: job('ai-worker'), pod: 'a-1', cache: 'ai', result: 'miss' },
              grow(30, 30),
            ),
          ],
          expect: [],
        },
      ],
    },
    {
      alert: 'SecureVaultSecurityAlert',
      evalTime: '6m',
      scenarios: [
        {
          name: 'one alert raised',
          series: [
            series(
              'security_alerts_total',
              { job: job('audit'), pod: 'audit-1', rule: 'brute_force' },
              '0 0 0 0 0 1 1 1 1 1 1',
            ),
          ],
          expect: [{ namespace: NS, rule: 'brute_force' }],
        },
        {
          name: 'none raised',
          series: [
            series(
              'security_alerts_total',
              { job: job('audit'), pod: 'audit-1', rule: 'brute_force' },
              '0x10',
            ),
          ],
          expect: [],
        },
      ],
    },
  ];

  test('every alert of the PrometheusRule has a promtool case', () => {
    assert.deepEqual(CASES.map((c) => c.alert).sort(), [...alertNames].sort());
  });

  // Annotations are left out of the unit-test copy: promtool compares them whole, and their
  // $value text is checked by `promtool check rules` (template syntax) instead.
  const unitRules = {
    groups: groups.map((g) => ({
      ...g,
      rules: g.rules.map(({ annotations: _annotations, ...r }) => r),
    })),
  };
  const severityOf = (alert: string) => allRules.find((r) => r.alert === alert)!.labels!.severity!;

  for (const c of CASES) {
    test(`${c.alert} fires on bad series and stays silent on healthy ones (promtool test rules)`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'sv-promtool-'));
      try {
        writeFileSync(join(dir, 'rules.yaml'), stringify(unitRules));
        const tests = c.scenarios.map((s) => ({
          name: `${c.alert}: ${s.name}`,
          interval: '1m',
          input_series: s.series,
          alert_rule_test: [
            {
              eval_time: c.evalTime,
              alertname: c.alert,
              exp_alerts: s.expect.map((labels) => ({
                exp_labels: { ...labels, severity: severityOf(c.alert) },
              })),
            },
          ],
        }));
        writeFileSync(
          join(dir, 'test.yaml'),
          stringify({ rule_files: ['rules.yaml'], evaluation_interval: '1m', tests }),
        );
        const r = promtool(['test', 'rules', join(dir, 'test.yaml')]);
        assert.equal(r.status, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /SUCCESS/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  test('promtool test rules fails when an alert does not fire as expected (the harness can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sv-promtool-'));
    try {
      writeFileSync(join(dir, 'rules.yaml'), stringify(unitRules));
      writeFileSync(
        join(dir, 'test.yaml'),
        stringify({
          rule_files: ['rules.yaml'],
          evaluation_interval: '1m',
          tests: [
            {
              interval: '1m',
              input_series: http('app', { total: 100 }),
              alert_rule_test: [
                {
                  eval_time: '15m',
                  alertname: 'SecureVaultErrorRateCritical',
                  exp_alerts: [{ exp_labels: { ...appJob, severity: 'critical' } }],
                },
              ],
            },
          ],
        }),
      );
      const r = promtool(['test', 'rules', join(dir, 'test.yaml')]);
      assert.notEqual(r.status, 0);
      assert.match(r.stdout + r.stderr, /FAILED/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---- Runbooks ----------------------------------------------------------------------------------

describe('runbooks', () => {
  const text = readFileSync(join(ROOT, 'docs/runbooks.md'), 'utf8');
  // GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
  const anchors = new Set(
    [...text.matchAll(/^#{2,3} (.+)$/gm)].map((m) =>
      m[1]!
        .trim()
        .toLowerCase()
        .replace(/[^\w\- ]/g, '')
        .replace(/ /g, '-'),
    ),
  );

  test("every alert's runbook_url points at a heading of docs/runbooks.md", () => {
    const base = 'https://github.com/securevault/securevault/blob/main/docs/runbooks.md#';
    for (const r of allRules.filter((x) => x.alert)) {
      const url = r.annotations?.runbook_url ?? '';
      assert.ok(url.startsWith(base), `${r.alert}: ${url}`);
      const anchor = url.slice(base.length);
      assert.ok(anchors.has(anchor), `${r.alert}: docs/runbooks.md has no heading for #${anchor}`);
      assert.match(r.labels?.severity ?? '', /^(warning|critical)$/, `${r.alert} severity`);
      assert.ok(r.annotations?.summary, `${r.alert} summary`);
    }
  });

  test('every alert is named in its runbook section', () => {
    for (const r of allRules.filter((x) => x.alert)) {
      const anchor = r.annotations!.runbook_url!.split('#')[1]!;
      const section = text.split(/^## /m).find((s) => s.startsWith(`${anchor}\n`)) ?? '';
      assert.ok(section.includes(r.alert!), `the ${anchor} runbook names ${r.alert}`);
    }
  });

  test('the procedures the issue lists have runbooks', () => {
    for (const a of [
      'auth-down',
      'database-saturation',
      'queue-backlog',
      'email-delivery-failing',
      'high-latency',
      'rollback',
      'data-breach-response',
      'escalation',
      'chaos-drills',
    ])
      assert.ok(anchors.has(a), `docs/runbooks.md has ## ${a}`);
  });
});

// ---- Dashboards --------------------------------------------------------------------------------

interface Panel {
  title: string;
  type: string;
  datasource?: { uid?: string };
  targets?: Array<{ expr?: string }>;
  panels?: Panel[];
}
const DASHBOARD_DIR = join(CHART, 'dashboards');
const dashboardFiles = readdirSync(DASHBOARD_DIR).filter((f) => f.endsWith('.json'));

function panelsOf(d: { panels?: Panel[] }): Panel[] {
  return (d.panels ?? []).flatMap((p) => [p, ...panelsOf(p)]);
}

describe('Grafana dashboards', () => {
  test('overview, queues, email, AI and security dashboards exist', () => {
    assert.deepEqual(dashboardFiles.sort(), [
      'ai.json',
      'email.json',
      'overview.json',
      'queues.json',
      'security.json',
    ]);
  });

  test('each renders as a ConfigMap labelled for the Grafana sidecar, with the file unchanged', () => {
    const maps = docs.filter(
      (d) => d.kind === 'ConfigMap' && d.metadata.name.includes('-dashboard-'),
    );
    assert.equal(maps.length, dashboardFiles.length);
    for (const file of dashboardFiles) {
      const cm = maps.find((m) => m.data?.[file] !== undefined);
      assert.ok(cm, `ConfigMap for ${file}`);
      assert.equal(cm.metadata.labels?.grafana_dashboard, '1');
      assert.equal(cm.metadata.annotations?.grafana_folder, 'SecureVault');
      assert.deepEqual(
        JSON.parse(cm.data![file]!),
        JSON.parse(readFileSync(join(DASHBOARD_DIR, file), 'utf8')),
      );
    }
    const off = spawnSync(
      HELM,
      ['template', 'securevault', 'charts/securevault', '-n', NS, '--kube-version', '1.30.0'],
      { cwd: ROOT, encoding: 'utf8' },
    );
    assert.equal(off.status, 0, off.stderr);
    assert.doesNotMatch(off.stdout, /grafana_dashboard/, 'dashboards are off by default');
  });

  test('every PromQL expression uses only metric names that exist', () => {
    let exprs = 0;
    const uids = new Set<string>();
    for (const file of dashboardFiles) {
      const d = JSON.parse(readFileSync(join(DASHBOARD_DIR, file), 'utf8')) as {
        uid: string;
        panels: Panel[];
      };
      assert.ok(!uids.has(d.uid), `unique uid ${d.uid}`);
      uids.add(d.uid);
      for (const p of panelsOf(d)) {
        if (p.type === 'row') continue;
        assert.equal(p.datasource?.uid, '${datasource}', `${file} "${p.title}" uses the variable`);
        assert.ok((p.targets ?? []).length > 0, `${file} "${p.title}" has a query`);
        for (const t of p.targets ?? []) {
          assert.ok(t.expr, `${file} "${p.title}" has an expr`);
          const names = metricNames(t.expr);
          assert.ok(names.length > 0, `${file} "${p.title}" names a metric`);
          for (const n of names)
            assert.ok(ALLOWED.has(n), `${file} "${p.title}" uses ${n}, which no one exports`);
          exprs++;
        }
      }
    }
    assert.ok(exprs >= 30, `${exprs} expressions checked`);
  });

  test('every catalog metric appears on some dashboard', () => {
    const all = dashboardFiles.map((f) => readFileSync(join(DASHBOARD_DIR, f), 'utf8')).join('\n');
    for (const name of Object.keys(CATALOG))
      assert.ok(all.includes(name), `${name} on a dashboard`);
  });
});

// ---- The compose stack of `make monitoring-up` -------------------------------------------------

describe('monitoring/compose.yaml', () => {
  const dir = join(ROOT, 'monitoring');
  // merge: compose files share environment blocks through YAML merge keys (<<: *service-env).
  const compose = parse(readFileSync(join(dir, 'compose.yaml'), 'utf8'), { merge: true }) as {
    services: Record<
      string,
      {
        image?: string;
        build?: { context: string; dockerfile?: string; args?: Record<string, string> };
        command?: string[] | string;
        volumes?: string[];
        environment?: Record<string, string>;
      }
    >;
  };

  test('runs the five services, Redis (noeviction), Postgres, an SMTP catcher, Prometheus, Grafana', () => {
    for (const s of [
      ...Object.values(COMPONENT_OF),
      'redis',
      'postgres',
      'mailpit',
      'prometheus',
      'grafana',
    ])
      assert.ok(compose.services[s], `service ${s}`);
    assert.match(String(compose.services.redis!.command), /noeviction/);
    for (const [service, component] of Object.entries(COMPONENT_OF)) {
      const s = compose.services[component]!;
      assert.equal(s.build?.args?.SERVICE, service, `${component} builds SERVICE=${service}`);
      assert.equal(resolve(dir, s.build?.context ?? ''), ROOT);
      assert.match(s.image ?? '', new RegExp(`^securevault/${component}:`));
      assert.equal(s.environment?.MANAGEMENT_PORT, '9464');
    }
  });

  test('every mounted file exists; Grafana gets the chart dashboards; Prometheus the chart rules', () => {
    for (const [name, s] of Object.entries(compose.services))
      for (const v of s.volumes ?? []) {
        const source = v.split(':')[0]!;
        if (!source.startsWith('.')) continue; // named volume
        assert.ok(existsSync(resolve(dir, source)), `${name} mounts ${source}`);
      }
    const modelScript = ([] as string[]).concat(compose.services.model?.command ?? []).at(-1) ?? '';
    assert.ok(existsSync(join(ROOT, modelScript)), `the model service runs ${modelScript}`);
    const grafanaMounts = (compose.services.grafana!.volumes ?? []).map((v) =>
      resolve(dir, v.split(':')[0]!),
    );
    assert.ok(
      grafanaMounts.includes(DASHBOARD_DIR),
      'Grafana mounts charts/securevault/dashboards',
    );
    const rules = parse(readFileSync(join(dir, 'prometheus/rules.yaml'), 'utf8')) as unknown;
    assert.deepEqual(
      rules,
      { groups },
      'monitoring/prometheus/rules.yaml is stale: run make monitoring-rules',
    );
  });

  test("Prometheus' config passes promtool and labels targets as the chart's ServiceMonitors do", () => {
    const r = promtool(['check', 'config', join(dir, 'prometheus/prometheus.yml')]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const config = parse(readFileSync(join(dir, 'prometheus/prometheus.yml'), 'utf8')) as {
      scrape_configs: Array<{
        job_name: string;
        metrics_path?: string;
        static_configs: Array<{ targets: string[]; labels: Labels }>;
      }>;
    };
    for (const component of Object.values(COMPONENT_OF)) {
      const sc = config.scrape_configs.find(
        (s) => s.static_configs[0]?.labels.job === job(component),
      );
      assert.ok(sc, `a scrape config labelled job=${job(component)}`);
      assert.equal(sc.static_configs[0]!.labels.namespace, NS);
      assert.deepEqual(sc.static_configs[0]!.targets, [`${component}:9464`]);
    }
  });
});

// ---- A real Prometheus scraping the running services -------------------------------------------

interface ScrapeTarget {
  component: string;
  job: string;
  containerPort: number;
  path: string;
  interval: string | undefined;
}

/** ServiceMonitor → Service (by label selector) → named port → the Deployment's container port. */
function scrapeTargets(all: Doc[]): ScrapeTarget[] {
  const out: ScrapeTarget[] = [];
  for (const sm of all.filter((d) => d.kind === 'ServiceMonitor')) {
    const spec = sm.spec as {
      selector: { matchLabels: Labels };
      endpoints: Array<{ port: string; path: string; interval?: string }>;
    };
    const matches = (labels: Labels | undefined) =>
      Object.entries(spec.selector.matchLabels).every(([k, v]) => labels?.[k] === v);
    const services = all.filter((d) => d.kind === 'Service' && matches(d.metadata.labels));
    assert.equal(services.length, 1, `ServiceMonitor ${sm.metadata.name} selects one Service`);
    const svc = services[0]!;
    const svcSpec = svc.spec as {
      selector: Labels;
      ports: Array<{ name: string; targetPort: string | number }>;
    };
    for (const ep of spec.endpoints) {
      const port = svcSpec.ports.find((p) => p.name === ep.port);
      assert.ok(port, `Service ${svc.metadata.name} has port ${ep.port}`);
      const deployment = all.find((d) => {
        if (d.kind !== 'Deployment') return false;
        const podLabels = (d.spec as { template: { metadata: { labels: Labels } } }).template
          .metadata.labels;
        return Object.entries(svcSpec.selector).every(([k, v]) => podLabels[k] === v);
      });
      assert.ok(deployment, `a Deployment behind ${svc.metadata.name}`);
      const containers = (
        deployment.spec as {
          template: {
            spec: { containers: Array<{ ports?: Array<{ name: string; containerPort: number }> }> };
          };
        }
      ).template.spec.containers;
      const cport = containers
        .flatMap((c) => c.ports ?? [])
        .find((p) => p.name === port.targetPort || p.containerPort === port.targetPort);
      assert.ok(cport, `${deployment.metadata.name} has container port ${String(port.targetPort)}`);
      out.push({
        component: svc.metadata.labels!['app.kubernetes.io/component']!,
        // prometheus-operator names the job after the Service.
        job: svc.metadata.name,
        containerPort: cport.containerPort,
        path: ep.path,
        interval: ep.interval,
      });
    }
  }
  return out;
}

describe('a real Prometheus scrapes the running services', () => {
  let platform: Platform | undefined;
  let promDir = '';
  let prom: ChildProcess | undefined;
  let promExited: Promise<void> | undefined;
  let promUrl = '';
  let gatewayUrl = '';
  let managementPorts = {} as Record<ServiceName, number>;
  const logs: string[] = [];
  const targets = scrapeTargets(docs);

  before(async () => {
    platform = await startPlatform({
      label: 'monitoring',
      redisUrl: REDIS_URL,
      openaiApiKey: 'sk-monitoring-standin',
      logLevel: 'warn',
      readyTimeoutMs: 30_000,
    });
    managementPorts = platform.managementPorts;
    gatewayUrl = platform.baseUrl;
    // Traffic through the gateway, so its request histogram (and the SLO rules over it) has data.
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${gatewayUrl}/api/health`);
      await res.arrayBuffer();
    }

    // The scrape configuration prometheus-operator would generate from the ServiceMonitors, with
    // the container port (9464 in every pod) mapped to each process's local management port.
    promDir = mkdtempSync(join(tmpdir(), 'sv-prometheus-'));
    const serviceOf = (component: string) =>
      (Object.keys(COMPONENT_OF) as ServiceName[]).find((s) => COMPONENT_OF[s] === component)!;
    const config = {
      global: { scrape_interval: '1s', evaluation_interval: '1s', scrape_timeout: '1s' },
      rule_files: ['rules.yaml'],
      scrape_configs: targets.map((t) => ({
        job_name: `serviceMonitor/${NS}/securevault-${t.component}/0`,
        metrics_path: t.path,
        static_configs: [
          {
            targets: [`127.0.0.1:${managementPorts[serviceOf(t.component)]}`],
            labels: { namespace: NS, pod: `securevault-${t.component}-0`, container: t.component },
          },
        ],
        // The operator sets job to the Service's name; static configs get job_name otherwise.
        relabel_configs: [{ target_label: 'job', replacement: t.job }],
      })),
    };
    writeFileSync(join(promDir, 'prometheus.yml'), stringify(config));
    writeFileSync(join(promDir, 'rules.yaml'), stringify({ groups }));
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prom = spawn(
      'prometheus',
      [
        `--config.file=${join(promDir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(promDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    promExited = new Promise((resolve) => prom!.once('close', () => resolve()));
    for (const stream of [prom.stdout!, prom.stderr!])
      stream.on('data', (c: Buffer) => logs.push(`[prometheus] ${c.toString().trimEnd()}`));
    await waitForHttp(`${promUrl}/-/ready`, { timeoutMs: 20_000, expectStatus: 200 }).catch(
      (err: Error) => {
        throw new Error(`prometheus did not start: ${err.message}\n${logs.slice(-20).join('\n')}`);
      },
    );
  });

  after(async () => {
    if (prom && prom.exitCode === null) {
      prom.kill('SIGTERM');
      const timer = setTimeout(() => prom!.kill('SIGKILL'), 10_000);
      await promExited;
      clearTimeout(timer);
    }
    await platform?.stop();
    if (promDir) rmSync(promDir, { recursive: true, force: true });
  });

  async function promApi<T>(path: string): Promise<T> {
    const res = await fetch(`${promUrl}${path}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    assert.equal(body.status, 'success', `${path}: ${body.error ?? ''}`);
    return body.data;
  }

  /** Polls fn until it returns a value, for at most timeoutMs. */
  async function eventually<T>(
    what: string,
    fn: () => Promise<T | undefined>,
    timeoutMs = 30_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        const v = await fn();
        if (v !== undefined) return v;
      } catch (err) {
        last = err;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(
      `timed out waiting for ${what}: ${String(last)}\n${[...(platform?.logs ?? []), ...logs].slice(-20).join('\n')}`,
    );
  }

  type Vector = Array<{ metric: Labels; value: [number, string] }>;
  const query = (q: string) =>
    promApi<{ result: Vector }>(`/api/v1/query?query=${encodeURIComponent(q)}`);

  test('the ServiceMonitors scrape the management port (9464) at /metrics, one job per component', () => {
    assert.deepEqual(targets.map((t) => t.component).sort(), Object.values(COMPONENT_OF).sort());
    for (const t of targets) {
      assert.equal(t.containerPort, 9464);
      assert.equal(t.path, '/metrics');
      assert.equal(t.job, job(t.component));
    }
  });

  test('all five targets are up', async () => {
    type Targets = { activeTargets: Array<{ health: string; labels: Labels; lastError: string }> };
    const active = await eventually('five healthy targets', async () => {
      const data = await promApi<Targets>('/api/v1/targets?state=active');
      const up = data.activeTargets.filter((t) => t.health === 'up');
      return up.length === 5 ? data.activeTargets : undefined;
    });
    assert.deepEqual(
      active.map((t) => t.labels.job).sort(),
      Object.values(COMPONENT_OF).map(job).sort(),
    );
    const up = await eventually('up == 1 for every job', async () => {
      const r = await query(`up{namespace="${NS}"} == 1`);
      return r.result.length === 5 ? r.result : undefined;
    });
    assert.deepEqual(
      up.map((s) => s.metric.job).sort(),
      Object.values(COMPONENT_OF).map(job).sort(),
    );
  });

  test('each service exports catalog metrics that Prometheus stores under its job', async () => {
    for (const service of SERVICES) {
      const j = job(COMPONENT_OF[service]);
      const r = await eventually(`redis_connection_up for ${j}`, async () => {
        const v = await query(`redis_connection_up{job="${j}"}`);
        return v.result.length > 0 ? v.result : undefined;
      });
      assert.ok(
        r.every((s) => s.value[1] === '1'),
        `${service} is connected to Redis`,
      );
      const mem = await query(`process_resident_memory_bytes{job="${j}"}`);
      assert.equal(mem.result.length, 1, `${service} process metrics`);
    }
    for (const db of ['auth', 'audit']) {
      const v = await eventually(`db_pool_connections for ${db}`, async () => {
        const r = await query(`db_pool_connections{job="${job(db)}", state="total"}`);
        return r.result.length > 0 ? r.result : undefined;
      });
      assert.ok(v.length > 0);
    }
    const http = await eventually('the gateway request histogram', async () => {
      const r = await query(`http_request_duration_seconds_count{job="${job('app')}"}`);
      return r.result.length > 0 ? r.result : undefined;
    });
    assert.ok(http.some((s) => Number(s.value[1]) >= 1));
  });

  test("each job holds only its own service's catalog metrics", async () => {
    for (const service of SERVICES) {
      const j = job(COMPONENT_OF[service]);
      const r = await query(`group by (__name__) ({job="${j}"})`);
      const stored = r.result.map((s) => s.metric.__name__!.replace(/_(bucket|sum|count)$/, ''));
      const fromCatalog = [...new Set(stored.filter((n) => n in CATALOG))];
      assert.ok(
        fromCatalog.length >= 2,
        `${service} stores catalog metrics: ${fromCatalog.join(', ')}`,
      );
      const own = metricsFor(service) as string[];
      for (const n of fromCatalog)
        assert.ok(own.includes(n), `${service} exports ${n}, not in its catalog entry`);
    }
  });

  test('the rendered rules load and evaluate without errors; recording rules match scraped labels', async () => {
    type Rules = {
      groups: Array<{
        name: string;
        lastEvaluation: string;
        rules: Array<{ name: string; health: string; lastError?: string; type: string }>;
      }>;
    };
    const data = await eventually('every rule group evaluated', async () => {
      const d = await promApi<Rules>('/api/v1/rules');
      return d.groups.length === groups.length &&
        d.groups.every(
          (g) =>
            !g.lastEvaluation.startsWith('0001-') && g.rules.every((r) => r.health !== 'unknown'),
        )
        ? d
        : undefined;
    });
    // The API lists groups sorted by name, not in file order.
    assert.deepEqual(data.groups.map((g) => g.name).sort(), groups.map((g) => g.name).sort());
    const loaded = data.groups.flatMap((g) => g.rules);
    assert.equal(loaded.length, allRules.length);
    for (const r of loaded) assert.equal(r.health, 'ok', `${r.name}: ${r.lastError ?? ''}`);
    // The 5xx ratio of the gateway is 0 after the health calls: the rules see the scraped labels.
    const ratio = await eventually(
      'securevault:http_errors:ratio_rate5m for the gateway',
      async () => {
        // Requests between scrapes, so the rate is not 0/0 (NaN).
        await (await fetch(`${gatewayUrl}/api/health`)).arrayBuffer();
        const r = await query(`securevault:http_errors:ratio_rate5m{job="${job('app')}"}`);
        return r.result.length > 0 && r.result[0]!.value[1] !== 'NaN' ? r.result : undefined;
      },
    );
    assert.equal(ratio[0]!.value[1], '0');
    // Healthy platform: the auth and target-down alerts are not pending or firing. Until a
    // target's first scrape lands, `absent(up{...})` is true and such an alert is briefly pending:
    // wait until every target reports up == 1, then for the rules to evaluate that.
    await eventually('every target scraped and up', async () => {
      const up = await query('up');
      return up.result.length === targets.length && up.result.every((r) => r.value[1] === '1')
        ? true
        : undefined;
    });
    const quiet = ['SecureVaultAuthDown', 'SecureVaultTargetDown', 'SecureVaultRedisDisconnected'];
    let alerts: Array<{ labels: Labels; state: string }> = [];
    const settled = await eventually(
      'the down alerts to clear once every target is up',
      async () => {
        alerts = (await promApi<{ alerts: typeof alerts }>('/api/v1/alerts')).alerts;
        return alerts.every((a) => !quiet.includes(a.labels.alertname ?? '')) ? true : undefined;
      },
      10_000,
    ).catch(() => false);
    assert.ok(settled, `${quiet.join(', ')} are quiet: ${JSON.stringify(alerts)}`);
  });
});

// ---- Makefile targets and the compose model stand-in -------------------------------------------

describe('operations commands', () => {
  const makeDry = (args: string[], env: Record<string, string> = {}) =>
    spawnSync('make', ['--no-print-directory', '-n', ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, ...env },
    });

  test('make docker-prod builds the five images under the names the chart uses', () => {
    const r = makeDry(['docker-prod']);
    assert.equal(r.status, 0, r.stderr);
    const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as {
      image: { repository: string };
    };
    const chartVersion = /^appVersion: '?([^'\n]+)'?$/m.exec(
      readFileSync(join(CHART, 'Chart.yaml'), 'utf8'),
    )![1]!;
    // The loop runs in the shell: check the list it iterates and the command it runs.
    assert.match(
      r.stdout,
      /gateway:app auth:auth audit:audit email-worker:email-worker ai-worker:ai-worker/,
    );
    assert.match(
      r.stdout,
      /docker build --build-arg SERVICE=\$service -t securevault\/\$component:/,
    );
    assert.ok(r.stdout.includes(`securevault/$component:${chartVersion}`), 'tag = appVersion');
    // The chart's images are <image.repository>/<component>: the same component names.
    assert.ok(values.image.repository.endsWith('/securevault'));
  });

  test('make metrics, backup and restore pass secrets through the environment only', () => {
    const metrics = makeDry(['metrics'], { METRICS_TOKEN: 'tok-in-env-only' });
    assert.equal(metrics.status, 0, metrics.stderr);
    assert.match(metrics.stdout, /curl -fsS -H @- .*\/api\/metrics/);
    assert.ok(!metrics.stdout.includes('tok-in-env-only'), 'the token is not on a command line');
    const backup = makeDry(['backup'], { DATABASE_URL: 'postgres://u:pw-secret@h/db' });
    assert.equal(backup.status, 0, backup.stderr);
    assert.match(backup.stdout, /bash scripts\/backup\.sh/);
    assert.ok(!backup.stdout.includes('pw-secret'));
    const restore = makeDry(['restore', 'FILE=backups/x.dump', 'CONFIRM=yes']);
    assert.match(restore.stdout, /CONFIRM="yes" bash scripts\/restore\.sh "backups\/x\.dump"/);
    const up = makeDry(['monitoring-up']);
    assert.equal(up.status, 0, up.stderr);
    assert.match(up.stdout, /docker compose -f monitoring\/compose\.yaml up --build --detach/);
    assert.match(up.stdout, /scripts\/monitoring-rules\.ts/);
    assert.match(makeDry(['monitoring-down', 'WIPE=1']).stdout, /compose\.yaml down --volumes/);
  });

  test('the compose model stand-in serves the OpenAI API and stops on SIGTERM', async () => {
    const port = await freePort();
    const lines: string[] = [];
    const child = spawnService(
      'ai-worker',
      {
        ...childProcessEnv({}),
        MODEL_STANDIN_PORT: String(port),
        MODEL_STANDIN_HOST: '127.0.0.1',
      },
      { entry: 'scripts/model-standin.ts', onLine: (l) => lines.push(l) },
    );
    try {
      // Without an API key it refuses, like the real API: that answer means it is up.
      await waitForHttp(`http://127.0.0.1:${port}/v1/models`, {
        timeoutMs: 15_000,
        expectStatus: 401,
      });
      const res = await fetch(`http://127.0.0.1:${port}/v1/models`, {
        headers: { authorization: 'Bearer sk-dev-standin' },
      });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { data: Array<{ id: string }> };
      assert.ok(body.data.length > 0, 'lists models');
    } finally {
      assert.equal(await child.stop(10_000), 0, lines.join('\n'));
    }
  });
});
