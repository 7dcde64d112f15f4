import { z } from 'zod';
import { SkipEnrichment, throwIfAborted, type EnrichContext, type Enricher, type EnrichmentResult } from '../core/enricher';
import type { Section } from '../core/diagnostic';
import { IDLE_SETTLED_MS, type PgBlockingChain, type PgDatabaseEvidence, type PgSession as PgSessionEvidence, type PostgresEvidence } from '../core/evidence';
import { PostgresSourceError, STATEMENT_TAG, type PgSession, type PostgresGuard } from '../sources/postgres';
import type { EnricherModule } from './registry-types';
import { capText, normaliseSql } from './sql-normalise';

/**
 * `postgres`: what the runbook asks a person to look up in the monitored databases, through
 * the shared connection guards (one connection per database, read-only, timeouts, breaker).
 *
 * Failures and the enrichment status, consistently:
 * - Every failure to reach or query ONE database is evidence, not an error: the database's
 *   entry says `reachable: false` (or true when the failure came after connecting) and
 *   `failure.kind`: `too_many_clients` (the refusal is the diagnosis' evidence),
 *   `unreachable`, `timeout`, `auth`, `circuit_open` (not tried: the breaker is open; `sqlstate`
 *   is the last failure's) or `error`; the status stays `ok` and a text section says it plainly.
 * - The enricher itself only fails when its own deadline / the run's budget aborts it (status
 *   `timeout`, from the pipeline), and is `skipped` when no database is configured.
 */

