// Renders charts/securevault with the helm binary and parses the result, for the chart test files.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CHART = join(ROOT, 'charts/securevault');
const HELM = join(ROOT, 'node_modules/.bin/helm');
// helm 3.6 templates for Kubernetes 1.20 by default; the chart requires 1.25+.
const KUBE_VERSION = '1.30.0';
export const NAMESPACE = 'securevault';

export type Doc = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
} & Record<string, unknown>;

/** Every CI scenario plus the two environment files in k8s/. */
export const SCENARIOS = [
  ...readdirSync(join(CHART, 'ci'))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => join('charts/securevault/ci', f)),
  'k8s/values-dev.yaml',
  'k8s/values-prod.yaml',
];

/** `helm template` as release "securevault"; throws with helm's stderr when rendering fails. */
export function renderDocs(valuesFile?: string, extra: string[] = []): Doc[] {
  const args = ['template', 'securevault', 'charts/securevault', '-n', NAMESPACE];
  args.push('--kube-version', KUBE_VERSION);
  if (valuesFile) args.push('-f', valuesFile);
  const r = spawnSync(HELM, [...args, ...extra], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => d !== null);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Helm's value merge: maps merge recursively, anything else (lists too) replaces. */
function merge(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = merge(base[k], v);
  return out;
}

/** values.yaml with the scenario's file merged over it: what the templates saw. */
export function effectiveValues(valuesFile?: string): Record<string, unknown> {
  const defaults = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as unknown;
  const scenario = valuesFile
    ? (parse(readFileSync(join(ROOT, valuesFile), 'utf8')) as unknown)
    : undefined;
  return merge(defaults, scenario ?? {}) as Record<string, unknown>;
}
