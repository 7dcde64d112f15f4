import { foldEvents } from './events';
import { scalarText } from '../../core/text';

/**
 * JSON log lines read as what they say: a level, a message and an error, so a line is matched
 * and classified on those and never on its key names or unrelated fields (a startup line's
 * `"database": "postgres://..."` is not a database error). Field names, checked at each library:
 *
 * | format | message | level | error |
 * | --- | --- | --- | --- |
 * | pino | `msg` (messageKey) | `level`, 10..60 | `err` (errorKey): `{type, message, stack}` | pinojs/pino pino.js defaults, lib/constants.js; pinojs/pino-std-serializers lib/err.js |
 * | bunyan | `msg` | `level`, 10..60 | `err`: `{name, message, stack, code, signal}` | trentm/node-bunyan lib/bunyan.js (`v` 0) |
 * | logback JsonEncoder (1.3.8+) | `formattedMessage` (off by default), else `message` (the pattern) with `arguments` | `level` | `throwable`: `{className, message, stepArray[{className, methodName, fileName, lineNumber}], cause}` | qos-ch/logback logback-classic/.../encoder/JsonEncoder.java |
 * | logstash-logback-encoder | `message` | `level` | `stack_trace` (text) | logfellow/logstash-logback-encoder fieldnames/LogstashCommonFieldNames.java, LogstashFieldNames.java |
 * | ECS (ecs-logging) | `message` | `log.level` (a dotted top-level key) | `error.type`, `error.message`, `error.stack_trace` (dotted or nested) | elastic/ecs-logging spec/spec.json |
 * | zap (production) | `msg` | `level` | `error` (zap.Error), `errorVerbose`; `stacktrace` is the logging call's stack | uber-go/zap config.go, error.go |
 * | structlog | `event` | `level` | `exception`: text (format_exc_info) or `[{exc_type, exc_value, frames[{filename, lineno, name}]}]` (dict_tracebacks) | hynek/structlog src/structlog/processors.py, tracebacks.py |
 * | logrus, Go log/slog | `msg` | `level` | `error` (logrus ErrorKey), `err` by convention | sirupsen/logrus formatter.go, entry.go; golang/go src/log/slog/handler.go |
 */

/** Which library's field names the line follows (`json`: only generic keys were found). */
export type StructuredFormat = 'pino' | 'bunyan' | 'logback' | 'logstash' | 'ecs' | 'zap' | 'structlog' | 'json';

export interface StructuredError {
  /** Class or type name (`java.sql.SQLTransientConnectionException`, `SequelizeConnectionAcquireTimeoutError`). */
  type: string | null;
  message: string | null;
  /** Further message lines of the error: `Caused by:` lines, a cause's message, an exception chain. */
  causes: string[];
  /** Stack frame lines, innermost first (Python: outermost first), as `frames.ts` reads them. */
  frames: string[];
}

export interface StructuredLine {
  format: StructuredFormat;
  /** Lower case: trace, debug, info, warn, error, fatal (or the library's own word). */
  level: string | null;
  message: string | null;
  error: StructuredError | null;
  /** The thread that logged it: logback `threadName`, logstash `thread_name`, ECS `process.thread.name`. */
  thread: string | null;
  /** The line did not parse whole (cut at the source's line cap): only string values were read. */
  truncated: boolean;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null);

/** pino lib/constants.js and bunyan lib/bunyan.js share these numbers. */
const NUMERIC_LEVELS: Array<[number, string]> = [
  [60, 'fatal'],
  [50, 'error'],
  [40, 'warn'],
  [30, 'info'],
  [20, 'debug'],
  [10, 'trace'],
];

function levelName(v: unknown): string | null {
  if (typeof v === 'number' && v >= 10 && v <= 100) return NUMERIC_LEVELS.find(([n]) => v >= n)![1];
  const s = str(v)?.toLowerCase();
  if (!s) return null;
  if (s === 'warning') return 'warn';
  if (s === 'err') return 'error';
  return s.length <= 16 ? s : null;
}

