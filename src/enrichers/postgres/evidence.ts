import type { PgBlockingChain, PgDatabaseEvidence, PgSession as PgSessionEvidence } from '../../core/evidence';
import { PostgresSourceError, type PgSession } from '../../sources/postgres';
import type { PostgresSettings } from './settings';
import { PG_QUERIES, TAG, type SessionRow } from './sql';

/** The postgres enricher's evidence: one database investigated, in one read-only transaction, as PgDatabaseEvidence. */

const ms = (v: number | null): number | null => (v === null || v === undefined || Number.isNaN(v) ? null : Math.max(0, Math.round(v)));

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
  };
}

/** Whether a failure of this kind and SQLSTATE happened after the connection was up. */
export function reachedServer(e: PostgresSourceError): boolean {
  if (e.kind === 'timeout') return e.sqlstate === '57014' || e.sqlstate === '55P03';
  if (e.kind === 'error') return e.sqlstate !== undefined && !e.sqlstate.startsWith('08') && !e.sqlstate.startsWith('3D');
  return false;
}

/** Runs the whole investigation of one database in one read-only transaction. */
export async function investigate(
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
