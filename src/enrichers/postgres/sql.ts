import { IDLE_SETTLED_MS } from '../../core/evidence';
import { STATEMENT_TAG } from '../../sources/postgres';

/** The postgres enricher's SQL: every statement it runs, and the rows they return. */

/** At most this many waiting backends get a pg_blocking_pids call per run (each call briefly locks the lock manager: docs/reference/postgresql.md). */
export const MAX_WAITERS_CHECKED = 200;
/** Query text fetched from the server, before normalising (track_activity_query_size defaults to 1024). */
export const QUERY_FETCH_CHARS = 4096;
/** Every query of ours starts with this, so pg_stat_statements rows of ours can be left out. */
export const TAG = STATEMENT_TAG;

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

export interface SessionRow {
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