/** An object's value at a dotted ECS path: the dotted key itself, or nested objects. */
function at(o: Obj, path: string): unknown {
  if (path in o) return o[path];
  let cur: unknown = o;
  for (const k of path.split('.')) {
    if (!isObj(cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}

function formatOf(o: Obj): StructuredFormat {
  if ('log.level' in o || 'ecs.version' in o || isObj(o.ecs)) return 'ecs';
  if ('@version' in o || 'level_value' in o) return 'logstash';
  if ('sequenceNumber' in o || ('loggerName' in o && 'threadName' in o) || isObj(o.throwable)) return 'logback';
  if (typeof o.v === 'number' && 'hostname' in o && typeof o.level === 'number') return 'bunyan';
  if (typeof o.level === 'number' && 'msg' in o) return 'pino';
  if (typeof o.ts === 'number' && typeof o.level === 'string' && 'msg' in o) return 'zap';
  if (typeof o.event === 'string' && !('msg' in o) && !('message' in o)) return 'structlog';
  return 'json';
}

/** logback's unformatted `message` with `arguments` put into its `{}` anchors, as SLF4J's MessageFormatter does. */
function formatPattern(pattern: string, args: unknown): string {
  if (!Array.isArray(args) || args.length === 0) return pattern;
  let i = 0;
  return pattern.replace(/\{\}/g, (m) => (i < args.length ? String(args[i++]) : m));
}

/** A stack written as text (Node's err.stack, logstash's stack_trace, a Python traceback): first line(s), causes, frames. */
function fromStackText(stack: string): StructuredError {
  const events = foldEvents(stack.split(/\r?\n/).map((text) => ({ time: null, text })));
  const [first, ...rest] = events;
  if (!first) return { type: null, message: null, causes: [], frames: [] };
  // A Python traceback's first line is "Traceback ...": its exception line comes last.
  const headLine = first.head.startsWith('Traceback (') ? (first.messages.at(-1) ?? first.head) : first.head;
  const m = /^([A-Za-z_$][\w$.]*):\s?(.*)$/.exec(headLine.trim());
  const causes = [...(headLine === first.head ? first.messages : first.messages.slice(0, -1)), ...rest.flatMap((e) => [e.head, ...e.messages])];
  return {
    type: m ? m[1]! : null,
    message: m ? m[2]! || null : headLine.trim(),
    causes,
    frames: [...first.frames, ...rest.flatMap((e) => e.frames)],
  };
}

function fromObject(e: Obj, typeKeys: string[]): StructuredError {
  const type = typeKeys.map((k) => str(e[k])).find((v) => v !== null) ?? null;
  const stack = str(e.stack) ?? str(e.stack_trace);
  const fromStack = stack ? fromStackText(stack) : null;
  return {
    type: type ?? fromStack?.type ?? null,
    message: str(e.message) ?? fromStack?.message ?? null,
    causes: fromStack?.causes ?? [],
    frames: fromStack?.frames ?? [],
  };
}

/** logback JsonEncoder's `throwable`: className, message, stepArray, cause (nested). */
function fromLogbackThrowable(t: Obj): StructuredError {
  const frames = (Array.isArray(t.stepArray) ? t.stepArray : [])
    .filter(isObj)
    .map((s) => `at ${String(s.className)}.${String(s.methodName)}(${scalarText(s.fileName, 'Unknown Source')}:${scalarText(s.lineNumber)})`);
  const causes: string[] = [];
  let c = t.cause;
  for (let depth = 0; isObj(c) && depth < 20; depth++, c = c.cause) causes.push(`Caused by: ${String(c.className)}: ${scalarText(c.message)}`);
  return { type: str(t.className), message: str(t.message), causes, frames };
}

/** structlog's `exception`: a traceback text, or dict_tracebacks' list of stacks (outermost first). */
function fromStructlogException(x: unknown): StructuredError | null {
  if (typeof x === 'string') return fromStackText(x);
  if (!Array.isArray(x)) return null;
  const stacks = x.filter(isObj);
  const last = stacks.at(-1);
  if (!last) return null;
  return {
    type: str(last.exc_type),
    message: str(last.exc_value),
    causes: stacks.slice(0, -1).map((s) => `${String(s.exc_type)}: ${scalarText(s.exc_value)}`),
    frames: (Array.isArray(last.frames) ? last.frames : [])
      .filter(isObj)
      .map((f) => `File "${String(f.filename)}", line ${String(f.lineno)}, in ${String(f.name)}`),
  };
}

function errorOf(o: Obj, format: StructuredFormat): StructuredError | null {
  if (format === 'logback' && isObj(o.throwable)) return fromLogbackThrowable(o.throwable);
  if (format === 'ecs') {
    const type = str(at(o, 'error.type'));
    const message = str(at(o, 'error.message'));
    const stack = str(at(o, 'error.stack_trace'));
    if (type || message || stack) {
      const s = stack ? fromStackText(stack) : null;
      return { type: type ?? s?.type ?? null, message: message ?? s?.message ?? null, causes: s?.causes ?? [], frames: s?.frames ?? [] };
    }
    return null;
  }
  if (format === 'structlog' && o.exception !== undefined) return fromStructlogException(o.exception);
  const stackTrace = str(o.stack_trace);
  if (stackTrace) return fromStackText(stackTrace); // logstash-logback-encoder
  for (const k of ['err', 'error']) {
    const v = o[k];
    if (isObj(v)) return fromObject(v, ['type', 'name', 'className']);
    const s = str(v);
    if (s) {
      // zap's errorVerbose carries the stack of pkg/errors-style errors
      const verbose = str(o[`${k}Verbose`]);
      const e = fromStackText(verbose ?? s);
      return verbose ? { ...e, message: s } : e;
    }
  }
  if (o.exception !== undefined) return fromStructlogException(o.exception);
  return null;
}

/** The first string among `keys` of `o`. */
const first = (o: Obj, keys: string[]) => keys.map((k) => str(o[k])).find((v) => v !== null) ?? null;

/** Lines cut at the source's cap are not JSON any more: read their string values, never their keys. */
function salvage(text: string): StructuredLine | null {
  if (!/^\{\s*"/.test(text)) return null;
  const pick = (keys: string) => new RegExp(`"(?:${keys})"\\s*:\\s*"((?:[^"\\\\]|\\\\.){0,4000})"`).exec(text)?.[1];
  const unescape = (s: string | undefined) => {
    if (s === undefined) return null;
    try {
      return JSON.parse(`"${s}"`) as string;
    } catch {
      return s;
    }
  };
  const message = unescape(pick('msg|message|formattedMessage|event'));
  const level = levelName(unescape(pick('level|log\\.level')) ?? Number(/"level"\s*:\s*(\d+)/.exec(text)?.[1]));
  const errMessage = unescape(
    /"(?:err|error|throwable|exception)"\s*:\s*\{[^{}]*?"(?:message|exc_value)"\s*:\s*"((?:[^"\\]|\\.){0,4000})"/.exec(text)?.[1] ??
      pick('stack_trace|error\\.message'),
  );
  return {
    format: 'json',
    level,
    message,
    error: errMessage ? { ...fromStackText(errMessage), causes: [], frames: [] } : null,
    thread: null,
    truncated: true,
  };
}

/** Longest line parsed as JSON, characters (the sources cap lines shorter than this already); a longer one is salvaged. */
export const MAX_JSON_CHARS = 64 * 1024;

/**
 * Reads a JSON log line. Null when `text` is not a JSON object (plain text lines are read as
 * they are). Never throws.
 */
export function parseStructured(text: string): StructuredLine | null {
  const s = text.trim();
  if (!s.startsWith('{')) return null;
  if (s.length > MAX_JSON_CHARS) return salvage(s.slice(0, MAX_JSON_CHARS));
  let o: unknown;
  try {
    o = JSON.parse(s);
  } catch {
    return salvage(s);
  }
  if (!isObj(o)) return null;
  const format = formatOf(o);
  let message: string | null;
  if (format === 'logback') message = str(o.formattedMessage) ?? (str(o.message) !== null ? formatPattern(o.message as string, o.arguments) : null);
  else if (format === 'structlog') message = str(o.event);
  else message = first(o, ['msg', 'message', 'event']);
  const level = levelName(format === 'ecs' ? at(o, 'log.level') : o.level);
  const thread = str(o.threadName) ?? str(o.thread_name) ?? str(at(o, 'process.thread.name'));
  return { format, level, message, error: errorOf(o, format), thread, truncated: false };
}

/** The error as one line: `Type: message`. */
export function errorLine(e: StructuredError): string {
  return [e.type, e.message].filter(Boolean).join(': ');
}

/** What a structured line is matched and classified on: its message, its error, the error's causes. */
export function structuredText(l: StructuredLine): string {
  return [l.message, l.error ? errorLine(l.error) : null, ...(l.error?.causes ?? [])].filter((x): x is string => !!x).join('\n');
}

/** How a structured line is shown: `LEVEL message — Type: error`. */
export function structuredDisplay(l: StructuredLine): string {
  const err = l.error ? errorLine(l.error) : '';
  const parts = [l.level ? l.level.toUpperCase() : null, l.message, err && l.message ? `— ${err}` : err || null].filter(Boolean);
  return parts.length ? parts.join(' ') : '(JSON line without a message or error)';
}
