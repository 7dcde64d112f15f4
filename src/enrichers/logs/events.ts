import type { LogLine } from '../../sources/logs';

/**
 * Folds log lines into events: one event per log call, with the lines a stack trace or an error
 * message continues on. What continues an event (each checked against the printer that writes
 * it; the Java, Python and Node forms also against JDK 17, CPython 3.11 and Node 24 here, see the
 * tests):
 *
 * - Java and Kotlin: `at ...` frames, `Caused by: `, `Suppressed: `, `... N more`
 *   (java.base/java/lang/Throwable.java printStackTrace), logback's `... N common frames omitted`
 *   and `Wrapped by: ` (logback-classic ThrowableProxyUtil); a throwable's first line
 *   (`java.sql.SQLTransientConnectionException: ...`) when frames follow it, which is how
 *   logback, Log4j and Spring Boot print the exception after the message.
 * - Python: `Traceback (most recent call last):`, its indented `File "...", line N, in f` and
 *   source lines, the exception line, and the chaining sentences (CPython Lib/traceback.py).
 * - Go: a `panic: ` or `fatal error: ` line, then `goroutine N [...]:` sections with function and
 *   `\tfile.go:N +0x..` lines, `created by ... in goroutine N`, `[signal ...]`, `exit status N`
 *   (golang/go src/runtime/panic.go, traceback.go printcreatedby1).
 * - Node.js: `    at ...` frames, `... N lines matching cause stack trace ...`, `[cause]: ...` and the
 *   indented properties util.inspect prints after them.
 * - libpq: its own message appended to the server's (`server closed the connection unexpectedly`,
 *   then tab-indented detail; src/interfaces/libpq/fe-misc.c appends since PostgreSQL 14), so
 *   PgBouncer's `query_wait_timeout` and the close that follows it are one event.
 * - Any other indented line that does not itself start a record (a timestamp, a level, `{`).
 *
 * A first line of a trace (`Traceback ...`, a throwable's first line) or a libpq line joins the
 * event before it only when the two were written within FOLD_MAX_GAP_MS of each other (where
 * both lines have a time): a trace printed on its own much later is its own event.
 * With `start` configured (`sources.logs[].multiline.start`), that pattern alone decides: a
 * line matching it as written (`LogLine.raw`, else its text) starts an event, any other line
 * continues the one before it.
 */

/** How the event was folded. */
export type EventKind = 'line' | 'java' | 'python' | 'go' | 'node' | 'multiline';

/** One log call's output. */
export interface LogEvent {
  /** The first line's time (ISO), where the source gave one. */
  time: string | null;
  /** The first line. */
  head: string;
  /** Continuation lines with message or error text (exception lines, `Caused by:`, libpq detail), trimmed. */
  messages: string[];
  /** Stack frame lines, trimmed, in the order written: innermost first for Java, Go and Node, outermost first for Python. */
  frames: string[];
  /** Lines folded into the event, its first line, blank lines and dropped lines included. */
  lineCount: number;
  /** Continuation lines not kept: past MAX_EVENT_MESSAGES, MAX_EVENT_FRAMES or MAX_EVENT_CHARS. */
  dropped: number;
  kind: EventKind;
}

/**
 * Two lines written by one log call carry the same time to the millisecond where the source
 * stamps each line (Docker, Loki, Kubernetes); a second leaves room for a slow writer without
 * joining a trace printed later to an unrelated line.
 */
export const FOLD_MAX_GAP_MS = 1_000;
/** Message lines kept per event: a chain of `Caused by:` rarely has more than a handful. */
export const MAX_EVENT_MESSAGES = 50;
/** Frames kept per event: the application's frames sit in the first hundred of even a deep framework trace. */
export const MAX_EVENT_FRAMES = 300;
/** Characters kept per event (lines are already cut at the source's MAX_LINE_CHARS): bounds a goroutine dump of thousands. */
export const MAX_EVENT_CHARS = 64 * 1024;

export interface FoldOptions {
  /** `sources.logs[].multiline.start`: when set, the only rule. */
  start?: RegExp;
}

