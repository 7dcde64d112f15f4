import type { PgDatabaseEvidence, PgSession as PgSessionEvidence } from '../../core/evidence';
import type { ApplicationSessions } from '../../sources/config';
import { PostgresSourceError, type PgSession } from '../../sources/postgres';
import { readActivity, type ActivityReading, type SessionDraft } from './activity';
import { lockTrees, type LockInput } from './locks';
import type { PostgresSettings } from './settings';
import { activityQuery, HIDDEN_QUERY, MAX_ACTIVITY_ROWS, MAX_WAITERS_CHECKED, PG_QUERIES, TAG, type ActivityRow } from './sql';

/** The postgres enricher's evidence: one database investigated, in one read-only transaction, as PgDatabaseEvidence. */

export function emptyDatabase(name: string): PgDatabaseEvidence {
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
    endpoint: { pooler: null, backendPid: null },
    monitor: null,
    visibility: null,
    application: null,
    clients: [],
    slots: null,
    backendTypes: {},
    lockTrees: [],
    preparedTransactions: [],
  };
}

/** The evidence's `failure` for an error of the source: its kind and message, and what it knows of SQLSTATE, refusal and pooler. */
export function failureOf(e: PostgresSourceError): NonNullable<PgDatabaseEvidence['failure']> {
  return {
    kind: e.kind,
    message: e.message,
    ...(e.sqlstate ? { sqlstate: e.sqlstate } : {}),
    ...(e.refusal ? { refusal: e.refusal } : {}),
    ...(e.pooler ? { pooler: e.pooler } : {}),
  };
}

/** Whether a failure of this kind and SQLSTATE happened after the connection was up. */
export function reachedServer(e: PostgresSourceError): boolean {
  if (e.kind === 'timeout') return e.sqlstate === '57014' || e.sqlstate === '55P03';
  if (e.kind === 'error') return e.sqlstate !== undefined && !e.sqlstate.startsWith('08') && !e.sqlstate.startsWith('3D');
  return false;
}

/**
 * Fills `ev` from one activity reading, the lock edges and the query texts: the listed sessions
 * with their text, the lock trees and the prepared transactions. Pure; the investigation and the
 * field-file tests share it.
 */
export function completeEvidence(
  ev: PgDatabaseEvidence,
  reading: ActivityReading,
  x: Pick<LockInput, 'edges' | 'prepared' | 'preparedWaits' | 'queries' | 'text' | 'topN'>,
): PgDatabaseEvidence {
  Object.assign(ev, reading.ev);
  const withText = (d: SessionDraft): PgSessionEvidence => ({ ...d, query: x.text(x.queries.get(d.pid) ?? null) });
  ev.longRunning = reading.longRunning.map(withText);
  ev.oldestTransactions = reading.oldestTransactions.map(withText);
  ev.idleInTransaction = reading.idleInTransaction.map(withText);
  Object.assign(ev, lockTrees({ ...x, byPid: reading.byPid }));
  return ev;
}

/** What the investigation needs besides the session: which sessions are the application's, and the alert's labels to guess it. */
export interface InvestigationContext {
  application: ApplicationSessions | undefined;
  alertLabels: Record<string, string>;
}

/** Runs the whole investigation of one database in one read-only transaction. */
export async function investigate(
  db: PgSession,
  name: string,
  s: PostgresSettings,
  text: (q: string | null) => string,
  ctx: InvestigationContext,
): Promise<{ ev: PgDatabaseEvidence; notes: string[] }> {
  const ev = emptyDatabase(name);
  const notes: string[] = [];
  ev.reachable = true;
  ev.endpoint = {
    pooler: db.endpoint.pooler ? { kind: db.endpoint.pooler.kind, evidence: db.endpoint.pooler.evidence } : null,
    backendPid: db.endpoint.backendPid,
  };
  const [settings] = await db.query<{ version: number; max_connections: number; su_reserved: number; reserved: number }>(PG_QUERIES.settings);

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

  const [monitor] =
    (await optional("the monitoring role's privileges", () =>
      db.query<{ role: string; superuser: boolean; read_all_stats: boolean; use_reserved: boolean | null }>(PG_QUERIES.monitor),
    )) ?? [];
  const rows = await db.query<ActivityRow>(activityQuery(settings!.version));
  const reading = readActivity({
    rows,
    settings: { version: settings!.version, maxConnections: settings!.max_connections, superuserReserved: settings!.su_reserved, reserved: settings!.reserved },
    monitor: monitor ? { role: monitor.role, superuser: monitor.superuser, readAllStats: monitor.read_all_stats, useReserved: monitor.use_reserved } : null,
    application: ctx.application,
    alertLabels: ctx.alertLabels,
    topN: s.topN,
  });
  if (reading.unread > 0) notes.push(`${reading.unread} more backends than the ${MAX_ACTIVITY_ROWS} read: counts cover the first ${MAX_ACTIVITY_ROWS}.`);

  // lock waits: every backend waiting on a heavyweight lock, whatever its kind (a hidden row shows no wait)
  const waiterPids = [...reading.byPid.values()]
    .filter((r) => r.wait_event_type === 'Lock')
    .sort((a, b) => (b.query_age_ms ?? 0) - (a.query_age_ms ?? 0))
    .slice(0, MAX_WAITERS_CHECKED)
    .map((r) => r.pid);
  const edges = waiterPids.length
    ? ((await optional('blocking chains', () => db.query<{ waiting_pid: number; blocker: number }>(PG_QUERIES.blockedBy, [waiterPids]))) ?? [])
    : [];
  const prepared = (await optional('prepared transactions', () => db.query<LockInput['prepared'][number]>(PG_QUERIES.prepared))) ?? [];
  const zeroWaiters = [...new Set(edges.filter((e) => e.blocker === 0).map((e) => e.waiting_pid))];
  const preparedWaits = zeroWaiters.length
    ? ((await optional("prepared transactions' waiters", () => db.query<{ waiting_pid: number; gid: string }>(PG_QUERIES.preparedWaits, [zeroWaiters]))) ?? [])
    : [];

  // query text only for what is listed: the sessions of the lists and every node of a lock tree
  const wanted = new Set<number>([...reading.longRunning, ...reading.oldestTransactions, ...reading.idleInTransaction].map((x) => x.pid));
  for (const e of edges) {
    wanted.add(e.waiting_pid);
    if (e.blocker !== 0) wanted.add(e.blocker);
  }
  const queries = new Map(
    wanted.size ? (await db.query<{ pid: number; query: string | null }>(PG_QUERIES.queries, [[...wanted]])).map((r) => [r.pid, r.query ?? ''] as const) : [],
  );
  completeEvidence(ev, reading, { edges, prepared, preparedWaits, queries, text, topN: s.topN });

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
      // another role's statements read `<insufficient privilege>` without pg_read_all_stats (pg_stat_statements docs): not listed, counted
      const hidden = rows.filter((r) => r.query === HIDDEN_QUERY).length;
      if (hidden > 0) notes.push(`${hidden} of the top statements belong to roles the monitoring role cannot see: their text is hidden.`);
      return rows
        .filter((r) => r.query !== HIDDEN_QUERY)
        .map((r) => ({ query: text(r.query), calls: r.calls, meanMs: round2(r.mean_ms), totalMs: round2(r.total_ms) }));
    })) ?? null;
  return { ev, notes };
}

const round2 = (v: number) => Math.round(v * 100) / 100;
