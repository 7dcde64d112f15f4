/**
 * The one way pagefirst writes a duration for people (evidence, sections, Slack): 850 ms, 4.2 s,
 * 42 s, 5m 02s, 2h 03m, 3d 04h. Precision falls as durations grow: a wait of 4.2 s and an alert
 * firing for 3d 04h are both read at a glance.
 */

/** `ms` (milliseconds, finite and >= 0) as text; anything else is "unknown". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return 'unknown';
  // each step starts where the previous one would round up to it (999.6 ms is "1.0 s", not "1000 ms")
  if (ms < 999.5) return `${Math.round(ms)} ms`;
  if (ms < 9_950) return `${(ms / 1_000).toFixed(1)} s`;
  const s = Math.round(ms / 1_000);
  if (s < 60) return `${s} s`;
  const two = (n: number) => String(n).padStart(2, '0');
  if (s < 3_600) return `${Math.floor(s / 60)}m ${two(s % 60)}s`;
  const h = Math.floor(s / 3_600);
  if (h < 48) return `${h}h ${two(Math.floor((s % 3_600) / 60))}m`;
  return `${Math.floor(h / 24)}d ${two(h % 24)}h`;
}
