// Per-day statistics as the dashboard draws them.

export interface Counts {
  emailsSent: number;
  emailsFailed: number;
  generations: number;
  promptTokens: number;
  completionTokens: number;
}

const ZERO: Counts = {
  emailsSent: 0,
  emailsFailed: 0,
  generations: 0,
  promptTokens: 0,
  completionTokens: 0,
};

/** Every day from `from` to today (UTC), zero where the report has no row: gaps are real zeros. */
export function everyDay(
  from: string,
  days: Array<Counts & { day: string }>,
  today = new Date(),
): Array<Counts & { day: string }> {
  const byDay = new Map(days.map((d) => [d.day, d]));
  const out: Array<Counts & { day: string }> = [];
  const end = today.toISOString().slice(0, 10);
  for (let t = Date.parse(`${from}T00:00:00Z`); out.length < 366; t += 86_400_000) {
    const day = new Date(t).toISOString().slice(0, 10);
    if (day > end) break;
    out.push(byDay.get(day) ?? { ...ZERO, day });
  }
  return out;
}
