import type { Section } from '../../core/diagnostic';
import { formatDuration } from '../../core/duration';
import { IDLE_IN_TX_SETTLED_MS, type PgDatabaseEvidence, type PgSession as PgSessionEvidence } from '../../core/evidence';
import type { PostgresSettings } from './settings';
import { capText } from './sql-normalise';

/** The postgres enricher's presentation: neutral sections and a one-line summary per database (no Block Kit). */

/** Characters of a query inside a table cell; the full (capped) text is in the code section. */
const CELL_QUERY_CHARS = 80;

/** A duration in a section's text or table cell (core/duration.ts), "-" where it was not measured. */
export function formatMs(v: number | null): string {
  return v === null ? '-' : formatDuration(v);
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
  busy: 'Not read: our single monitoring connection to it was busy with other diagnoses for the whole deadline (we never open a second one). This says nothing about the database.',
  auth: "The database rejected the monitoring role's credentials: check sources.postgres (this says nothing about the database's health).",
  circuit_open: 'Not tried: the previous attempts failed, so we wait before trying again rather than add load.',
  error: 'The investigation failed.',
};

function top(counts: Record<string, number>, n: number): Array<[string, number]> {
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, n);
}

/** Who a session belongs to, for a table cell. */
function whose(owner: PgSessionEvidence['owner'], tool: string | null): string {
  if (owner === 'person') return tool ? `a person (${tool})` : 'a person';
  if (owner === 'application') return 'the application';
  if (owner === 'other') return tool ? `other (${tool})` : 'other';
  return '-';
}

const REFUSAL_TEXT: Record<NonNullable<NonNullable<PgDatabaseEvidence['failure']>['refusal']>, string> = {
  auth: "the monitoring role could not log in (user, password, pg_hba.conf or the pooler's auth_file)",
  startup_parameter: 'a connection pooler refused a startup parameter',
  tls: 'TLS between us and the endpoint failed',
  database: 'the database in the URL does not exist there',
  role_login: 'the monitoring role may not log in (NOLOGIN)',
  role_limit: "the monitoring role's own CONNECTION LIMIT is used up",
  privilege: 'the monitoring role lacks CONNECT on the database',
};

const POOLER_LIMIT_TEXT: Record<NonNullable<NonNullable<NonNullable<PgDatabaseEvidence['failure']>['pooler']>['limit']>, string> = {
  max_client_conn:
    "PgBouncer refused our connection: its max_client_conn is reached, and the application's new connections are refused the same way. That is the pooler's limit, not the database's.",
  query_wait_timeout: "PgBouncer gave up on our query after query_wait_timeout: no server connection came free in its pool. That is the pooler's saturation.",
  queue:
    "Our first statement waited in the pooler's queue for a server connection until our deadline: its pool is likely full. That alone does not say the database is down.",
  server_login: 'PgBouncer cannot log in to PostgreSQL (server_login_retry): the database behind it is down, full or refusing PgBouncer.',
};

function failureSection(ev: PgDatabaseEvidence, t: (title: string) => string): Section {
  const f = ev.failure!;
  const detail = `${f.message}${f.sqlstate ? ` (SQLSTATE ${f.sqlstate})` : ''}`;
  if (f.refusal) {
    const notTried = f.kind === 'circuit_open' ? 'Not tried now: the last attempts were refused too. ' : '';
    return {
      type: 'text',
      title: t('could not query (monitoring configuration)'),
      text: `${notTried}Our monitoring connection was refused because of its own configuration: ${REFUSAL_TEXT[f.refusal]}. This says nothing about the database's health; fix sources.postgres[].url or the role.\n${detail}`,
    };
  }
  if (f.pooler?.limit)
    return { type: 'text', title: t(`could not query (the pooler: ${f.pooler.limit})`), text: `${POOLER_LIMIT_TEXT[f.pooler.limit]}\n${detail}` };
  return { type: 'text', title: t(`could not query (${f.kind})`), text: `${FAILURE_TEXT[f.kind]}\n${detail}` };
}