const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** `enrichers.postgres` settings (a route's `options` too). */
export const postgresSettingsSchema = z.strictObject({
  /** Show query text as it is instead of normalised (literals replaced). */
  rawQueries: z.boolean().default(false),
  /** Rows in each list (long-running, oldest transactions, idle in transaction, blockers, statements). */
  topN: z.number().int().min(1).max(50).default(5),
  /** Cap on each query text, characters. */
  queryTextMax: z.number().int().min(40).max(10_000).default(300),
  /** An alert label whose value picks one configured database by name; null: always all. */
  databaseLabel: z.string().regex(labelName, 'must be a label name').nullable().default('database'),
  /** The enricher's own timeout; default: the pipeline's. */
  timeoutMs: z.number().int().positive().optional(),
});
export type PostgresSettings = z.infer<typeof postgresSettingsSchema>;

/** At most this many waiting backends get a pg_blocking_pids call per run (each call briefly locks the lock manager: REFERENCE.md §5). */
export const MAX_WAITERS_CHECKED = 200;
/** Query text fetched from the server, before normalising (track_activity_query_size defaults to 1024). */
const QUERY_FETCH_CHARS = 4096;
/** Characters of a query inside a table cell; the full (capped) text is in the code section. */
const CELL_QUERY_CHARS = 80;
/** Every query of ours starts with this, so pg_stat_statements rows of ours can be left out. */
const TAG = STATEMENT_TAG;

const SESSION_COLUMNS = `pid, usename AS usr, application_name AS app, host(client_addr) AS client_addr, state,
  wait_event_type, wait_event,
  (extract(epoch FROM clock_timestamp() - query_start) * 1000)::float8 AS query_age_ms,
  (extract(epoch FROM clock_timestamp() - xact_start) * 1000)::float8 AS xact_age_ms,
  (extract(epoch FROM clock_timestamp() - state_change) * 1000)::float8 AS state_age_ms,
  left(query, ${QUERY_FETCH_CHARS}) AS query`;
const CLIENTS = `backend_type = 'client backend' AND pid <> pg_backend_pid()`;

/** The queries, for reading and for tests. */
export const PG_QUERIES = {
  settings: `${TAG} SELECT current_setting('server_version_num')::int AS version,
  current_setting('max_connections')::int AS max_connections,
  current_setting('superuser_reserved_connections')::int AS su_reserved,
  COALESCE(NULLIF(current_setting('reserved_connections', true), '')::int, 0) AS reserved`,
  counts: `${TAG} SELECT COALESCE(state, '(unknown)') AS state, COALESCE(NULLIF(application_name, ''), '(none)') AS app,
  COALESCE(usename, '(unknown)') AS usr, count(*)::int AS n,
  (count(*) FILTER (WHERE state = 'idle' AND state_change < clock_timestamp() - interval '${IDLE_SETTLED_MS} milliseconds'))::int AS settled
FROM pg_stat_activity WHERE ${CLIENTS} GROUP BY 1, 2, 3`,
  longRunning: `${TAG} SELECT ${SESSION_COLUMNS} FROM pg_stat_activity
WHERE ${CLIENTS} AND state = 'active' AND query_start IS NOT NULL ORDER BY query_start LIMIT $1`,
  oldestTransactions: `${TAG} SELECT ${SESSION_COLUMNS} FROM pg_stat_activity
WHERE ${CLIENTS} AND xact_start IS NOT NULL ORDER BY xact_start LIMIT $1`,
  idleInTransaction: `${TAG} SELECT ${SESSION_COLUMNS} FROM pg_stat_activity
WHERE ${CLIENTS} AND state IN ('idle in transaction', 'idle in transaction (aborted)') ORDER BY state_change LIMIT $1`,
  /** pg_blocking_pids once per backend waiting on a lock, never per row of everything. */
  waiters: `${TAG} WITH waiting AS (
  SELECT pid, query_start FROM pg_stat_activity
  WHERE ${CLIENTS} AND wait_event_type = 'Lock' ORDER BY query_start LIMIT ${MAX_WAITERS_CHECKED}
)
SELECT w.pid AS waiting_pid, (extract(epoch FROM clock_timestamp() - w.query_start) * 1000)::float8 AS wait_ms, b.blocker
FROM waiting w CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS b(blocker)`,
  blockers: `${TAG} SELECT ${SESSION_COLUMNS} FROM pg_stat_activity WHERE pid = ANY($1::int[])`,
  pgssSchema: `${TAG} SELECT n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements'`,
  pgssColumns: `${TAG} SELECT attname::text AS name FROM pg_attribute
WHERE attrelid = to_regclass(quote_ident($1) || '.pg_stat_statements') AND NOT attisdropped
  AND attname IN ('mean_exec_time', 'total_exec_time', 'mean_time', 'total_time')`,
  /** Column names: PG 13+ (extension 1.8+) `mean_exec_time`/`total_exec_time`, before `mean_time`/`total_time`. */
  pgssTop: (schema: string, mean: string, total: string) => `${TAG} SELECT left(query, ${QUERY_FETCH_CHARS}) AS query, calls::float8 AS calls,
  ${mean}::float8 AS mean_ms, ${total}::float8 AS total_ms
FROM "${schema.replace(/"/g, '""')}".pg_stat_statements
WHERE calls > 0 AND query NOT LIKE '${TAG}%' ORDER BY ${mean} DESC LIMIT $1`,
};

interface SessionRow {
  pid: number;
  usr: string | null;
  app: string | null;
  client_addr: string | null;
  state: string | null;
  wait_event_type: string | null;
  wait_event: string | null;
  query_age_ms: number | null;
  xact_age_ms: number | null;
  state_age_ms: number | null;
  query: string | null;
}

const ms = (v: number | null): number | null => (v === null || v === undefined || Number.isNaN(v) ? null : Math.max(0, Math.round(v)));

function emptyDatabase(name: string): PgDatabaseEvidence {
  return {
    name,
    reachable: false,
    failure: null,
    serverVersionNum: null,
    maxConnections: null,
    reservedConnections: null,
    connections: null,
    byState: {},
    idleSettled: null,
    byApplication: {},
    byUser: {},
    longRunning: [],
    oldestTransactions: [],
    idleInTransaction: [],
    blockingChains: [],
    topStatements: null,
  };
}

/** Whether a failure of this kind and SQLSTATE happened after the connection was up. */
function reachedServer(e: PostgresSourceError): boolean {
  if (e.kind === 'timeout') return e.sqlstate === '57014' || e.sqlstate === '55P03';
  if (e.kind === 'error') return e.sqlstate !== undefined && !e.sqlstate.startsWith('08') && !e.sqlstate.startsWith('3D');
  return false;
}

/** Runs the whole investigation of one database in one read-only transaction. */
async function investigate(
  db: PgSession,
  name: string,
  s: PostgresSettings,
  text: (q: string | null) => string,
): Promise<{ ev: PgDatabaseEvidence; notes: string[] }> {
  const ev = emptyDatabase(name);
  const notes: string[] = [];
  ev.reachable = true;
  const [settings] = await db.query<{ version: number; max_connections: number; su_reserved: number; reserved: number }>(PG_QUERIES.settings);
  ev.serverVersionNum = settings!.version;
  ev.maxConnections = settings!.max_connections;
  ev.reservedConnections = settings!.su_reserved + settings!.reserved;

  const counts = await db.query<{ state: string; app: string; usr: string; n: number; settled: number }>(PG_QUERIES.counts);
  let total = 0;
  ev.idleSettled = 0;
  for (const r of counts) {
    total += r.n;
    ev.idleSettled += r.settled;
    ev.byState[r.state] = (ev.byState[r.state] ?? 0) + r.n;
    ev.byApplication[r.app] = (ev.byApplication[r.app] ?? 0) + r.n;
    ev.byUser[r.usr] = (ev.byUser[r.usr] ?? 0) + r.n;
  }
  ev.connections = total;

  const toSession = (r: SessionRow): PgSessionEvidence => ({
    pid: r.pid,
    user: r.usr,
    application: r.app || null,
    clientAddr: r.client_addr,
    state: r.state,
    waitEventType: r.wait_event_type,
    waitEvent: r.wait_event,
    queryAgeMs: ms(r.query_age_ms),
    xactAgeMs: ms(r.xact_age_ms),
    stateAgeMs: ms(r.state_age_ms),
    query: text(r.query),
  });
  ev.longRunning = (await db.query<SessionRow>(PG_QUERIES.longRunning, [s.topN])).map(toSession);
  ev.oldestTransactions = (await db.query<SessionRow>(PG_QUERIES.oldestTransactions, [s.topN])).map(toSession);
  ev.idleInTransaction = (await db.query<SessionRow>(PG_QUERIES.idleInTransaction, [s.topN])).map(toSession);

  // Optional parts run under a savepoint: their failure leaves the rest of the evidence intact.
  const optional = async <T>(label: string, fn: () => Promise<T>): Promise<T | undefined> => {
    await db.query(`${TAG} SAVEPOINT pagefirst_optional`);
    try {
      const v = await fn();
      await db.query(`${TAG} RELEASE SAVEPOINT pagefirst_optional`);
      return v;
    } catch (e) {
      if (e instanceof PostgresSourceError && (e.kind === 'error' || (e.kind === 'timeout' && e.sqlstate !== undefined))) {
        await db.query(`${TAG} ROLLBACK TO SAVEPOINT pagefirst_optional`);
        notes.push(`${label} unavailable: ${e.message}`);
        return undefined;
      }
      throw e;
    }
  };

  ev.blockingChains =
    (await optional('blocking chains', async () => {
      const edges = await db.query<{ waiting_pid: number; wait_ms: number | null; blocker: number }>(PG_QUERIES.waiters);
      if (edges.length === 0) return [];
      const byBlocker = new Map<number, { waiting: Set<number>; longest: number | null }>();
      for (const e of edges) {
        const b = byBlocker.get(e.blocker) ?? { waiting: new Set<number>(), longest: null };
        b.waiting.add(e.waiting_pid);
        const w = ms(e.wait_ms);
        if (w !== null && (b.longest === null || w > b.longest)) b.longest = w;
        byBlocker.set(e.blocker, b);
      }
      const rows = await db.query<SessionRow>(PG_QUERIES.blockers, [[...byBlocker.keys()]]);
      const info = new Map(rows.map((r) => [r.pid, r]));
      const chains: PgBlockingChain[] = [...byBlocker].map(([pid, b]) => {
        const r = info.get(pid);
        return {
          blockerPid: pid,
          blockerUser: r?.usr ?? null,
          blockerApplication: r?.app || null,
          blockerState: r?.state ?? null,
          blockerQuery: text(r?.query ?? null),
          blockerAgeMs: ms(r?.xact_age_ms ?? r?.query_age_ms ?? null),
          waitingPids: [...b.waiting].sort((x, y) => x - y),
          longestWaitMs: b.longest,
        };
      });
      // Root blockers (waiting on no lock themselves) first: in a row-lock queue the holder blocks
      // one session directly and every queued waiter blocks more, so ordering by waiter count
      // alone cut the root holder off the top N.
      const waiting = new Set(edges.map((e) => e.waiting_pid));
      const root = (c: PgBlockingChain) => (waiting.has(c.blockerPid) ? 0 : 1);
      chains.sort((a, b) => root(b) - root(a) || b.waitingPids.length - a.waitingPids.length || (b.blockerAgeMs ?? 0) - (a.blockerAgeMs ?? 0));
      return chains.slice(0, s.topN);
    })) ?? [];

  ev.topStatements =
    (await optional('pg_stat_statements', async () => {
      const [ext] = await db.query<{ schema: string }>(PG_QUERIES.pgssSchema);
      if (!ext) {
        notes.push('pg_stat_statements is not installed in this database: no top statements.');
        return null;
      }
      const cols = new Set((await db.query<{ name: string }>(PG_QUERIES.pgssColumns, [ext.schema])).map((r) => r.name));
      const [mean, total] = cols.has('mean_exec_time') ? ['mean_exec_time', 'total_exec_time'] : cols.has('mean_time') ? ['mean_time', 'total_time'] : [];
      if (!mean || !total) {
        notes.push('pg_stat_statements has neither mean_exec_time nor mean_time: no top statements.');
        return null;
      }
      const rows = await db.query<{ query: string | null; calls: number; mean_ms: number; total_ms: number }>(PG_QUERIES.pgssTop(ext.schema, mean, total), [
        s.topN,
      ]);
      return rows.map((r) => ({ query: text(r.query), calls: r.calls, meanMs: round2(r.mean_ms), totalMs: round2(r.total_ms) }));
    })) ?? null;
  return { ev, notes };
}

const round2 = (v: number) => Math.round(v * 100) / 100;

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

function databaseSections(ev: PgDatabaseEvidence, notes: string[], s: PostgresSettings, multi: boolean): Section[] {
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

function summaryOf(ev: PgDatabaseEvidence): string {
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

/** Narrow dependencies: the shared guards by configured database name. */
export interface PostgresEnricherDeps {
  guards: ReadonlyMap<string, PostgresGuard>;
}

/**
 * Creates the `postgres` enricher. It queries every configured database in parallel (or the one
 * an alert label names, `databaseLabel`; a name that is not configured is never connected to),
 * returns PostgresEvidence and sections; see the top of this file for what is `ok`.
 */
export function createPostgresEnricher(settings: PostgresSettings, deps: PostgresEnricherDeps): Enricher {
  const text = (q: string | null) => (q === null ? '' : settings.rawQueries ? capText(q, settings.queryTextMax) : normaliseSql(q, settings.queryTextMax));
  return {
    name: 'postgres',
    ...(settings.timeoutMs !== undefined ? { timeoutMs: settings.timeoutMs } : {}),
    async enrich(ctx: EnrichContext): Promise<EnrichmentResult> {
      if (deps.guards.size === 0) throw new SkipEnrichment('no database configured (sources.postgres)');
      const all = [...deps.guards.values()];
      const label = settings.databaseLabel;
      const wanted = label ? (ctx.group.commonLabels[label] ?? ctx.group.alerts[0]?.labels[label]) : undefined;
      const picked = wanted !== undefined ? deps.guards.get(wanted) : undefined;
      const guards = picked ? [picked] : all;
      const preface: Section[] = [];
      if (wanted !== undefined && !picked) {
        preface.push({
          type: 'text',
          title: 'databases',
          text: `The alert's ${label} label names no configured database; every configured one was queried (${all.map((g) => g.name).join(', ')}).`,
        });
      }
      const results = await Promise.all(
        guards.map(async (g) => {
          try {
            return await g.run((db) => investigate(db, g.name, settings, text), ctx.signal);
          } catch (e) {
            throwIfAborted(ctx.signal);
            const err = e instanceof PostgresSourceError ? e : new PostgresSourceError(e instanceof Error ? e.message : String(e), 'error');
            ctx.logger.warn({ database: g.name, kind: err.kind, sqlstate: err.sqlstate, error: err.message }, 'postgres investigation failed');
            const ev = emptyDatabase(g.name);
            ev.reachable = reachedServer(err);
            ev.failure = { kind: err.kind, message: err.message, ...(err.sqlstate ? { sqlstate: err.sqlstate } : {}) };
            return { ev, notes: [] as string[] };
          }
        }),
      );
      throwIfAborted(ctx.signal);
      const multi = results.length > 1;
      const evidence: PostgresEvidence = { databases: results.map((r) => r.ev) };
      return {
        summary: results.map((r) => summaryOf(r.ev)).join('; '),
        sections: [...preface, ...results.flatMap((r) => databaseSections(r.ev, r.notes, settings, multi))],
        evidence: evidence as unknown as Record<string, unknown>,
      };
    },
  };
}

/** The registry entry: picks the shared guards from the source clients. */
export const postgresEnricherModule: EnricherModule<PostgresSettings> = {
  name: 'postgres',
  settingsSchema: postgresSettingsSchema,
  create: (settings, deps) => createPostgresEnricher(settings, { guards: deps.clients.postgres ?? new Map() }),
};
