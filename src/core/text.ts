/**
 * A value read from untyped input (a JSON log line, a PostgreSQL/PgBouncer row) as text: strings,
 * numbers, booleans and bigints as `String()` writes them, null/undefined as `fallback`, anything
 * else (an object or array where a scalar was expected) as its JSON rather than "[object Object]".
 */
export function scalarText(v: unknown, fallback = ''): string {
  if (v === null || v === undefined) return fallback;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v) ?? fallback;
}