/** What the pooler between us and PostgreSQL keeps out of pg_stat_activity. */
export const POOLER_HIDES =
  "What this section cannot show from here: clients waiting inside the pooler (they hold no server connection, so pg_stat_activity does not list them); the application's own client connections (the sessions here are the pooler's server connections: their pids and client_addr are the pooler's, not the application's); and in transaction pooling, clients idle between transactions. Read the pooler itself with sources.pgbouncer[].";

function blindSpotText(ev: PgDatabaseEvidence): string | null {
  const v = ev.visibility;
  if (!v || v.hidden === 0) return null;
  const role = ev.monitor?.role ? `The monitoring role "${ev.monitor.role}"` : 'The monitoring role';
  const groups = ev.clients
    .filter((g) => g.hidden > 0)
    .map((g) => `${g.hidden} of ${g.application ?? '(no application_name)'} (user ${g.user ?? '?'}${g.owner === 'application' ? ', the application' : ''})`);
  const background = v.hidden - v.hiddenClients;
  return [
    `${role} cannot see ${v.hidden} backends: pg_stat_activity shows them with query "<insufficient privilege>" and no state, backend type or times.`,
    ...(v.hiddenClients > 0
      ? [
          `${v.hiddenClients} of them have a user and a database, most likely other roles' client backends: ${groups.join(', ') || '-'}${background > 0 ? `; the other ${background} are background processes` : ''}.`,
        ]
      : []),
    'Their state, idle transactions and locks are unknown here: nothing below counts them as idle, busy or absent.',
    v.grant ? `To see them: ${v.grant}` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

export function databaseSections(ev: PgDatabaseEvidence, notes: string[], s: PostgresSettings, multi: boolean): Section[] {
  const t = (title: string) => (multi ? `${ev.name}: ${title}` : title);
  const cell = (q: string) => capText(q.replace(/\s+/g, ' '), CELL_QUERY_CHARS);
  const out: Section[] = [];
  if (ev.failure && !ev.reachable) {
    out.push(failureSection(ev, t));
    if (ev.endpoint.pooler)
      out.push({
        type: 'text',
        title: t('through a connection pooler'),
        text: `The monitoring URL points at a connection pooler: ${ev.endpoint.pooler.evidence}.`,
      });
    return out;
  }
  if (ev.endpoint.pooler) {
    out.push({
      type: 'text',
      title: t('through a connection pooler'),
      text: `The monitoring URL reaches PostgreSQL through a connection pooler (${ev.endpoint.pooler.kind === 'pgbouncer' ? 'PgBouncer' : 'PgBouncer or similar'}): ${ev.endpoint.pooler.evidence}.\n${POOLER_HIDES}`,
    });
  }
  const blind = blindSpotText(ev);
  if (blind) out.push({ type: 'text', title: t('blind spots'), text: blind });
  const sl = ev.slots;
  const longestIdle = ev.idleInTransaction[0];
  const free =
    ev.maxConnections !== null && ev.connections !== null && ev.reservedConnections !== null
      ? ev.maxConnections - ev.reservedConnections - ev.connections - 1
      : null;
  out.push({
    type: 'fields',
    title: t('connections'),
    fields: [
      {
        label: 'Client connections',
        value: `${sl ? sl.used : (ev.connections ?? '-')} of max_connections ${ev.maxConnections ?? '-'}${sl?.unknown ? `, and ${sl.unknown} we cannot see` : ''}`,
      },
      sl
        ? {
            label: 'Usable by ordinary roles',
            value: `${sl.usable} (max_connections ${sl.maxConnections} - superuser_reserved_connections ${sl.superuserReserved}${sl.reserved ? ` - reserved_connections ${sl.reserved}` : ''})`,
          }
        : { label: 'Reserved slots', value: String(ev.reservedConnections ?? '-') },
      sl ? { label: 'Who can connect', value: sl.whoCanConnect } : { label: 'Free for ordinary roles', value: free === null ? '-' : String(Math.max(0, free)) },
      ...(sl && sl.ourTier !== 'ordinary'
        ? [
            {
              label: 'Our connection',
              value: `on a ${sl.ourTier === 'reserved' ? 'reserved_connections slot (pg_use_reserved_connections)' : 'superuser_reserved_connections slot'}: the ordinary ones are full`,
            },
          ]
        : []),
      {
        label: 'By state',
        value:
          top(ev.byState, 10)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ') || '-',
      },
      {
        label: 'Idle in transaction (longest)',
        value: longestIdle
          ? `pid ${longestIdle.pid}, ${formatMs(longestIdle.stateAgeMs)}${longestIdle.owner ? `, ${whose(longestIdle.owner, longestIdle.tool)}` : ''}`
          : 'none',
      },
      { label: 'Server', value: `PostgreSQL ${versionText(ev.serverVersionNum)}` },
    ],
  });
  if (ev.clients.length) {
    out.push({
      type: 'table',
      title: t('clients'),
      columns: ['application', 'user', 'whose', 'sessions', 'hidden', 'by state', `idle in transaction ≥ ${formatMs(IDLE_IN_TX_SETTLED_MS)} (longest)`],
      rows: ev.clients.slice(0, s.topN * 2).map((g) => [
        g.application ?? '(none)',
        g.user ?? '-',
        whose(g.owner, g.tool),
        String(g.sessions),
        String(g.hidden),
        top(g.byState, 5)
          .map(([k, v]) => `${k} ${v}`)
          .join(', '),
        g.idleInTransactionSettled ? `${g.idleInTransactionSettled} (${formatMs(g.longestIdleInTransactionMs)})` : '0',
      ]),
    });
  } else {
    const byApp = top(ev.byApplication, s.topN * 2);
    if (byApp.length)
      out.push({ type: 'table', title: t('connections by application'), columns: ['application', 'connections'], rows: byApp.map(([k, v]) => [k, String(v)]) });
  }
  if (ev.application) out.push({ type: 'text', title: t('whose sessions'), text: ev.application.describe });
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
      columns: ['pid', 'user', 'application', 'whose', 'idle for', 'transaction age', 'last query'],
      rows: ev.idleInTransaction.map((x) => [
        String(x.pid),
        x.user ?? '-',
        x.application ?? '-',
        whose(x.owner, x.tool),
        formatMs(x.stateAgeMs),
        formatMs(x.xactAgeMs),
        cell(x.query),
      ]),
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
  if (ev.lockTrees.length) {
    out.push({
      type: 'table',
      title: t('lock waits by root'),
      columns: ['root', 'kind', 'whose', 'state', 'age', 'waiting', 'longest wait', 'query'],
      rows: ev.lockTrees.map((x) => [
        x.kind === 'prepared' ? `gid ${x.gid ?? '?'}` : `pid ${x.rootPid}`,
        x.kind.replace(/_/g, ' '),
        whose(x.owner, x.tool),
        x.state ?? '-',
        formatMs(x.ageMs),
        String(x.waiting),
        formatMs(x.longestWaitMs),
        cell(x.query),
      ]),
    });
    // one line per waiting strong lock request, with every root it waits behind
    const queues = new Map<number, { q: NonNullable<(typeof ev.lockTrees)[number]['queuedLock']>; behind: string[] }>();
    for (const x of ev.lockTrees) {
      if (!x.queuedLock) continue;
      const e = queues.get(x.queuedLock.pid) ?? { q: x.queuedLock, behind: [] };
      e.behind.push(x.kind === 'prepared' ? `prepared transaction ${x.gid ?? '?'}` : `pid ${x.rootPid}`);
      queues.set(x.queuedLock.pid, e);
    }
    if (queues.size) {
      out.push({
        type: 'text',
        title: t('lock queues'),
        text: [...queues.values()]
          .map(
            ({ q, behind }) =>
              `pid ${q.pid} has waited ${formatMs(q.waitMs)} for a strong lock behind ${behind.join(', ')}, and ${q.queuedBehind} sessions queue behind it: ${cell(q.query)}`,
          )
          .join('\n'),
      });
    }
  } else if (ev.blockingChains.length) {
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
  if (ev.preparedTransactions.length) {
    out.push({
      type: 'table',
      title: t('prepared transactions'),
      columns: ['gid', 'owner', 'database', 'age', 'locks', 'waiting pids'],
      rows: ev.preparedTransactions.map((p) => [p.gid, p.owner ?? '-', p.database ?? '-', formatMs(p.ageMs), String(p.locks), p.waitingPids.join(', ') || '-']),
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
  for (const x of ev.lockTrees)
    code.push(`-- lock root: ${x.kind === 'prepared' ? `gid ${x.gid ?? '?'}` : `pid ${x.rootPid}`}, ${x.waiting} waiting\n${x.query}`);
  for (const x of ev.topStatements ?? []) code.push(`-- top statement: mean ${formatMs(x.meanMs)}, ${x.calls} calls\n${x.query}`);
  if (code.length)
    out.push({ type: 'code', title: t(s.rawQueries ? 'queries (raw text)' : 'queries (literals replaced)'), language: 'sql', code: code.join('\n\n') });
  const hiddenNote = (ev.visibility?.hidden ?? 0) > 0 ? ' among the sessions we can see' : '';
  const none = [
    ev.longRunning.length ? '' : 'active queries',
    ev.idleInTransaction.length ? '' : 'sessions idle in transaction',
    ev.blockingChains.length || ev.lockTrees.length ? '' : 'lock waits',
  ].filter(Boolean);
  const types = top(ev.backendTypes, 12).filter(([k]) => k !== 'client backend');
  const lines = [
    ...(none.length ? [`None found${hiddenNote}: ${none.join(', ')}.`] : []),
    ...(types.length ? [`Other backends: ${types.map(([k, v]) => `${k} ${v}`).join(', ')}.`] : []),
    ...notes,
  ];
  if (ev.failure) lines.unshift(`Partly failed (${ev.failure.kind}): ${ev.failure.message}`);
  if (lines.length) out.push({ type: 'text', title: t('notes'), text: lines.join('\n') });
  return out;
}

export function summaryOf(ev: PgDatabaseEvidence): string {
  const f = ev.failure;
  if (f && !ev.reachable) {
    if (f.refusal) return `${ev.name}: not queried (monitoring configuration: ${f.refusal.replace(/_/g, ' ')})`;
    if (f.pooler?.limit) return `${ev.name}: not queried (the pooler: ${f.pooler.limit})`;
    return `${ev.name}: not reachable (${f.kind.replace(/_/g, ' ')})`;
  }
  if (f) return `${ev.name}: failed (${f.kind})`;
  const parts = [`${ev.slots?.used ?? ev.connections}/${ev.maxConnections} connections`];
  if (ev.visibility?.hidden) parts.push(`${ev.visibility.hidden} hidden from us`);
  const idle = ev.byState['idle in transaction'] ?? 0;
  if (idle) parts.push(`${idle} idle in transaction${ev.idleInTransaction[0] ? ` (longest ${formatMs(ev.idleInTransaction[0].stateAgeMs)})` : ''}`);
  if (ev.lockTrees.length) parts.push(`${ev.lockTrees.length} lock root(s), ${ev.lockTrees.reduce((n, c) => n + c.waiting, 0)} waiting`);
  else if (ev.blockingChains.length)
    parts.push(`${ev.blockingChains.length} blocker(s), ${ev.blockingChains.reduce((n, c) => n + c.waitingPids.length, 0)} waiting`);
  if (ev.longRunning[0]) parts.push(`longest query ${formatMs(ev.longRunning[0].queryAgeMs)}`);
  if (ev.endpoint.pooler) parts.push('through a pooler');
  return `${ev.name}: ${parts.join(', ')}`;
}
