import { earliestStart } from '../../core/alert';
import type { SourceQuery } from '../../core/diagnostic';
import { SkipEnrichment, throwIfAborted, type EnrichContext, type Enricher, type EnrichmentResult } from '../../core/enricher';
import type { LogsEvidence } from '../../core/evidence';
import { createLogReader, LogSourceError, type LogReader, type LogReadResult } from '../../sources/logs';
import type { EnricherModule } from '../registry-types';
import { analyzeLogs, type LogAnalysis } from './analyze';
import { EVENT_CLASSES } from './classify';
import { lineShape, maskSecrets } from './lines';
import { CLASS_LABELS, logsSections, type SourceReport } from './sections';
import { logsSettingsSchema, type LogsSettings } from './settings';

/**
 * `logs`: the backend's recent log events matching the runbook's filter (`connection|pool|database`,
 * case-insensitive, configurable) or a known pool or connection error (the signature table),
 * read as events (a stack trace is part of the line that printed it), JSON lines on their
 * message and error, grouped by shape with counts and first/last seen, the newest few whole,
 * secrets masked; each known error classified, and leak warnings with the code location they name.
 *
 * Failures: a source that cannot be read is listed in the evidence with its error and the others
 * still count (status `ok`); when every selected source fails, nothing was measured and the
 * enricher throws (status `timeout` when they all timed out, else `error`).
 * The sources are the configured ones; an alert label (`sourceLabel`) may pick one of them by
 * name, never a container, path or URL of its own.
 */

/**
 * Words of the signature table's wordings (RE2- and JS-compatible, case-insensitive): what a
 * source that filters on its side (Loki) must also let through for the table to see it.
 * test/enrichers/logs/signatures.test.ts checks every row's example against it.
 */
export const SIGNAL_PATTERN = [
  'too many clients',
  'too many connections',
  'remaining connection slots',
  'ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE',
  'refused|reset by peer|broken pipe',
  'could not connect|failed to connect|could not obtain|reach database server|connection attempt failed',
  'timed out|timeout|deadline exceeded|exhausted',
  'closed the connection|connection terminated|terminating connection|bad connection|could not receive data|SSL SYSCALL|not queryable|I/O error occurred|connection has been closed',
  'authentication failed|pg_hba\\.conf|database system is',
  'leak detection|has been abandoned|not been returned to the pool|garbage collector is trying',
  'max_client_conn|client_connections|server_login_retry|client_login_timeout',
  'SQLSTATE 53300',
].join('|');

/**
 * Lines that may continue an event (stack frames, causes, tracebacks, libpq's detail): a source
 * that filters per line (Loki) must return them too, or the event is cut to its first line.
 */
export const CONTINUATION_PATTERN =
  '^\\s|^Caused by|^Suppressed:|^Wrapped by|^Traceback|^During handling|^The above exception|^goroutine |^panic: |^[a-z_$][\\w$]*(?:\\.[\\w$]+)+(?::|$)|^server closed|^could not receive|^SSL SYSCALL';

/** How far into the future an event's time may be and still count: clocks of the backend and of this receiver differ a little. */
export const CLOCK_SKEW_MS = 60_000;

/** Per source, what its configuration says about reading it. */
export interface LogSourceOptions {
  /** `sources.logs[].timezone`. */
  timezone: string;
  /** `sources.logs[].multiline.start`. */
  multiline?: string;
}

/** Narrow dependencies: the configured readers, and each one's options by name (default: UTC, built-in folding). */
export interface LogsEnricherDeps {
  readers: readonly LogReader[];
  options?: Readonly<Record<string, LogSourceOptions>>;
}

/** The signals the rules read (their vocabulary before the signature table): occurrences, and the remaining events as `other`. */
function signalsOf(a: LogAnalysis): LogsEvidence['signals'] {
  const e = a.classEvents;
  const named = e.too_many_clients + e.pool_timeout + e.connection_refused + e.connection_lost + e.connection_error;
  return {
    too_many_clients: a.classes.too_many_clients,
    pool_timeout: a.classes.pool_timeout,
    connection_refused: a.classes.connection_refused,
    connection_error: a.classes.connection_lost + a.classes.connection_error,
    other: Math.max(0, a.matched - named),
  };
}

