/** The trend of a pool's connections: the least-squares slope and its verdict. */

/** Fewest points for a least-squares slope worth reporting. */
export const MIN_SLOPE_POINTS = 3;

export type Trend = 'climbing' | 'flat' | 'falling' | 'unknown';

/** Least-squares slope of `points` ([ms, value]) in value per minute; null with fewer than MIN_SLOPE_POINTS finite points. */
export function slopePerMinute(points: ReadonlyArray<[number, number]>): number | null {
  const pts = points.filter(([, v]) => Number.isFinite(v));
  if (pts.length < MIN_SLOPE_POINTS) return null;
  const t0 = pts[0]![0];
  const xs = pts.map(([t]) => (t - t0) / 60_000);
  const ys = pts.map(([, v]) => v);
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? null : num / den;
}

/** `slope` (per minute) as a verdict: within ±`flat` is flat; null is unknown. */
export function trendOf(slope: number | null, flat: number): Trend {
  return slope === null ? 'unknown' : slope > flat ? 'climbing' : slope < -flat ? 'falling' : 'flat';
}
