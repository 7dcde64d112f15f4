import type { LogLine } from '../../sources/logs';
import { classifyText, EVENT_CLASSES, type Classification, type EventClass } from './classify';
import { EventFolder, type LogEvent } from './events';
import { formatLocation, type CodeLocation } from './frames';
import { lineQuality, stripAnsi } from './input';
import { leakWarning } from './leaks';
import { parseStructured, structuredDisplay, structuredText, type StructuredLine } from './structured';

/**
 * The logs enricher's reading of what its sources returned, without I/O: lines are judged
 * (binary, invalid UTF-8), folded into events, read as JSON where they are, filtered by the
 * runbook's pattern and the alert's window, classified by the signature table, grouped by shape
 * and counted, with leak warnings and their code locations collected. Memory holds the groups,
 * the newest events and the leak locations, never all events.
 */

/** One source's lines, oldest first. */
export interface SourceLines {
  name: string;
  lines: Iterable<LogLine>;
  /** `sources.logs[].multiline.start`, compiled. */
  multiline?: RegExp;
}

export interface AnalyzeOptions {
  /** The runbook's filter (`enrichers.logs.filter`), tested on an event's message and error text only. */
  filter: RegExp;
  /** Also keep an event a signature row recognises although the filter misses it (`enrichers.logs.matchSignals`). */
  matchSignatures: boolean;
  /** Events with a time outside [from, to] (epoch ms) are left out; null: no window. */
  window: { from: number; to: number } | null;
  /** Newest matching events kept whole. */
  newest: number;
  /** Replaces secrets in text shown (masking happens before anything is kept). */
  mask: (text: string) => string;
  /** The shape events are grouped by (numbers, ids and quoted strings replaced). */
  shape: (text: string) => string;
}

/** A matching event as shown and counted. */
export interface MatchedEvent {
  source: string;
  /** Where in the source (a Kubernetes pod/container), when the source reads several places. */
  origin?: string;
  /** Its own time, else the time of the line before it in its source. */
  time: string | null;
  /** One line: `LEVEL message — Type: error` for JSON, else the first line (with the line that classified it, where that is another). Secrets masked. */
  display: string;
  /** Further message lines (causes, libpq detail), masked. */
  details: string[];
  classification: Classification | null;
  lineCount: number;
}

export interface Group {
  shape: string;
  count: number;
  firstSeen: string | null;
  lastSeen: string | null;
  class: EventClass | null;
  signature: string | null;
}

export interface LeakSummary {
  library: string;
  signature: string;
  /** How many warnings named this location (or named none). */
  count: number;
  firstSeen: string | null;
  lastSeen: string | null;
  /** Threads named by the warnings, first few. */
  threads: string[];
  location: CodeLocation | null;
  /** `Class.method (File.java:88)`, or null. */
  where: string | null;
  noLocation: string | null;
}

export interface SourceCounts {
  lines: number;
  events: number;
  matched: number;
  /** Lines left out: bytes that were not text. */
  binary: number;
  /** Lines read with invalid UTF-8 (shown with U+FFFD). */
  invalidUtf8: number;
  /** Matching events left out for their time. */
  outsideWindow: number;
}

export interface LogAnalysis {
  sources: Map<string, SourceCounts>;
  /** Matching events. */
  matched: number;
  /** Per class: distinct occurrences (one error logged by several layers of one thread within DUPLICATE_WINDOW_MS counts once). */
  classes: Record<EventClass, number>;
  /** Per class: matching events. */
  classEvents: Record<EventClass, number>;
  /** Most frequent first. */
  groups: Group[];
  /** Events whose shapes were not tracked once MAX_TRACKED_SHAPES were (counted, not grouped). */
  untrackedShapes: number;
  /** Oldest first, at most `newest`. */
  newest: MatchedEvent[];
  /** Most warnings first. */
  leaks: LeakSummary[];
}

/**
 * One failed request logs its error at each layer it passes (the driver, the ORM, the servlet
 * container) on its thread within milliseconds; a second is room for a loaded machine. Only
 * records of one thread, with the same error text and different shapes, are one occurrence:
 * where the thread is unknown, or the same record repeats (a retry), each counts.
 */
export const DUPLICATE_WINDOW_MS = 1_000;
/** Distinct shapes tracked: far more than any report shows, few enough to bound memory on random garbage. */
export const MAX_TRACKED_SHAPES = 2_000;
/** Errors remembered for the duplicate check; past it the memory starts over (a few extra counts, never a crash). */
const MAX_RECENT_ERRORS = 10_000;
/** Distinct leak locations kept. */
export const MAX_LEAK_LOCATIONS = 20;
/** Threads listed per leak location. */
const MAX_LEAK_THREADS = 3;

const zeros = (): Record<EventClass, number> => Object.fromEntries(EVENT_CLASSES.map((c) => [c, 0])) as Record<EventClass, number>;

/** The thread of a Spring Boot console line (`--- [thread] logger :`, `--- [app] [thread] logger :` since 3.2), else null. */
function textThread(head: string): string | null {
  const groups = /\s---\s+((?:\[[^\]]*\]\s+)+)/.exec(head)?.[1];
  if (!groups) return null;
  return /\[\s*([^\]]*?)\s*\]\s*$/.exec(groups.trimEnd())?.[1] || null;
}