/** Creates the `logs` enricher over `deps.readers` (read in parallel, each under its own timeout). */
export function createLogsEnricher(settings: LogsSettings, deps: LogsEnricherDeps): Enricher {
  const filter = new RegExp(settings.filter, settings.caseInsensitive ? 'i' : '');
  const filterShown = `/${settings.filter}/${settings.caseInsensitive ? 'i' : ''}`;
  // what a server-side filter (Loki) gets: the same choice, in RE2, and the lines that continue an event
  const ci = (p: string) => (settings.caseInsensitive ? p : `(?i:${p})`);
  const pattern = [settings.filter, settings.matchSignals ? ci(SIGNAL_PATTERN) : null, ci(CONTINUATION_PATTERN)]
    .filter((p): p is string => p !== null)
    .map((p) => `(?:${p})`)
    .join('|');
  const multiline = new Map<string, RegExp>();
  for (const [name, o] of Object.entries(deps.options ?? {})) if (o.multiline) multiline.set(name, new RegExp(o.multiline));

  return {
    name: 'logs',
    ...(settings.timeoutMs !== undefined ? { timeoutMs: settings.timeoutMs } : {}),
    async enrich(ctx: EnrichContext): Promise<EnrichmentResult> {
      if (deps.readers.length === 0) throw new SkipEnrichment('no log source configured (sources.logs)');
      const label = settings.sourceLabel;
      const wanted = label ? (ctx.group.commonLabels[label] ?? ctx.group.alerts[0]?.labels[label]) : undefined;
      const picked = wanted !== undefined ? deps.readers.find((r) => r.name === wanted) : undefined;
      const readers = picked ? [picked] : deps.readers;

      const results: Array<{ reader: LogReader; res?: LogReadResult; err?: LogSourceError }> = await Promise.all(
        readers.map(async (r) => {
          try {
            return {
              reader: r,
              res: await r.read({
                signal: ctx.signal,
                now: ctx.now,
                filter: { pattern, caseInsensitive: settings.caseInsensitive },
                labels: ctx.group.commonLabels,
              }),
            };
          } catch (e) {
            throwIfAborted(ctx.signal);
            const err = e instanceof LogSourceError ? e : new LogSourceError(e instanceof Error ? e.message : String(e));
            ctx.logger.warn({ source: r.name, kind: r.kind, error: err.message }, 'log source failed');
            return { reader: r, err };
          }
        }),
      );
      throwIfAborted(ctx.signal);
      const failed = results.filter((x) => x.err);
      if (failed.length === results.length) {
        const msg = failed.map((x) => `${x.reader.name}: ${x.err!.message}`).join('; ');
        throw failed.every((x) => x.err!.timeout) ? new LogSourceError(msg, true) : new LogSourceError(msg);
      }

      const start = earliestStart(ctx.group);
      const from = (start !== undefined ? Math.min(Date.parse(start), ctx.now.getTime()) : ctx.now.getTime()) - settings.windowMinutes * 60_000;
      const window = { from, to: ctx.now.getTime() + CLOCK_SKEW_MS };
      const read = results.filter((x) => x.res);
      const a = analyzeLogs(
        read.map(({ reader, res }) => ({
          name: reader.name,
          lines: res!.lines,
          ...(multiline.has(reader.name) ? { multiline: multiline.get(reader.name)! } : {}),
        })),
        { filter, matchSignatures: settings.matchSignals, window, newest: settings.newestLines, mask: maskSecrets, shape: lineShape },
      );

      const zoneOf = (name: string) => deps.options?.[name]?.timezone ?? 'UTC';
      const reports: SourceReport[] = results.map(({ reader, res, err }) => ({
        name: reader.name,
        kind: reader.kind,
        error: err ? err.message : null,
        scanned: res?.scanned ?? 0,
        timezone: zoneOf(reader.name),
        zoneless: res?.zoneless ?? 0,
        problems: res?.problems ?? [],
      }));
      const queries: SourceQuery[] = read.flatMap(({ res }) => (res!.query ? [res!.query] : []));

      const evidence: LogsEvidence = {
        sources: reports.map((s) => {
          const c = a.sources.get(s.name);
          return {
            name: s.name,
            kind: s.kind as LogsEvidence['sources'][number]['kind'],
            scanned: s.scanned,
            matched: c?.matched ?? 0,
            error: s.error,
            ...(s.problems.length ? { problems: s.problems } : {}),
            ...(c ? { events: c.events, binary: c.binary, invalidUtf8: c.invalidUtf8, outsideWindow: c.outsideWindow } : {}),
            timezone: s.timezone,
            zoneless: s.zoneless,
          };
        }),
        matched: a.matched,
        groups: a.groups.slice(0, settings.maxGroups).map((g) => ({
          shape: g.shape,
          count: g.count,
          firstSeen: g.firstSeen,
          lastSeen: g.lastSeen,
          signal: signalOfClass(g.class),
          class: g.class,
          signature: g.signature,
        })),
        signals: signalsOf(a),
        classes: a.classes,
        classEvents: a.classEvents,
        leaks: a.leaks.map((l) => ({
          library: l.library,
          signature: l.signature,
          count: l.count,
          firstSeen: l.firstSeen,
          lastSeen: l.lastSeen,
          threads: l.threads,
          location: l.location
            ? { class: l.location.class, method: l.location.method, file: l.location.file, line: l.location.line, frame: maskSecrets(l.location.frame) }
            : null,
          where: l.where,
          noLocation: l.noLocation,
        })),
        window: { from: new Date(window.from).toISOString(), to: new Date(window.to).toISOString() },
      };

      const sections = logsSections(a, reports, {
        filterShown,
        newestLines: settings.newestLines,
        maxGroups: settings.maxGroups,
        lineMax: settings.lineMax,
        window: evidence.window ?? null,
        multipleSources: readers.length > 1,
      });
      if (wanted !== undefined && !picked) {
        sections.splice(1, 0, {
          type: 'text',
          title: 'log sources',
          text: `The alert's ${label} label names no configured log source; every configured one was read.`,
        });
      }

      const found = EVENT_CLASSES.filter((c) => a.classes[c] > 0).map((c) => `${a.classes[c]} ${CLASS_LABELS[c]}`);
      const scanned = reports.reduce((n, s) => n + s.scanned, 0);
      const events = [...a.sources.values()].reduce((n, c) => n + c.events, 0);
      const summary =
        `${a.matched} of ${events} log events (${scanned} lines) match${found.length ? `: ${found.join(', ')}` : ''}` +
        (a.leaks[0]?.where ? `; leak at ${a.leaks[0].where}` : '') +
        (failed.length ? `; ${failed.length} source(s) failed` : '');
      return { summary, sections, evidence, ...(queries.length ? { queries } : {}) };
    },
  };
}

/** The signal a group's class counts toward (the rules' older vocabulary). */
function signalOfClass(c: LogAnalysis['groups'][number]['class']): LogsEvidence['groups'][number]['signal'] {
  switch (c) {
    case 'too_many_clients':
    case 'pool_timeout':
    case 'connection_refused':
      return c;
    case 'connection_lost':
    case 'connection_error':
      return 'connection_error';
    default:
      return 'other';
  }
}

/** The registry entry: a reader per configured `sources.logs[]` entry, with its time zone and multiline pattern. */
export const logsEnricherModule: EnricherModule<LogsSettings> = {
  name: 'logs',
  settingsSchema: logsSettingsSchema,
  create: (settings, deps) =>
    createLogsEnricher(settings, {
      readers: deps.clients.config.logs.map(createLogReader),
      options: Object.fromEntries(
        deps.clients.config.logs.map((s) => [s.name, { timezone: s.timezone, ...(s.multiline ? { multiline: s.multiline.start } : {}) }]),
      ),
    }),
};
