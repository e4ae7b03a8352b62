// The benchmark's results as a printed table, Markdown, JSON and an SVG chart: pure functions of the rows.
import {
  hasConditions,
  ratioOf,
  targetScore,
  verdict,
  type Target,
  type Verdict,
} from './stats.ts';

export interface Row {
  /** stable key, e.g. `health-rps` */
  id: string;
  metric: string;
  /** unit of ours and peer, e.g. `req/s`, `ms`, `MB` */
  unit: string;
  ours: number | null;
  peer: number | null;
  /** what the peer column is, e.g. `express peer` */
  peerLabel?: string;
  target: Target;
  /** why a row was not measured, or what the reader must know about it */
  note?: string;
  /** the individual repetitions behind the medians */
  samples?: { ours: number[]; peer: number[] };
}

export interface EvaluatedRow extends Row {
  ratio: number | null;
  status: Verdict;
}

export interface RunMeta {
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  node: string;
  cpus: number;
  cpuModel: string;
  repetitions: number;
  settings: Record<string, string | number>;
}

export function evaluate(row: Row): EvaluatedRow {
  return {
    ...row,
    ratio: ratioOf(row.ours, row.peer),
    status: verdict(row.target, row.ours, row.peer),
  };
}

/** Enough digits to compare, never a wall of decimals. */
export function formatNumber(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return '—';
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function formatValue(value: number | null, unit: string): string {
  if (value === null || !Number.isFinite(value)) return '—';
  return unit === '%' ? `${value.toFixed(2)} %` : `${formatNumber(value)} ${unit}`;
}

export function formatRatio(ratio: number | null): string {
  return ratio === null ? '—' : `${ratio.toFixed(ratio >= 10 ? 1 : 3)}×`;
}

export function formatTarget(target: Target, unit: string): string {
  if (!hasConditions(target)) return '—';
  const parts: string[] = [];
  if (target.ratioMin !== undefined) parts.push(`ratio ≥ ${target.ratioMin}`);
  if (target.ratioMax !== undefined) parts.push(`ratio ≤ ${target.ratioMax}×`);
  if (target.diffMax !== undefined) parts.push(`≤ peer + ${target.diffMax} ${unit}`);
  if (target.oursMin !== undefined) parts.push(`≥ ${formatNumber(target.oursMin)} ${unit}`);
  if (target.oursMax !== undefined) parts.push(`≤ ${formatNumber(target.oursMax)} ${unit}`);
  return parts.join(' and ');
}

const HEADERS = ['metric', 'ours', 'peer', 'ratio', 'target', 'result'] as const;

function cells(row: EvaluatedRow): string[] {
  return [
    row.metric,
    formatValue(row.ours, row.unit),
    row.peer === null && row.peerLabel === undefined ? '—' : formatValue(row.peer, row.unit),
    formatRatio(row.ratio),
    formatTarget(row.target, row.unit),
    row.status === 'not measured' ? `NOT MEASURED` : row.status.toUpperCase(),
  ];
}

/** A fixed-width table for the terminal; notes (reasons, caveats) follow it, numbered. */
export function formatTable(rows: readonly EvaluatedRow[]): string {
  const body = rows.map(cells);
  const widths = HEADERS.map((h, i) =>
    Math.max([...h].length, ...body.map((r) => [...(r[i] ?? '')].length)),
  );
  const pad = (text: string, width: number, right: boolean) => {
    const fill = ' '.repeat(Math.max(0, width - [...text].length));
    return right ? fill + text : text + fill;
  };
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => pad(v, widths[i] ?? 0, i >= 1 && i <= 3))
      .join('  ')
      .trimEnd();
  const out = [line(HEADERS), widths.map((w) => '-'.repeat(w)).join('  ')];
  const notes: string[] = [];
  rows.forEach((row, i) => {
    let text = line(body[i] ?? []);
    if (row.note) {
      notes.push(`[${notes.length + 1}] ${row.metric}: ${row.note}`);
      text += `  [${notes.length}]`;
    }
    out.push(text);
  });
  const passed = rows.filter((r) => r.status === 'pass').length;
  const failed = rows.filter((r) => r.status === 'fail').length;
  const missing = rows.filter((r) => r.status === 'not measured').length;
  out.push('', `${passed} pass, ${failed} fail, ${missing} not measured`);
  if (notes.length > 0) out.push('', ...notes);
  return out.join('\n');
}

