/**
 * Formatting of numbers, durations and queries in evidence and action lines. Lines go into
 * Slack sections (3,000 characters each), so every list and query is capped here.
 */
import { formatDuration } from '../core/duration';

/** Longest query text quoted in one line; pg_stat_activity itself cuts at 1,024 bytes. */
export const QUERY_MAX_CHARS = 160;
/** Most pids or endpoints named in one line before "and N more". */
export const LIST_MAX_ITEMS = 5;
/** Most `pg_terminate_backend` lines a cause suggests, one per session; the rest as one statement. */
export const TERMINATE_MAX_LINES = 5;

/** Clamps to 0..1 (NaN becomes 0). */
export function clamp01(x: number): number {
  return Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0;
}

/** A duration in evidence (core/duration.ts), "an unknown time" where it was not measured. */
export function fmtMs(ms: number | null): string {
  return ms === null ? 'an unknown time' : formatDuration(ms);
}

/** 2.10x */
export function fmtRatio(r: number): string {
  return `${r.toFixed(2)}x`;
}

/** 12.3/s */
export function fmtRate(r: number): string {
  return `${r >= 100 ? Math.round(r) : r.toFixed(1)}/s`;
}

/** An integer as is, else two decimals at most. */
export function fmtNum(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Math.round(n * 100) / 100);
}

/** Whitespace collapsed and cut at QUERY_MAX_CHARS with a visible "…". */
export function shortQuery(q: string): string {
  const one = q.replace(/\s+/g, ' ').trim();
  if (one.length === 0) return '(no query text)';
  return one.length > QUERY_MAX_CHARS ? `${one.slice(0, QUERY_MAX_CHARS - 1)}…` : one;
}

/** "4711, 4712, 4713" or "4711, …, 4715 and 3 more". */
export function listItems(items: ReadonlyArray<string | number>, max = LIST_MAX_ITEMS): string {
  const shown = items.slice(0, max).join(', ');
  return items.length > max ? `${shown} and ${items.length - max} more` : shown;
}

/** "1 session" / "3 sessions" */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/** A rule's final score: clamped to 0..MAX_CONFIDENCE (NaN becomes 0). */
export function capConfidence(x: number, max: number): number {
  return Math.min(max, clamp01(x));
}
