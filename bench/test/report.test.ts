// The benchmark runner's pure parts: statistics, target verdicts and the four output formats.
// Nothing here times anything: timings belong to `make benchmark`, never to `make test`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  evaluate,
  formatTable,
  formatTarget,
  toJson,
  toMarkdown,
  toSvg,
  type Row,
  type RunMeta,
} from '../lib/report.ts';
import { median, percentile, ratioOf, targetScore, verdict } from '../lib/stats.ts';
import { copyField } from '../peers/pg-copy.ts';

const meta: RunMeta = {
  startedAt: '2026-11-21T09:00:00.000Z',
  finishedAt: '2026-11-21T09:03:00.000Z',
  quick: true,
  node: 'v24.0.0',
  cpus: 2,
  cpuModel: 'Test CPU',
  repetitions: 3,
  settings: { sat: 2, RATE_LIMIT_API_PER_MINUTE: '1000000' },
};

const rows: Row[] = [
  {
    id: 'health-rps',
    metric: 'GET /api/health',
    unit: 'req/s',
    ours: 9000,
    peer: 10000,
    target: { ratioMin: 0.8 },
  },
  {
    id: 'jobs',
    metric: 'jobs/s',
    unit: 'jobs/s',
    ours: 500,
    peer: 1000,
    target: { ratioMin: 0.7 },
  },
  {
    id: 'ttfe',
    metric: 'first chunk p99',
    unit: 'ms',
    ours: 12,
    peer: 10,
    target: { diffMax: 5 },
  },
  {
    id: 'emails',
    metric: 'emails/s',
    unit: 'emails/s',
    ours: null,
    peer: null,
    target: { ratioMin: 0.25, oursMin: 500 },
    note: 'the sink <did not> answer | at all',
  },
  { id: 'p50', metric: 'p50 & co', unit: 'ms', ours: 1.5, peer: 2, target: {} },
];

void describe('statistics', () => {
  void it('takes the median of odd and even counts, ignoring non-finite samples', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([5, Number.NaN, 1, 3]), 3);
    assert.ok(Number.isNaN(median([])));
  });

  void it('picks percentiles by nearest rank, always an observed value', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentile(values, 50), 50);
    assert.equal(percentile(values, 95), 95);
    assert.equal(percentile(values, 99), 99);
    assert.equal(percentile(values, 100), 100);
    assert.equal(percentile([7], 99), 7);
    assert.equal(percentile([10, 1], 50), 1);
    assert.ok(Number.isNaN(percentile([], 50)));
    assert.throws(() => percentile(values, 0), RangeError);
    assert.throws(() => percentile(values, 101), RangeError);
  });

  void it('gives no ratio without both sides or with a zero peer', () => {
    assert.equal(ratioOf(5, 10), 0.5);
    assert.equal(ratioOf(null, 10), null);
    assert.equal(ratioOf(5, null), null);
    assert.equal(ratioOf(5, 0), null);
    assert.equal(ratioOf(Number.NaN, 1), null);
  });
});

void describe('verdicts', () => {
  void it('passes a ratio at or above its minimum and fails below', () => {
    assert.equal(verdict({ ratioMin: 0.8 }, 80, 100), 'pass');
    assert.equal(verdict({ ratioMin: 0.8 }, 79.9, 100), 'fail');
  });

  void it('bounds a ratio from above (p99 under load vs idle)', () => {
    assert.equal(verdict({ ratioMax: 1.5 }, 15, 10), 'pass');
    assert.equal(verdict({ ratioMax: 1.5 }, 15.1, 10), 'fail');
  });

  void it('bounds an absolute difference (time to first event)', () => {
    assert.equal(verdict({ diffMax: 5 }, 15, 10), 'pass');
    assert.equal(verdict({ diffMax: 5 }, 15.01, 10), 'fail');
  });

  void it('needs every condition: a good ratio with a low absolute value fails', () => {
    const target = { ratioMin: 0.25, oursMin: 500 };
    assert.equal(verdict(target, 400, 1000), 'fail');
    assert.equal(verdict(target, 600, 3000), 'fail');
    assert.equal(verdict(target, 600, 1000), 'pass');
  });

  void it('checks absolute limits without a peer (memory, start-up)', () => {
    assert.equal(verdict({ oursMax: 100 }, 99, null), 'pass');
    assert.equal(verdict({ oursMax: 100 }, 101, null), 'fail');
  });

  void it('never passes what was not measured', () => {
    assert.equal(verdict({ ratioMin: 0.8 }, null, 100), 'not measured');
    assert.equal(verdict({ ratioMin: 0.8 }, 100, null), 'not measured');
    assert.equal(verdict({ oursMax: 100 }, Number.NaN, null), 'not measured');
    assert.equal(verdict({}, 3, 4), 'info');
    assert.equal(verdict({}, null, 4), 'not measured');
  });

  void it('scores the distance to the target for the chart (1 = exactly on target)', () => {
    assert.equal(targetScore({ ratioMin: 0.5 }, 50, 100), 1);
    assert.equal(targetScore({ oursMax: 100 }, 50, null), 2);
    assert.equal(targetScore({ diffMax: 5 }, 12.5, 10), 2);
    assert.equal(targetScore({ ratioMin: 0.25, oursMin: 500 }, 250, 500), 0.5);
    assert.equal(targetScore({ ratioMin: 0.8 }, null, 100), null);
  });
});

