import type { Section, SourceQuery } from '../../core/diagnostic';
import { SkipEnrichment, throwIfAborted, type EnrichContext, type Enricher, type EnrichmentResult } from '../../core/enricher';
import type { LogGroup, LogsEvidence } from '../../core/evidence';
import { createLogReader, LogSourceError, type LogLine, type LogReader } from '../../sources/logs';
import type { EnricherModule } from '../registry-types';
import { logsSettingsSchema, type LogsSettings } from './settings';
import { classifyLine, lineShape, maskSecrets } from './lines';

/**
 * `logs`: the backend's recent lines matching the runbook's filter (`connection|pool|database`,
 * case-insensitive, configurable), grouped by shape with counts and first/last seen, the newest
 * few whole, secrets masked, each group classified into a runbook signal.
 *
 * Failures: a source that cannot be read is listed in the evidence with its error and the others
 * still count (status `ok`); when every selected source fails, nothing was measured and the
 * enricher throws (status `timeout` when they all timed out, else `error`).
 * The sources are the configured ones; an alert label (`sourceLabel`) may pick one of them by
 * name, never a container, path or URL of its own.
 */

/** Phrases of the runbook signals that need not contain "connection", "pool" or "database" (RE2- and JS-compatible). */
export const SIGNAL_PATTERN =
  'too many clients|too many connections|remaining connection slots|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|could not connect|failed to connect|timeout exceeded when trying to connect';

const SIGNAL_NAMES: Array<LogGroup['signal']> = ['too_many_clients', 'pool_timeout', 'connection_refused', 'connection_error', 'other'];

interface Matched {
  source: string;
  /** Where in the source (a Kubernetes pod/container), when the source reads several places. */
  origin?: string;
  time: string | null;
  key: number;
  order: number;
  text: string;
}

/** Narrow dependencies: the configured readers. */
export interface LogsEnricherDeps {
  readers: readonly LogReader[];
}

