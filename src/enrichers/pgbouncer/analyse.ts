import type { PgBouncerSnapshot } from '../../sources/pgbouncer';

/**
 * What a reading of PgBouncer's admin console says about its pools: per (database, user) pool,
 * the clients waiting and for how long, the server connections against the limits that cap
 * them, and which limit binds.
 *
 * The limits (pgbouncer/pgbouncer doc/config.md at pgbouncer_1_18_0):
 * - `pool_size` (per database, default `default_pool_size`): server connections per
 *   (database, user) pool; `reserve_pool` more after `reserve_pool_timeout`;
 * - `max_db_connections`: server connections per database, all users together (0: none);
 * - `max_user_connections`: server connections per user, all databases together (0: none);
 * - `max_client_conn`: client connections to PgBouncer in all; beyond it new clients are
 *   refused with `no more connections allowed (max_client_conn)` (the admin console excepted).
 * A client waits (`cl_waiting`) when its pool has no idle server and none may be opened.
 */

export type PoolLimit = 'pool_size' | 'max_db_connections' | 'max_user_connections';

export interface PoolAnalysis {
  database: string;
  user: string;
  poolMode: string | null;
  clActive: number;
  clWaiting: number;
  /** How long the oldest waiting client has waited, ms. */
  maxWaitMs: number;
  svActive: number;
  svIdle: number;
  /** Server connections of the pool in any state (active, idle, used, tested, login). */
  servers: number;
  /** The database's pool_size (effective), null when the database is not in SHOW DATABASES. */
  poolSize: number | null;
  reservePool: number | null;
  /** max_db_connections of the database (0 = unlimited) and its server connections now. */
  maxDbConnections: number | null;
  dbConnections: number | null;
  /** max_user_connections (global) and the user's server connections over all pools. */
  maxUserConnections: number | null;
  userConnections: number;
  /** Clients wait and no server is idle. */
  saturated: boolean;
  /** The limit that stops more server connections, when saturated; null when none is reached (a slow server then). */
  limit: PoolLimit | null;
  /** The limit's value. */
  limitValue: number | null;
}

export interface PoolerAnalysis {
  version: string | null;
  /** The global pool_mode (a database may override it: each pool has its own). */
  poolMode: string | null;
  maxClientConn: number | null;
  /** Client connections to PgBouncer now (SHOW LISTS used_clients, our console connection included). */
  usedClients: number | null;
  /** max_client_conn is reached: new clients are refused. */
  clientLimitReached: boolean;
  queryWaitTimeoutS: number | null;
  pools: PoolAnalysis[];
}

const n = (v: string | undefined): number | null => {
  if (v === undefined || v === '') return null;
  const x = Number(v);
  return Number.isFinite(x) ? x : null;
};

/** Reads the snapshot's pools against their limits; the admin console's own pool is left out. */
export function analysePooler(snap: PgBouncerSnapshot): PoolerAnalysis {
  const maxClientConn = n(snap.config.max_client_conn);
  const usedClients = snap.lists.used_clients ?? null;
  const maxUserConnections = n(snap.config.max_user_connections);
  const dbs = new Map(snap.databases.map((d) => [d.name, d]));
  const pools = snap.pools.filter((p) => p.database !== 'pgbouncer');
  const serversOf = (p: (typeof pools)[number]) => p.svActive + p.svIdle + p.svUsed + p.svTested + p.svLogin;
  const userTotals = new Map<string, number>();
  for (const p of pools) userTotals.set(p.user, (userTotals.get(p.user) ?? 0) + serversOf(p));
  return {
    version: snap.version,
    poolMode: snap.config.pool_mode ?? null,
    maxClientConn,
    usedClients,
    clientLimitReached: maxClientConn !== null && usedClients !== null && maxClientConn > 0 && usedClients >= maxClientConn,
    queryWaitTimeoutS: n(snap.config.query_wait_timeout),
    pools: pools.map((p) => {
      const db = dbs.get(p.database);
      const servers = serversOf(p);
      const userConnections = userTotals.get(p.user) ?? 0;
      const saturated = p.clWaiting > 0 && p.svIdle === 0;
      let limit: PoolLimit | null = null;
      let limitValue: number | null = null;
      if (saturated) {
        // the tightest reached limit names the setting to change; pool_size counts with its reserve
        const cap = (db?.poolSize ?? Infinity) + (db?.reservePool ?? 0);
        if (db?.maxConnections && db.currentConnections !== null && db.currentConnections >= db.maxConnections && servers < cap) {
          limit = 'max_db_connections';
          limitValue = db.maxConnections;
        } else if (maxUserConnections && userConnections >= maxUserConnections && servers < cap) {
          limit = 'max_user_connections';
          limitValue = maxUserConnections;
        } else if (db?.poolSize !== null && db?.poolSize !== undefined && servers >= db.poolSize) {
          limit = 'pool_size';
          limitValue = db.poolSize;
        }
      }
      return {
        database: p.database,
        user: p.user,
        poolMode: p.poolMode,
        clActive: p.clActive,
        clWaiting: p.clWaiting,
        maxWaitMs: p.maxWaitMs,
        svActive: p.svActive,
        svIdle: p.svIdle,
        servers,
        poolSize: db?.poolSize ?? null,
        reservePool: db?.reservePool ?? null,
        maxDbConnections: db?.maxConnections ?? null,
        dbConnections: db?.currentConnections ?? null,
        maxUserConnections,
        userConnections,
        saturated,
        limit,
        limitValue,
      };
    }),
  };
}