function escapeMarkdown(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll('|', '\\|').replaceAll('\n', ' ');
}

export function toMarkdown(rows: readonly EvaluatedRow[], meta: RunMeta): string {
  const lines = [
    `# SecureVault benchmark${meta.quick ? ' (quick)' : ''}`,
    '',
    `${meta.startedAt} to ${meta.finishedAt}, Node ${meta.node}, ${meta.cpus} × ${meta.cpuModel}; ` +
      `median of ${meta.repetitions} repetitions per side, each pair back to back.`,
    '',
    `| ${HEADERS.join(' | ')} | note |`,
    `| ${HEADERS.map(() => '---').join(' | ')} | --- |`,
    ...rows.map(
      (row) => `| ${[...cells(row), row.note ?? ''].map((c) => escapeMarkdown(c)).join(' | ')} |`,
    ),
    '',
    '## Settings',
    '',
    ...Object.entries(meta.settings).map(([k, v]) => `- \`${k}\` = ${escapeMarkdown(String(v))}`),
    '',
  ];
  return lines.join('\n');
}

export function toJson(rows: readonly EvaluatedRow[], meta: RunMeta): string {
  return `${JSON.stringify({ meta, rows }, null, 2)}\n`;
}

function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;');
}

const COLORS: Record<Verdict, string> = {
  pass: '#2e7d32',
  fail: '#c62828',
  'not measured': '#9e9e9e',
  info: '#1565c0',
};

/**
 * One horizontal bar per row with a target: its length is how far the row is from its target
 * (the dashed line; longer is better), clipped at 3× the target. Rows not measured show their
 * reason instead of a bar. Self-contained SVG: no fonts or scripts to load.
 */
export function toSvg(rows: readonly EvaluatedRow[], meta: RunMeta): string {
  const charted = rows.filter((r) => hasConditions(r.target));
  const labelWidth = 360;
  const barArea = 420;
  const valueWidth = 480;
  const rowHeight = 24;
  const top = 64;
  const maxScore = 3;
  const width = labelWidth + barArea + valueWidth + 20;
  const height = top + charted.length * rowHeight + 40;
  const x = (score: number) => labelWidth + (Math.min(score, maxScore) / maxScore) * barArea;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="10" y="22" font-size="16" font-weight="bold">${escapeXml(
      `SecureVault benchmark${meta.quick ? ' (quick)' : ''}: distance to target`,
    )}</text>`,
    `<text x="10" y="42" fill="#555">${escapeXml(
      `${meta.startedAt}, Node ${meta.node}, ${meta.cpus} CPUs. Bar = how far past the target (dashed line = exactly on target, longer is better, clipped at 3×).`,
    )}</text>`,
  ];
  const targetX = x(1);
  charted.forEach((row, i) => {
    const y = top + i * rowHeight;
    const score = targetScore(row.target, row.ours, row.peer);
    parts.push(
      `<text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end">${escapeXml(row.metric)}</text>`,
    );
    if (score === null) {
      parts.push(
        `<text x="${labelWidth + 4}" y="${y + 15}" fill="${COLORS['not measured']}">${escapeXml(
          `not measured${row.note ? `: ${row.note}` : ''}`.slice(0, 110),
        )}</text>`,
      );
      return;
    }
    const barWidth = Math.max(1, x(score) - labelWidth);
    parts.push(
      `<rect x="${labelWidth}" y="${y + 4}" width="${barWidth.toFixed(1)}" height="${rowHeight - 8}" fill="${COLORS[row.status]}"/>`,
      `<text x="${labelWidth + barArea + 8}" y="${y + 15}">${escapeXml(
        `${row.status.toUpperCase()} ${formatValue(row.ours, row.unit)}${
          row.ratio !== null ? ` (${formatRatio(row.ratio)})` : ''
        }, target ${formatTarget(row.target, row.unit)}`,
      )}</text>`,
    );
  });
  parts.push(
    `<line x1="${targetX}" y1="${top - 4}" x2="${targetX}" y2="${top + charted.length * rowHeight + 4}" stroke="#000" stroke-dasharray="4 3"/>`,
    `<text x="${targetX}" y="${top + charted.length * rowHeight + 20}" text-anchor="middle" fill="#555">target</text>`,
    '</svg>',
  );
  return `${parts.join('\n')}\n`;
}