export function analyzeLogs(sources: readonly SourceLines[], opts: AnalyzeOptions): LogAnalysis {
  const counts = new Map<string, SourceCounts>();
  const classes = zeros();
  const classEvents = zeros();
  const groups = new Map<string, Group>();
  let untrackedShapes = 0;
  const leaks = new Map<string, LeakSummary>();
  let matched = 0;
  // newest events per source (each source is in time order; they are merged at the end)
  const newestBySource: MatchedEvent[][] = [];

  for (const src of sources) {
    const c: SourceCounts = { lines: 0, events: 0, matched: 0, binary: 0, invalidUtf8: 0, outsideWindow: 0 };
    counts.set(src.name, c);
    const newest: MatchedEvent[] = [];
    newestBySource.push(newest);
    const recent = new Map<string, { t: number; shape: string }>(); // class|error|thread → the last record of it

    const onEvent = (e: LogEvent, origin: string | undefined, at: { carry: number | null }) => {
      c.events++;
      const own = e.time ? Date.parse(e.time) : NaN;
      if (!Number.isNaN(own)) at.carry = own;
      const carry = at.carry;
      const structured: StructuredLine | null = parseStructured(e.head);
      const text = structured ? [structuredText(structured), ...e.messages].join('\n') : e.messages.length ? `${e.head}\n${e.messages.join('\n')}` : e.head;
      const classification = classifyText(text);
      if (!opts.filter.test(text) && !(opts.matchSignatures && classification)) return;
      if (opts.window && carry !== null && (carry < opts.window.from || carry > opts.window.to)) {
        c.outsideWindow++;
        return;
      }
      c.matched++;
      matched++;
      const time = carry !== null ? new Date(carry).toISOString() : null;

      let display = structured ? structuredDisplay(structured) : e.head.trim();
      if (!structured && classification && !e.head.includes(classification.matched)) {
        const line = e.messages.find((m) => m.includes(classification.matched));
        if (line) display = `${display} ⇒ ${line}`;
      }
      display = opts.mask(display);
      const ev: MatchedEvent = {
        source: src.name,
        ...(origin !== undefined ? { origin } : {}),
        time,
        display,
        details: e.messages.slice(0, 5).map(opts.mask),
        classification,
        lineCount: e.lineCount,
      };
      newest.push(ev);
      if (newest.length > opts.newest) newest.shift();

      const shape = opts.shape(display);
      if (classification) {
        classEvents[classification.class]++;
        const thread = structured?.thread ?? textThread(e.head);
        const key = thread !== null && carry !== null ? `${classification.class}|${classification.matched}|${thread}` : null;
        const last = key !== null ? recent.get(key) : undefined;
        const sameError = last !== undefined && Math.abs(carry! - last.t) <= DUPLICATE_WINDOW_MS && last.shape !== shape;
        if (!sameError) classes[classification.class]++;
        if (key !== null) {
          if (recent.size >= MAX_RECENT_ERRORS) recent.clear();
          recent.set(key, { t: carry!, shape });
        }
      }

      let g = groups.get(shape);
      if (!g) {
        if (groups.size >= MAX_TRACKED_SHAPES) untrackedShapes++;
        else
          groups.set(
            shape,
            (g = { shape, count: 0, firstSeen: null, lastSeen: null, class: classification?.class ?? null, signature: classification?.signature ?? null }),
          );
      }
      if (g) {
        g.count++;
        if (time) {
          if (!g.firstSeen || time < g.firstSeen) g.firstSeen = time;
          if (!g.lastSeen || time > g.lastSeen) g.lastSeen = time;
        }
      }

      const leak = leakWarning(e, classification, structured);
      if (leak) {
        const where = leak.location ? formatLocation(leak.location) : null;
        const lkey = `${leak.signature}|${where ?? ''}`;
        let l = leaks.get(lkey);
        if (!l && leaks.size < MAX_LEAK_LOCATIONS) {
          l = {
            library: leak.library,
            signature: leak.signature,
            count: 0,
            firstSeen: null,
            lastSeen: null,
            threads: [],
            location: leak.location,
            where,
            noLocation: leak.noLocation,
          };
          leaks.set(lkey, l);
        }
        if (l) {
          l.count++;
          if (time) {
            if (!l.firstSeen || time < l.firstSeen) l.firstSeen = time;
            if (!l.lastSeen || time > l.lastSeen) l.lastSeen = time;
          }
          if (leak.thread && !l.threads.includes(leak.thread) && l.threads.length < MAX_LEAK_THREADS) l.threads.push(leak.thread);
        }
      }
    };

    // A source that reads several places (Kubernetes pods) interleaves their lines by time: each place is folded on its own.
    const folders = new Map<string | undefined, EventFolder>();
    const folderOf = (origin: string | undefined): EventFolder => {
      let f = folders.get(origin);
      if (!f) {
        const at = { carry: null as number | null };
        folders.set(origin, (f = new EventFolder(src.multiline ? { start: src.multiline } : {}, (e) => onEvent(e, origin, at))));
      }
      return f;
    };
    for (const line of src.lines) {
      c.lines++;
      const text = stripAnsi(line.text);
      const quality = lineQuality(text);
      if (quality === 'binary') {
        c.binary++;
        continue;
      }
      if (quality === 'invalid_utf8') c.invalidUtf8++;
      folderOf(line.origin).push(text === line.text ? line : { ...line, text });
    }
    for (const f of folders.values()) f.end();
  }

  const all = newestBySource.flat().sort((a, b) => (a.time ?? '').localeCompare(b.time ?? ''));
  return {
    sources: counts,
    matched,
    classes,
    classEvents,
    groups: [...groups.values()].sort((a, b) => b.count - a.count || (b.lastSeen ?? '').localeCompare(a.lastSeen ?? '')),
    untrackedShapes,
    newest: all.slice(-opts.newest),
    leaks: [...leaks.values()].sort((a, b) => b.count - a.count),
  };
}
