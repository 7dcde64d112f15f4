import type { Section } from '../../core/diagnostic';
import type { PgDatabaseEvidence, PgSession as PgSessionEvidence } from '../../core/evidence';
import type { PostgresSettings } from './settings';
import { capText } from './sql-normalise';

/** The postgres enricher's presentation: neutral sections and a one-line summary per database (no Block Kit). */

/** Characters of a query inside a table cell; the full (capped) text is in the code section. */
const CELL_QUERY_CHARS = 80;

/** A duration for people: 850 ms, 12.3 s, 5m 02s, 2h 03m. */
export function formatMs(v: number | null): string {
  if (v === null) return '-';
  if (v < 1000) return `${Math.round(v)} ms`;
  if (v < 60_000) return `${(v / 1000).toFixed(1)} s`;
  const s = Math.floor(v / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function versionText(v: number | null): string {
  if (v === null) return '-';
  return v >= 100000 ? `${Math.floor(v / 10000)}.${v % 10000}` : `${Math.floor(v / 10000)}.${Math.floor(v / 100) % 100}.${v % 100}`;
}

const FAILURE_TEXT: Record<NonNullable<PgDatabaseEvidence['failure']>['kind'], string> = {
  too_many_clients:
    'The database refused our single monitoring connection because its connection slots are used up. That refusal is itself evidence: the database is at its connection limit.',
  unreachable: 'Nothing answered at the configured address: the database is down, restarting or not reachable from here.',
  timeout: 'The database did not answer in time.',
  auth: "The database rejected the monitoring role's credentials: check sources.postgres (this says nothing about the database's health).",
  circuit_open: 'Not tried: the previous attempts failed, so we wait before trying again rather than add load.',
  error: 'The investigation failed.',
};

function top(counts: Record<string, number>, n: number): Array<[string, number]> {
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, n);
}

export function databaseSections(ev: PgDatabaseEvidence, notes: string[], s: PostgresSettings, multi: boolean): Section[] {
  const t = (title: string) => (multi ? `${ev.name}: ${title}` : title);
  const cell = (q: string) => capText(q.replace(/\s+/g, ' '), CELL_QUERY_CHARS);
  const out: Section[] = [];
  if (ev.failure && !ev.reachable) {
    out.push({
      type: 'text',
      title: t(`could not query (${ev.failure.kind})`),
      text: `${FAILURE_TEXT[ev.failure.kind]}\n${ev.failure.message}${ev.failure.sqlstate ? ` (SQLSTATE ${ev.failure.sqlstate})` : ''}`,
    });
    return out;
  }
  const free =
    ev.maxConnections !== null && ev.connections !== null && ev.reservedConnections !== null
      ? ev.maxConnections - ev.reservedConnections - ev.connections - 1
      : null;
  out.push({
    type: 'fields',
    title: t('connections'),
    fields: [
      { label: 'Client connections', value: `${ev.connections ?? '-'} of max_connections ${ev.maxConnections ?? '-'}` },
      { label: 'Reserved slots', value: String(ev.reservedConnections ?? '-') },
      { label: 'Free for ordinary roles', value: free === null ? '-' : String(Math.max(0, free)) },
      {
        label: 'By state',
        value:
          top(ev.byState, 10)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ') || '-',
      },
      {
        label: 'Idle in transaction (longest)',
        value: ev.idleInTransaction[0] ? `pid ${ev.idleInTransaction[0].pid}, ${formatMs(ev.idleInTransaction[0].stateAgeMs)}` : 'none',
      },
      { label: 'Server', value: `PostgreSQL ${versionText(ev.serverVersionNum)}` },
    ],
  });
  const byApp = top(ev.byApplication, s.topN * 2);
  if (byApp.length)
    out.push({ type: 'table', title: t('connections by application'), columns: ['application', 'connections'], rows: byApp.map(([k, v]) => [k, String(v)]) });
  const byUser = top(ev.byUser, s.topN * 2);
  if (byUser.length)
    out.push({ type: 'table', title: t('connections by user'), columns: ['user', 'connections'], rows: byUser.map(([k, v]) => [k, String(v)]) });
  const wait = (x: PgSessionEvidence) => (x.waitEventType ? `${x.waitEventType}:${x.waitEvent ?? ''}` : '-');
  if (ev.longRunning.length) {
    out.push({
      type: 'table',
      title: t('longest-running active queries'),
      columns: ['pid', 'user', 'application', 'running for', 'waiting on', 'query'],
      rows: ev.longRunning.map((x) => [String(x.pid), x.user ?? '-', x.application ?? '-', formatMs(x.queryAgeMs), wait(x), cell(x.query)]),
    });
  }
  if (ev.idleInTransaction.length) {
    out.push({
      type: 'table',
      title: t('idle in transaction'),
      columns: ['pid', 'user', 'application', 'idle for', 'transaction age', 'last query'],
      rows: ev.idleInTransaction.map((x) => [String(x.pid), x.user ?? '-', x.application ?? '-', formatMs(x.stateAgeMs), formatMs(x.xactAgeMs), cell(x.query)]),
    });
  }
  if (ev.oldestTransactions.length) {
    out.push({
      type: 'table',
      title: t('oldest open transactions'),
      columns: ['pid', 'user', 'application', 'state', 'transaction age', 'query'],
      rows: ev.oldestTransactions.map((x) => [String(x.pid), x.user ?? '-', x.application ?? '-', x.state ?? '-', formatMs(x.xactAgeMs), cell(x.query)]),
    });
  }
  if (ev.blockingChains.length) {
    out.push({
      type: 'table',
      title: t('blocking chains'),
      columns: ['blocker pid', 'user', 'state', 'blocker age', 'waiting', 'waiting pids', 'longest wait', 'blocker query'],
      rows: ev.blockingChains.map((c) => [
        String(c.blockerPid),
        c.blockerUser ?? '-',
        c.blockerState ?? '-',
        formatMs(c.blockerAgeMs),
        String(c.waitingPids.length),
        c.waitingPids.join(', '),
        formatMs(c.longestWaitMs),
        cell(c.blockerQuery),
      ]),
    });
  }
  if (ev.topStatements?.length) {
    out.push({
      type: 'table',
      title: t('top statements by mean time (pg_stat_statements)'),
      columns: ['mean', 'calls', 'total', 'query'],
      rows: ev.topStatements.map((x) => [formatMs(x.meanMs), String(x.calls), formatMs(x.totalMs), cell(x.query)]),
    });
  }
  const code: string[] = [];
  for (const x of ev.longRunning) code.push(`-- long-running: pid ${x.pid}, ${formatMs(x.queryAgeMs)}\n${x.query}`);
  for (const x of ev.idleInTransaction) code.push(`-- idle in transaction: pid ${x.pid}, idle ${formatMs(x.stateAgeMs)}\n${x.query}`);
  for (const c of ev.blockingChains) code.push(`-- blocker: pid ${c.blockerPid}, ${c.waitingPids.length} waiting\n${c.blockerQuery}`);
  for (const x of ev.topStatements ?? []) code.push(`-- top statement: mean ${formatMs(x.meanMs)}, ${x.calls} calls\n${x.query}`);
  if (code.length)
    out.push({ type: 'code', title: t(s.rawQueries ? 'queries (raw text)' : 'queries (literals replaced)'), language: 'sql', code: code.join('\n\n') });
  const none = [
    ev.longRunning.length ? '' : 'active queries',
    ev.idleInTransaction.length ? '' : 'sessions idle in transaction',
    ev.blockingChains.length ? '' : 'blocking chains',
  ].filter(Boolean);
  const lines = [...(none.length ? [`None found: ${none.join(', ')}.`] : []), ...notes];
  if (ev.failure) lines.unshift(`Partly failed (${ev.failure.kind}): ${ev.failure.message}`);
  if (lines.length) out.push({ type: 'text', title: t('notes'), text: lines.join('\n') });
  return out;
}

export function summaryOf(ev: PgDatabaseEvidence): string {
  if (ev.failure && !ev.reachable) return `${ev.name}: not reachable (${ev.failure.kind.replace(/_/g, ' ')})`;
  if (ev.failure) return `${ev.name}: failed (${ev.failure.kind})`;
  const parts = [`${ev.connections}/${ev.maxConnections} connections`];
  const idle = ev.byState['idle in transaction'] ?? 0;
  if (idle) parts.push(`${idle} idle in transaction${ev.idleInTransaction[0] ? ` (longest ${formatMs(ev.idleInTransaction[0].stateAgeMs)})` : ''}`);
  if (ev.blockingChains.length)
    parts.push(`${ev.blockingChains.length} blocker(s), ${ev.blockingChains.reduce((n, c) => n + c.waitingPids.length, 0)} waiting`);
  if (ev.longRunning[0]) parts.push(`longest query ${formatMs(ev.longRunning[0].queryAgeMs)}`);
  return `${ev.name}: ${parts.join(', ')}`;
}
