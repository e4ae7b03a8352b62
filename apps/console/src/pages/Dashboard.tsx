// Dashboard: emails and generations per day, failures and tokens, from GET /api/stats.
import { useState } from 'react';
import { api } from '../api.ts';
import { useTitle } from '../router.tsx';
import { hasScope, useMe } from '../session.ts';
import { Chart } from '../components/Chart.tsx';
import { Loading, Notice, Time, useLoad } from '../components/ui.tsx';
import { everyDay, type Counts } from '../days.ts';

interface Stats {
  refreshedAt: string;
  from: string;
  totals: Counts;
  days: Array<Counts & { day: string }>;
  scope: 'global' | 'user';
  cache: { hit: boolean; cachedAt: string; ageSeconds: number; ttlSeconds: number };
}

const number = new Intl.NumberFormat();

/** The total cards: what is counted, and how. */
const TOTALS: ReadonlyArray<readonly [string, (c: Counts) => number]> = [
  ['emails sent', (c) => c.emailsSent],
  ['emails failed', (c) => c.emailsFailed],
  ['generations', (c) => c.generations],
  ['tokens', (c) => c.promptTokens + c.completionTokens],
];

/** The charts: each series names the per-day count it draws. */
const CHARTS: ReadonlyArray<{
  title: string;
  kind: 'line' | 'bar';
  series: ReadonlyArray<readonly [string, keyof Counts]>;
}> = [
  {
    title: 'Emails per day',
    kind: 'line',
    series: [
      ['Sent', 'emailsSent'],
      ['Failed', 'emailsFailed'],
    ],
  },
  { title: 'Generations per day', kind: 'bar', series: [['Generations', 'generations']] },
  {
    title: 'Tokens per day',
    kind: 'bar',
    series: [
      ['Prompt', 'promptTokens'],
      ['Completion', 'completionTokens'],
    ],
  },
];

export function Dashboard() {
  useTitle('Dashboard');
  const me = useMe();
  const [days, setDays] = useState(14);
  const allowed = hasScope(me, 'stats:read');
  const stats = useLoad(
    (signal) =>
      allowed ? api<Stats>(`/api/stats?days=${days}`, { signal }) : Promise.resolve(undefined),
    String(days),
  );
  const s = stats.data;
  const series = s ? everyDay(s.from, s.days) : [];
  const labels = series.map((d) => d.day);

  return (
    <section>
      <div className="page-head">
        <h1 tabIndex={-1}>Dashboard</h1>
        <label className="inline">
          Period{' '}
          <select value={days} onChange={(e) => setDays(Number(e.target.value))}>
            <option value={7}>7 days</option>
            <option value={14}>14 days</option>
            <option value={30}>30 days</option>
            <option value={90}>90 days</option>
          </select>
        </label>
      </div>
      {!allowed ? <Notice kind="info">Your account cannot read statistics.</Notice> : null}
      {stats.error ? <Notice kind="error">{stats.error}</Notice> : null}
      {allowed && stats.loading && !s ? <Loading what="statistics" /> : null}
      {s ? (
        <>
          <p className="muted">
            {s.scope === 'global' ? 'Everyone on this installation' : 'Your activity'}, since{' '}
            {s.from}. Counted at <Time iso={s.refreshedAt} />; numbers refresh every few minutes.
          </p>
          <ul className="cards" aria-label="Totals">
            {TOTALS.map(([label, count]) => (
              <li key={label}>
                <span className="card-value">{number.format(count(s.totals))}</span> {label}
              </li>
            ))}
          </ul>
          <div className="charts">
            {CHARTS.map((chart) => (
              <Chart
                key={chart.title}
                title={chart.title}
                kind={chart.kind}
                labels={labels}
                series={chart.series.map(([name, field]) => ({
                  name,
                  values: series.map((d) => d[field]),
                }))}
              />
            ))}
          </div>
        </>
      ) : null}
    </section>
  );
}
