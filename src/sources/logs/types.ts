import type { SourceQuery } from '../../core/diagnostic';
import { parseLeadingTimestamp } from './time';

/** One log line as read from a source; `time` is ISO-8601 (milliseconds) where the source gave one. */
export interface LogLine {
  time: string | null;
  text: string;
  /** Where in the source the line came from, where a source reads several places (Kubernetes: `pod/container`, `pod/container (previous)`). */
  origin?: string;
  /** The line as the application wrote it, where the reader cut its leading timestamp from `text` (file sources). */
  raw?: string;
}

/** What a read returns. */
export interface LogReadResult {
  /** Oldest first. */
  lines: LogLine[];
  /** Lines the source handed over (before the enricher's own filter). */
  scanned: number;
  /** Bytes actually read from the source. */
  bytesRead: number;
  /** The query sent, where the source has one (Loki), for notifiers to link. */
  query?: SourceQuery;
  /**
   * What this read could not see while the rest was read (a pod that is gone, a namespace it may
   * not read, a pod that did not answer in time, the alert's pod outside the configured selection):
   * one line each, for the enricher's section. Absent or empty when nothing was missed.
   */
  problems?: string[];
  /** Lines whose time was written without a zone and read in the source's `timezone`. */
  zoneless?: number;
}

export interface LogReadOptions {
  signal: AbortSignal;
  /** The run's reference time (Loki's `end`). */
  now: Date;
  /** The enricher's line filter, which a source that filters server-side (Loki) applies too. */
  filter: { pattern: string; caseInsensitive: boolean };
  /**
   * The alert group's common labels. A source may use them to narrow what it reads within its own
   * configuration (Kubernetes: `namespace`, `pod`, `container`), never to read anything else.
   */
  labels?: Readonly<Record<string, string>>;
}

/** A configured log source. `read` honours the signal and the source's `timeoutMs`; it throws LogSourceError. */
export interface LogReader {
  readonly name: string;
  readonly kind: 'docker' | 'file' | 'loki' | 'kubernetes';
  read(opts: LogReadOptions): Promise<LogReadResult>;
}

/** A failed read; `timeout` true when the source did not answer in time. The message names no secret. */
export class LogSourceError extends Error {
  constructor(
    message: string,
    readonly timeout = false,
  ) {
    super(message);
    this.name = timeout ? 'TimeoutError' : 'LogSourceError';
  }
}

/** Longest line kept, characters (Docker splits its own log entries at 16 KiB). */
export const MAX_LINE_CHARS = 8_192;
/** Most bytes read from any source in one run. */
export const MAX_READ_BYTES = 16 * 1024 * 1024;

/** `line` cut to MAX_LINE_CHARS with a marker. */
export function capLine(line: string): string {
  return line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS - 1)}…` : line;
}

/**
 * An ISO/RFC 3339(Nano) timestamp at the start of `text` → ISO milliseconds, and the rest of the
 * line; nanoseconds are cut, not rounded. A timestamp without a zone is a wall-clock time in
 * `zone` (`sources.logs[].timezone`, default UTC); `zoneless` says it had none.
 */
export function splitLeadingTimestamp(text: string, zone = 'UTC'): { time: string | null; rest: string; zoneless: boolean } {
  const t = parseLeadingTimestamp(text, zone);
  if (!t) return { time: null, rest: text, zoneless: false };
  return { time: new Date(t.ms).toISOString(), rest: text.slice(t.length), zoneless: !t.zoned };
}

/** Combines the caller's signal with the source's own timeout; `timedOut()` tells which fired. */
export function withTimeout(signal: AbortSignal, timeoutMs: number): { signal: AbortSignal; timedOut: () => boolean } {
  const t = AbortSignal.timeout(timeoutMs);
  return { signal: AbortSignal.any([signal, t]), timedOut: () => t.aborted && !signal.aborted };
}