void describe('outputs', () => {
  const evaluated = rows.map(evaluate);

  void it('prints one aligned table with every row, its verdict and numbered notes', () => {
    const table = formatTable(evaluated);
    const lines = table.split('\n');
    assert.match(lines[0] ?? '', /^metric\s+ours\s+peer\s+ratio\s+target\s+result$/);
    assert.ok(table.includes('9,000 req/s'));
    assert.ok(table.includes('0.900×'));
    assert.match(table, /GET \/api\/health .* PASS/);
    assert.match(table, /jobs\/s .* FAIL/);
    assert.match(table, /emails\/s .* NOT MEASURED {2}\[1\]/);
    assert.ok(table.includes('[1] emails/s: the sink <did not> answer | at all'));
    assert.ok(table.includes('2 pass, 1 fail, 1 not measured'));
    // Rows line up: the ratio column starts at the same place on every row.
    const at = lines.slice(2, 2 + rows.length).map((l) => l.indexOf('×'));
    assert.equal(new Set(at.filter((i) => i >= 0)).size, 1);
  });

  void it('describes targets in words a reader can check', () => {
    assert.equal(formatTarget({ ratioMin: 0.8 }, 'req/s'), 'ratio ≥ 0.8');
    assert.equal(formatTarget({ ratioMax: 1.5 }, 'ms'), 'ratio ≤ 1.5×');
    assert.equal(formatTarget({ diffMax: 5 }, 'ms'), '≤ peer + 5 ms');
    assert.equal(
      formatTarget({ ratioMin: 0.25, oursMin: 500 }, 'emails/s'),
      'ratio ≥ 0.25 and ≥ 500 emails/s',
    );
    assert.equal(formatTarget({}, 'ms'), '—');
  });

  void it('writes Markdown with escaped cells and the settings', () => {
    const md = toMarkdown(evaluated, meta);
    assert.ok(md.startsWith('# SecureVault benchmark (quick)\n'));
    assert.ok(md.includes('| metric | ours | peer | ratio | target | result | note |'));
    assert.ok(md.includes('the sink <did not> answer \\| at all'));
    assert.ok(md.includes('- `RATE_LIMIT_API_PER_MINUTE` = 1000000'));
    // One table row per result row, each with the same number of cells as the header.
    const tableRows = md.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| ---'));
    assert.equal(tableRows.length, rows.length + 1);
    for (const line of tableRows) assert.equal(line.split(/(?<!\\)\|/).length, 9, line);
  });

  void it('writes JSON that reads back with verdicts and ratios', () => {
    const doc = JSON.parse(toJson(evaluated, meta)) as {
      meta: RunMeta;
      rows: Array<{ id: string; ratio: number | null; status: string }>;
    };
    assert.deepEqual(doc.meta, meta);
    assert.deepEqual(
      doc.rows.map((r) => [r.id, r.status]),
      [
        ['health-rps', 'pass'],
        ['jobs', 'fail'],
        ['ttfe', 'pass'],
        ['emails', 'not measured'],
        ['p50', 'info'],
      ],
    );
    assert.equal(doc.rows[0]?.ratio, 0.9);
  });

  void it('draws a well-formed SVG: one bar per measured row with a target, text escaped', () => {
    const svg = toSvg(evaluated, meta);
    assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    // Bars for the three measured rows with targets; the background is the one other rect.
    assert.equal((svg.match(/<rect /g) ?? []).length, 1 + 3);
    assert.ok(svg.includes('fill="#2e7d32"') && svg.includes('fill="#c62828"'));
    assert.ok(svg.includes('not measured: the sink &lt;did not&gt; answer | at all'));
    assert.ok(!svg.includes('<did not>'));
    // The info row (no target) is not charted.
    assert.ok(!svg.includes('p50 &amp; co'));
    // Every opened text element is closed.
    assert.equal((svg.match(/<text /g) ?? []).length, (svg.match(/<\/text>/g) ?? []).length);
  });
});

void describe('COPY text format', () => {
  void it('escapes what COPY would misread and writes null as \\N', () => {
    assert.equal(copyField(null), '\\N');
    assert.equal(copyField(undefined), '\\N');
    assert.equal(copyField('a\tb\nc\\d\re'), 'a\\tb\\nc\\\\d\\re');
    assert.equal(copyField(new Date('2026-01-02T03:04:05.000Z')), '2026-01-02T03:04:05.000Z');
    assert.equal(copyField({ k: 'v\n' }), '{"k":"v\\\\n"}');
    assert.equal(copyField(42), '42');
  });
});