const BLANK = /^\s*$/;
const INDENTED = /^[ \t]+\S/;
/** `at ` frames: Java/Kotlin (tab or spaces), Node (spaces), and unindented Java frames of shippers that trim lines. */
const FRAME_AT = /^(?:[ \t]+at\s+\S|at\s+[\w$./<>-]+\()/;
/** Elided frames: Java's `... N more`, logback's `... N common frames omitted`, Node's `... N lines matching cause stack trace ...`. */
const ELLIPSIS = /^\s*\.\.\. \d+ (?:more|common frames omitted|lines matching cause stack trace \.\.\.)\s*$/;
const CAPTION = /^\s*(?:Caused by|Suppressed|Wrapped by):\s|^\s*\[cause\]:\s/;
/** A throwable's first line: a qualified class name, then `: message` or nothing. */
const JAVA_HEADER = /^(?:[a-z_$][\w$]*\.)+[A-Za-z_$][\w$]*(?::\s?.*)?$/;
const PY_TRACEBACK = /^Traceback \(most recent call last\):\s*$/;
const PY_FILE = /^\s+File "[^"]*", line \d+/;
const PY_CHAIN =
  /^(?:During handling of the above exception, another exception occurred:|The above exception was the direct cause of the following exception:)\s*$/;
const PY_EXCEPTION = /^[A-Za-z_][\w.]*(?::\s.*|:)?\s*$/;
const GO_START = /^(?:panic: |fatal error: |SIGQUIT: quit|SIGABRT: abort)/;
const GO_GOROUTINE = /^goroutine \d+ \[[^\]]*\]:\s*$/;
const GO_LINE = /^(?:created by |\[signal |\[recovered\]|exit status \d+|[\w./*()[\]{}-]+\(.*\)\s*$)/;
const LIBPQ_APPENDED = /^(?:server closed the connection unexpectedly|could not receive data from server|SSL SYSCALL error)/;
const ERRORISH = /error|exception|fatal|fail|timeout|timed out|refused|closed/i;
const CLOSER = /^[}\])]+[,;]?$/;
/** What starts a record even when indented: a timestamp, a level word, a JSON object, logfmt. */
const RECORD_START =
  /^(?:\[?\d{4}-\d\d-\d\d[T ]\d\d:\d\d|\d\d:\d\d:\d\d[.,]\d|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|[IWEF]\d{4} \d\d:\d\d|[DIWEFA], \[\d{4}-|\{"|(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|FATAL|CRITICAL|PANIC)\b|(?:level|time|ts)=)/;

type Mode = 'none' | 'stack' | 'python' | 'python-end' | 'go' | 'multiline';

interface Open {
  ev: LogEvent;
  mode: Mode;
  lastMs: number | null;
  chars: number;
}

const ms = (time: string | null): number | null => {
  if (!time) return null;
  const t = Date.parse(time);
  return Number.isNaN(t) ? null : t;
};

/**
 * Folds lines pushed oldest first into events, emitted through `emit` as each one ends (the
 * next event starts, or `end()`): memory holds one event and one line of look-ahead.
 */
export class EventFolder {
  private cur: Open | null = null;
  /** A line that may be a throwable's first line: decided by the line after it. */
  private pending: LogLine | null = null;

  constructor(
    private readonly opts: FoldOptions,
    private readonly emit: (event: LogEvent) => void,
  ) {}

  push(line: LogLine): void {
    const t = line.text;
    if (this.opts.start) return this.pushCustom(line, this.opts.start);

    if (this.pending) {
      const p = this.pending;
      this.pending = null;
      if (FRAME_AT.test(t)) {
        let cur = this.cur;
        if (cur && this.near(cur, p)) this.message(cur, p.text.trim(), p);
        else cur = this.open(p, 'stack');
        cur.mode = 'stack';
        this.frame(cur, t.trim(), line);
        return;
      }
      this.open(p, 'none');
    }

    const cur = this.cur;
    if (BLANK.test(t)) {
      if (cur) cur.ev.lineCount++;
      return;
    }
    if (cur && this.continues(cur, line)) return;
    // Not a continuation: a throwable's first line waits for the next line, anything else starts an event.
    if (JAVA_HEADER.test(t)) {
      this.pending = line;
      return;
    }
    this.open(line, GO_START.test(t) || GO_GOROUTINE.test(t) ? 'go' : PY_TRACEBACK.test(t) ? 'python' : 'none');
  }

  /** Emits what is still open. */
  end(): void {
    if (this.pending) {
      const p = this.pending;
      this.pending = null;
      this.open(p, 'none');
    }
    this.flush();
  }

  private continues(cur: Open, line: LogLine): boolean {
    const t = line.text;
    if (FRAME_AT.test(t)) {
      if (cur.mode === 'none') cur.mode = 'stack';
      this.frame(cur, t.trim(), line);
      return true;
    }
    if (ELLIPSIS.test(t)) return this.count(cur, line);
    if (CAPTION.test(t)) return this.message(cur, t.trim(), line);
    if (cur.mode === 'python') {
      if (PY_FILE.test(t)) return this.frame(cur, t.trim(), line);
      if (INDENTED.test(t)) return this.count(cur, line); // the source line under a frame, carets
      if (PY_CHAIN.test(t) || PY_TRACEBACK.test(t)) return this.count(cur, line);
      if (PY_EXCEPTION.test(t) && !RECORD_START.test(t)) {
        cur.mode = 'python-end';
        return this.message(cur, t.trim(), line);
      }
    } else if (cur.mode === 'python-end') {
      if (PY_CHAIN.test(t)) return this.count(cur, line);
    } else if (cur.mode === 'go') {
      if (GO_GOROUTINE.test(t)) return this.count(cur, line);
      if (GO_LINE.test(t) || INDENTED.test(t)) return this.frame(cur, t.trim(), line);
    }
    if (PY_TRACEBACK.test(t) && this.near(cur, line)) {
      cur.mode = 'python';
      return this.count(cur, line);
    }
    if (LIBPQ_APPENDED.test(t) && this.near(cur, line) && ERRORISH.test(cur.ev.messages.at(-1) ?? cur.ev.head)) return this.message(cur, t.trim(), line);
    if (cur.mode === 'stack' && CLOSER.test(t.trim())) return this.count(cur, line);
    if (INDENTED.test(t) && !RECORD_START.test(t.trimStart())) {
      if (PY_FILE.test(t)) return this.frame(cur, t.trim(), line);
      return this.message(cur, t.trim(), line);
    }
    return false;
  }

  private pushCustom(line: LogLine, start: RegExp): void {
    const t = line.text;
    if (!this.cur || start.test(line.raw ?? t)) {
      this.open(line, 'multiline');
      return;
    }
    const cur = this.cur;
    if (BLANK.test(t) || ELLIPSIS.test(t)) this.count(cur, line);
    else if (FRAME_AT.test(t) || PY_FILE.test(t)) this.frame(cur, t.trim(), line);
    else this.message(cur, t.trim(), line);
  }

  private near(cur: Open, line: LogLine): boolean {
    const t = ms(line.time);
    return t === null || cur.lastMs === null || Math.abs(t - cur.lastMs) <= FOLD_MAX_GAP_MS;
  }

  private open(line: LogLine, mode: Mode): Open {
    this.flush();
    const text = line.text;
    this.cur = {
      ev: { time: line.time, head: text, messages: [], frames: [], lineCount: 1, dropped: 0, kind: 'line' },
      mode,
      lastMs: ms(line.time),
      chars: text.length,
    };
    return this.cur;
  }

  private flush(): void {
    const cur = this.cur;
    if (!cur) return;
    this.cur = null;
    cur.ev.kind = kindOf(cur);
    this.emit(cur.ev);
  }

  private count(cur: Open, line: LogLine): true {
    cur.ev.lineCount++;
    cur.lastMs = ms(line.time) ?? cur.lastMs;
    return true;
  }

  private message(cur: Open, text: string, line: LogLine): true {
    return this.keep(cur, cur.ev.messages, MAX_EVENT_MESSAGES, text, line);
  }

  private frame(cur: Open, text: string, line: LogLine): true {
    return this.keep(cur, cur.ev.frames, MAX_EVENT_FRAMES, text, line);
  }

  /** Counts the line and keeps `text` in `list` unless `max` or MAX_EVENT_CHARS is reached. */
  private keep(cur: Open, list: string[], max: number, text: string, line: LogLine): true {
    this.count(cur, line);
    if (list.length >= max || cur.chars + text.length > MAX_EVENT_CHARS) cur.ev.dropped++;
    else {
      list.push(text);
      cur.chars += text.length;
    }
    return true;
  }
}

function kindOf(cur: Open): EventKind {
  if (cur.mode === 'multiline') return 'multiline';
  if (cur.mode === 'python' || cur.mode === 'python-end') return 'python';
  if (cur.mode === 'go') return 'go';
  const first = cur.ev.frames[0];
  if (!first) return 'line';
  if (/\.(?:java|kt|scala|groovy):\d+\)|\((?:Native Method|Unknown Source)\)/.test(first)) return 'java';
  if (/:\d+:\d+\)?\s*$|\(node:|\(index \d+\)|\(<anonymous>\)/.test(first)) return 'node';
  return 'java';
}

/** `lines` folded into events, in order (a convenience over EventFolder for whole arrays). */
export function foldEvents(lines: Iterable<LogLine>, opts: FoldOptions = {}): LogEvent[] {
  const out: LogEvent[] = [];
  const folder = new EventFolder(opts, (e) => out.push(e));
  for (const l of lines) folder.push(l);
  folder.end();
  return out;
}

/** The event's text to match and classify: its first line and its message lines, never its frames. */
export function eventText(e: LogEvent): string {
  return e.messages.length ? `${e.head}\n${e.messages.join('\n')}` : e.head;
}