/** Creates the `logs` enricher over `deps.readers` (read in parallel, each under its own timeout). */
export function createLogsEnricher(settings: LogsSettings, deps: LogsEnricherDeps): Enricher {
  const re = new RegExp(settings.filter, settings.caseInsensitive ? 'i' : '');
  const signalRe = new RegExp(SIGNAL_PATTERN, 'i');
  const keep = (line: string) => re.test(line) || (settings.matchSignals && signalRe.test(line));
  // what a server-side filter (Loki) gets: the same choice, in RE2
  const pattern = !settings.matchSignals ? settings.filter : `(?:${settings.filter})|${settings.caseInsensitive ? SIGNAL_PATTERN : `(?i:${SIGNAL_PATTERN})`}`;
  const cap = (s: string) => (s.length > settings.lineMax ? `${s.slice(0, settings.lineMax - 1)}…` : s);
  return {
    name: 'logs',
    ...(settings.timeoutMs !== undefined ? { timeoutMs: settings.timeoutMs } : {}),
    async enrich(ctx: EnrichContext): Promise<EnrichmentResult> {
      if (deps.readers.length === 0) throw new SkipEnrichment('no log source configured (sources.logs)');
      const label = settings.sourceLabel;
      const wanted = label ? (ctx.group.commonLabels[label] ?? ctx.group.alerts[0]?.labels[label]) : undefined;
      const picked = wanted !== undefined ? deps.readers.find((r) => r.name === wanted) : undefined;
      const readers = picked ? [picked] : deps.readers;

      const results = await Promise.all(
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

      const sources: LogsEvidence['sources'] = [];
      const matched: Matched[] = [];
      const queries: SourceQuery[] = [];
      let order = 0;
      for (const { reader, res, err } of results) {
        if (!res) {
          sources.push({ name: reader.name, kind: reader.kind, scanned: 0, matched: 0, error: err!.message });
          continue;
        }
        if (res.query) queries.push(res.query);
        let n = 0;
        let carry = 0;
        for (const line of res.lines as LogLine[]) {
          const t = line.time ? Date.parse(line.time) : NaN;
          if (!Number.isNaN(t)) carry = t;
          if (!keep(line.text)) continue;
          n++;
          matched.push({
            source: reader.name,
            ...(line.origin ? { origin: line.origin } : {}),
            time: line.time,
            key: carry,
            order: order++,
            text: maskSecrets(line.text),
          });
        }
        sources.push({
          name: reader.name,
          kind: reader.kind,
          scanned: res.scanned,
          matched: n,
          error: null,
          ...(res.problems?.length ? { problems: res.problems } : {}),
        });
      }
      matched.sort((a, b) => a.key - b.key || a.order - b.order);

      const groups = new Map<string, LogGroup>();
      const signals = Object.fromEntries(SIGNAL_NAMES.map((s) => [s, 0])) as LogsEvidence['signals'];
      for (const m of matched) {
        const shape = lineShape(m.text);
        let g = groups.get(shape);
        if (!g) groups.set(shape, (g = { shape, count: 0, firstSeen: null, lastSeen: null, signal: classifyLine(m.text) }));
        g.count++;
        signals[g.signal]++;
        if (m.time) {
          if (!g.firstSeen || m.time < g.firstSeen) g.firstSeen = m.time;
          if (!g.lastSeen || m.time > g.lastSeen) g.lastSeen = m.time;
        }
      }
      const sorted = [...groups.values()].sort((a, b) => b.count - a.count || (b.lastSeen ?? '').localeCompare(a.lastSeen ?? ''));
      const evidence: LogsEvidence = { sources, matched: matched.length, groups: sorted.slice(0, settings.maxGroups), signals };

      const sections: Section[] = [];
      sections.push({
        type: 'fields',
        title: 'log sources',
        fields: sources.map((s) => ({
          label: `${s.name} (${s.kind})`,
          value: s.error
            ? `failed: ${s.error}`
            : `${s.matched} of ${s.scanned} lines match /${settings.filter}/${settings.caseInsensitive ? 'i' : ''}${s.problems?.length ? `; ${s.problems.join('; ')}` : ''}`,
        })),
      });
      if (wanted !== undefined && !picked) {
        sections.push({
          type: 'text',
          title: 'log sources',
          text: `The alert's ${label} label names no configured log source; every configured one was read.`,
        });
      }
      if (matched.length === 0) {
        sections.push({ type: 'text', title: 'matching lines', text: `No line matched /${settings.filter}/ in what was read.` });
      } else {
        sections.push({
          type: 'table',
          title: 'matching lines by shape',
          columns: ['count', 'signal', 'first seen', 'last seen', 'shape'],
          rows: evidence.groups.map((g) => [String(g.count), g.signal, g.firstSeen ?? '-', g.lastSeen ?? '-', g.shape]),
        });
        if (settings.newestLines > 0) {
          const newest = matched.slice(-settings.newestLines);
          const multi = readers.length > 1;
          const where = (m: Matched) => [multi ? m.source : '', m.origin ?? ''].filter(Boolean).join(' ');
          sections.push({
            type: 'code',
            title: `newest ${newest.length} matching lines (secrets masked)`,
            code: newest.map((m) => cap(`${where(m) ? `[${where(m)}] ` : ''}${m.time ? `${m.time} ` : ''}${m.text}`)).join('\n'),
          });
        }
      }
      const found = SIGNAL_NAMES.filter((s) => s !== 'other' && signals[s] > 0).map((s) => `${signals[s]} ${s}`);
      const scanned = sources.reduce((n, s) => n + s.scanned, 0);
      const summary =
        `${matched.length} of ${scanned} log lines match${found.length ? `: ${found.join(', ')}` : ''}` +
        (failed.length ? `; ${failed.length} source(s) failed` : '');
      return { summary, sections, evidence, ...(queries.length ? { queries } : {}) };
    },
  };
}

/** The registry entry: a reader per configured `sources.logs[]` entry. */
export const logsEnricherModule: EnricherModule<LogsSettings> = {
  name: 'logs',
  settingsSchema: logsSettingsSchema,
  create: (settings, deps) => createLogsEnricher(settings, { readers: deps.clients.config.logs.map(createLogReader) }),
};
