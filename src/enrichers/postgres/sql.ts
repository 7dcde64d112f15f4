import { STATEMENT_TAG } from '../../sources/postgres';

/** The postgres enricher's SQL: every statement it runs, and the rows they return. */

/**
 * At most this many waiting backends get a pg_blocking_pids call per run: each call briefly takes
 * the lock manager's locks (PostgreSQL docs, functions-info.html, pg_blocking_pids: "Frequent calls
 * to this function could have some impact on database performance"; docs/reference/postgresql.md).
 */
export const MAX_WAITERS_CHECKED = 200;
/** Query text fetched from the server, before normalising (track_activity_query_size defaults to 1024). */
export const QUERY_FETCH_CHARS = 4096;
/** Every query of ours starts with this, so pg_stat_statements rows of ours can be left out. */
export const TAG = STATEMENT_TAG;

/** Rows of pg_stat_activity read per run; a server with more backends is read in part, and the section says so. */
export const MAX_ACTIVITY_ROWS = 10_000;

/** The row PostgreSQL shows a role for another role's session it may not inspect (pgstatfuncs.c pg_stat_get_activity). */
export const HIDDEN_QUERY = '<insufficient privilege>';

/**
 * Every backend but ours, without query text (fetched later for the few listed): one read, one
 * snapshot (the activity view is read once per transaction). leader_pid exists from PostgreSQL 13.
 */
export const activityQuery = (serverVersionNum: number) => `${TAG} SELECT pid, datname, usename AS usr, application_name AS app,
  host(client_addr) AS client_addr, backend_type, state, wait_event_type, wait_event,
  ${serverVersionNum >= 130000 ? 'leader_pid' : 'NULL::int AS leader_pid'},
  (extract(epoch FROM clock_timestamp() - query_start) * 1000)::float8 AS query_age_ms,
  (extract(epoch FROM clock_timestamp() - xact_start) * 1000)::float8 AS xact_age_ms,
  (extract(epoch FROM clock_timestamp() - state_change) * 1000)::float8 AS state_age_ms,
  query = '${HIDDEN_QUERY}' AS hidden,
  count(*) OVER ()::int AS total
FROM pg_stat_activity WHERE pid <> pg_backend_pid() LIMIT ${MAX_ACTIVITY_ROWS}`;

/** The queries, for reading and for tests. */
export const PG_QUERIES = {
  /**
   * The monitoring role and what it may do: superuser, pg_read_all_stats (in pg_monitor) and, from
   * 16, pg_use_reserved_connections (to_regrole first: pg_has_role errors on a role that does not exist).
   */
  monitor: `${TAG} SELECT current_user::text AS role, r.rolsuper AS superuser,
  pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS read_all_stats,
  CASE WHEN to_regrole('pg_use_reserved_connections') IS NULL THEN NULL
       ELSE pg_has_role(current_user, 'pg_use_reserved_connections', 'USAGE') END AS use_reserved
FROM pg_roles r WHERE r.rolname = current_user`,
  /** Query text of the sessions we list. */
  queries: `${TAG} SELECT pid, left(query, ${QUERY_FETCH_CHARS}) AS query FROM pg_stat_activity WHERE pid = ANY($1::int[])`,
  /** pg_blocking_pids once per waiting backend (any kind: client, autovacuum, parallel worker), at most MAX_WAITERS_CHECKED. */
  blockedBy: `${TAG} SELECT w.pid AS waiting_pid, b.blocker FROM unnest($1::int[]) AS w(pid) CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS b(blocker)`,
  /**
   * Prepared transactions, with the locks they hold: pg_locks lists them with no pid, in the
   * virtual transaction of the prepared transaction's own transactionid lock (checked on 15).
   */
  prepared: `${TAG} SELECT p.gid, p.owner::text AS owner, p.database::text AS database, p.transaction::text AS xid,
  (extract(epoch FROM clock_timestamp() - p.prepared) * 1000)::float8 AS age_ms,
  (SELECT count(*) FROM pg_locks l WHERE l.pid IS NULL AND l.virtualtransaction = x.virtualtransaction)::int AS locks
FROM pg_prepared_xacts p
LEFT JOIN pg_locks x ON x.locktype = 'transactionid' AND x.pid IS NULL AND x.transactionid = p.transaction
ORDER BY p.prepared`,
  /** Which prepared transaction each of these waiters waits on: its ungranted lock against the same lock held with no pid. */
  preparedWaits: `${TAG} SELECT DISTINCT w.pid AS waiting_pid, px.gid
FROM pg_locks w
JOIN pg_locks h ON h.granted AND h.pid IS NULL AND h.locktype = w.locktype
  AND h.database IS NOT DISTINCT FROM w.database AND h.relation IS NOT DISTINCT FROM w.relation
  AND h.page IS NOT DISTINCT FROM w.page AND h.tuple IS NOT DISTINCT FROM w.tuple
  AND h.virtualxid IS NOT DISTINCT FROM w.virtualxid AND h.transactionid IS NOT DISTINCT FROM w.transactionid
  AND h.classid IS NOT DISTINCT FROM w.classid AND h.objid IS NOT DISTINCT FROM w.objid AND h.objsubid IS NOT DISTINCT FROM w.objsubid
JOIN pg_locks hx ON hx.locktype = 'transactionid' AND hx.pid IS NULL AND hx.virtualtransaction = h.virtualtransaction
JOIN pg_prepared_xacts px ON px.transaction = hx.transactionid
WHERE NOT w.granted AND w.pid = ANY($1::int[])`,
  settings: `${TAG} SELECT current_setting('server_version_num')::int AS version,
  current_setting('max_connections')::int AS max_connections,
  current_setting('superuser_reserved_connections')::int AS su_reserved,
  COALESCE(NULLIF(current_setting('reserved_connections', true), '')::int, 0) AS reserved`,
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

/** One row of activityQuery. */
export interface ActivityRow {
  pid: number;
  datname: string | null;
  usr: string | null;
  app: string | null;
  client_addr: string | null;
  backend_type: string | null;
  state: string | null;
  wait_event_type: string | null;
  wait_event: string | null;
  leader_pid: number | null;
  query_age_ms: number | null;
  xact_age_ms: number | null;
  state_age_ms: number | null;
  hidden: boolean;
  total: number;
}
