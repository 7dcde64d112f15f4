/**
 * Log timestamps to instants. A timestamp with a zone (`Z`, `+02:00`, `+0200`) is exact; one
 * without a zone (`2024-05-14 11:12:02.118`, the default of Spring Boot, logback and Python's
 * logging) is a wall-clock time in the zone the application writes in, `sources.logs[].timezone`
 * (an IANA name such as Europe/Berlin; default UTC). Zone rules come from the runtime's ICU data
 * through Intl.DateTimeFormat.
 */

/** `YYYY-MM-DD[T ]hh:mm:ss[.,fraction][ ][zone]` at the start of a string. */
const TS = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?(?: ?(Z|[+-]\d\d(?::?\d\d)?))?/;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** Whether this runtime knows `zone` (an IANA name, `UTC`, or a `±hh:mm` offset). */
export function isTimeZone(zone: string): boolean {
  if (!zone.trim()) return false;
  try {
    formatter(zone);
    return true;
  } catch {
    return false;
  }
}

/** Offsets looked up, per zone and minute: a line-by-line read asks for the same few minutes again and again. */
const OFFSET_CACHE_MAX = 10_000;
const offsets = new Map<string, number>();

/** The zone's offset from UTC at `epochMs`, milliseconds (east positive), to the second. */
export function zoneOffsetMs(zone: string, epochMs: number): number {
  if (zone === 'UTC') return 0;
  const minute = Math.floor(epochMs / 60_000);
  const key = `${zone}|${minute}`;
  const hit = offsets.get(key);
  if (hit !== undefined) return hit;
  const p: Record<string, number> = {};
  for (const part of formatter(zone).formatToParts(new Date(minute * 60_000))) if (part.type !== 'literal') p[part.type] = Number(part.value);
  const wall = Date.UTC(p.year!, p.month! - 1, p.day, p.hour, p.minute, p.second);
  const off = wall - minute * 60_000;
  if (offsets.size >= OFFSET_CACHE_MAX) offsets.clear();
  offsets.set(key, off);
  return off;
}

const DAY_MS = 86_400_000;

/**
 * The instant of a wall-clock time (given as if it were UTC, `wallAsUtcMs`) in `zone`. A wall
 * time that happens twice (the hour a daylight-saving time ends) is read as the first one; one
 * that never happens (skipped when it starts) is read with the offset before the change, so it
 * lands just after it.
 */
export function zonedWallTimeToEpochMs(wallAsUtcMs: number, zone: string): number {
  if (zone === 'UTC') return wallAsUtcMs;
  const before = zoneOffsetMs(zone, wallAsUtcMs - DAY_MS);
  const after = zoneOffsetMs(zone, wallAsUtcMs + DAY_MS);
  const fits = (off: number) => zoneOffsetMs(zone, wallAsUtcMs - off) === off;
  const candidates = [wallAsUtcMs - before, wallAsUtcMs - after].filter((t, i) => fits(i === 0 ? before : after));
  return candidates.length ? Math.min(...candidates) : wallAsUtcMs - before;
}

/** A timestamp read from the start of a string. */
export interface ParsedTimestamp {
  /** Epoch milliseconds; nanoseconds are cut, not rounded. */
  ms: number;
  /** False when the text had no zone and `zone` was applied. */
  zoned: boolean;
  /** Characters of the timestamp in the text (a following space included). */
  length: number;
}

/** Reads an ISO-8601/RFC 3339 timestamp at the start of `text`; a zone-less one is in `zone`. Null when there is none or it is not a valid date. */
export function parseLeadingTimestamp(text: string, zone: string): ParsedTimestamp | null {
  const m = TS.exec(text);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return null;
  const frac = m[7] ? Number(m[7].slice(0, 3).padEnd(3, '0')) : 0;
  const wall = Date.UTC(y, mo - 1, d, h, mi, Math.min(s, 59), frac);
  if (new Date(wall).getUTCDate() !== d) return null; // 2024-02-31
  const z = m[8];
  let ms: number;
  if (z === undefined) ms = zonedWallTimeToEpochMs(wall, zone);
  else if (z === 'Z') ms = wall;
  else {
    const digits = z.slice(1).replace(':', '');
    const off = (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || '0')) * 60_000;
    ms = wall - (z[0] === '+' ? off : -off);
  }
  const length = m[0].length + (text[m[0].length] === ' ' ? 1 : 0);
  return { ms, zoned: z !== undefined, length };
}
