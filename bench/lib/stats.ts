// The benchmark's pure arithmetic: medians, percentiles, ratios and whether a row meets its target.

/** The middle value (mean of the two middle ones for an even count); NaN for no samples. */
export function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const mid = Math.floor(finite.length / 2);
  return finite.length % 2 === 1
    ? (finite[mid] as number)
    : ((finite[mid - 1] as number) + (finite[mid] as number)) / 2;
}

/**
 * The p-th percentile (0 < p <= 100) by nearest rank: the smallest sample with at least p % of the
 * samples at or below it. Always a value that was really observed, never an interpolation.
 */
export function percentile(values: readonly number[], p: number): number {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/** ours / peer, or null when either is missing or the peer is 0 (no meaningful ratio). */
export function ratioOf(ours: number | null, peer: number | null): number | null {
  if (ours === null || peer === null || !Number.isFinite(ours) || !Number.isFinite(peer))
    return null;
  if (peer === 0) return null;
  return ours / peer;
}

/**
 * A row's target: every condition given must hold. ratioMin/ratioMax bound ours/peer,
 * diffMax bounds ours - peer (same unit), oursMin/oursMax bound our absolute value.
 */
export interface Target {
  ratioMin?: number;
  ratioMax?: number;
  diffMax?: number;
  oursMin?: number;
  oursMax?: number;
}

export type Verdict = 'pass' | 'fail' | 'not measured' | 'info';

export function hasConditions(target: Target): boolean {
  return Object.values(target).some((v) => v !== undefined);
}

/** Pass only when every condition of the target is met by a real measurement. */
export function verdict(target: Target, ours: number | null, peer: number | null): Verdict {
  if (!hasConditions(target)) return ours === null ? 'not measured' : 'info';
  if (ours === null || !Number.isFinite(ours)) return 'not measured';
  const needsPeer =
    target.ratioMin !== undefined || target.ratioMax !== undefined || target.diffMax !== undefined;
  if (needsPeer && (peer === null || !Number.isFinite(peer))) return 'not measured';
  const ratio = ratioOf(ours, peer);
  const checks: boolean[] = [];
  if (target.ratioMin !== undefined) checks.push(ratio !== null && ratio >= target.ratioMin);
  if (target.ratioMax !== undefined) checks.push(ratio !== null && ratio <= target.ratioMax);
  if (target.diffMax !== undefined) checks.push(ours - (peer as number) <= target.diffMax);
  if (target.oursMin !== undefined) checks.push(ours >= target.oursMin);
  if (target.oursMax !== undefined) checks.push(ours <= target.oursMax);
  return checks.every(Boolean) ? 'pass' : 'fail';
}

/**
 * How far a row is from its target on one scale for the chart: 1 is exactly at the target, above
 * 1 is better than needed. Uses the tightest condition; null when nothing can be compared.
 */
export function targetScore(
  target: Target,
  ours: number | null,
  peer: number | null,
): number | null {
  if (ours === null || !Number.isFinite(ours)) return null;
  const ratio = ratioOf(ours, peer);
  const scores: number[] = [];
  if (target.ratioMin !== undefined && ratio !== null) scores.push(ratio / target.ratioMin);
  if (target.ratioMax !== undefined && ratio !== null && ratio > 0)
    scores.push(target.ratioMax / ratio);
  if (target.diffMax !== undefined && peer !== null) {
    // Allowed extra over what is used: +5 ms allowed and +2.5 ms used scores 2.
    const used = ours - peer;
    scores.push(used <= 0 ? 4 : Math.min(4, target.diffMax / used));
  }
  if (target.oursMin !== undefined && target.oursMin > 0) scores.push(ours / target.oursMin);
  if (target.oursMax !== undefined && ours > 0) scores.push(target.oursMax / ours);
  return scores.length === 0 ? null : Math.min(...scores);
}
