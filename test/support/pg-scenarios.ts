/**
 * Staged production situations on a real PostgreSQL (test/support/postgres.ts) and PgBouncer
 * (test/support/pgbouncer.ts), each waited for with a positive signal (a row of pg_stat_activity,
 * pg_prepared_xacts or PgBouncer's SHOW POOLS), never a sleep. Every stage returns what a test
 * asserts on (pids, gid, counts) and a `release()` that undoes it; `releaseAll()` undoes every
 * stage still open.
 *
 * Facts they rely on, checked on PostgreSQL 15 here (and at their source where cited):
 * - a role without pg_read_all_stats (granted by pg_monitor) sees other roles' rows with
 *   `query = '<insufficient privilege>'` and state, backend_type, times and client_addr NULL,
 *   while pid, usename and application_name stay visible (postgres/postgres
 *   src/backend/utils/adt/pgstatfuncs.c pg_stat_get_activity: "Values available to all callers");
 * - a prepared transaction keeps its locks with no session: pg_blocking_pids() of a waiter says
 *   0, pg_locks has its locks with `pid` NULL (here virtualtransaction `4/2`, not `-1/...`), and
 *   pg_prepared_xacts has its gid; PREPARE TRANSACTION needs max_prepared_transactions > 0;
 * - a queued ALTER TABLE (ACCESS EXCLUSIVE) makes every later SELECT on the table wait behind it;
 * - parallel workers have backend_type `parallel worker` and leader_pid (PG 14+);
 * - a connection with `replication=database` is a walsender (backend_type `walsender`);
 * - an autovacuum worker has backend_type `autovacuum worker` and query `autovacuum: VACUUM
 *   public.t`, with ` (to prevent wraparound)` when the table's relfrozenxid is older than its
 *   autovacuum_freeze_max_age (minimum 100000, so 100001 transactions are burnt first, about
 *   0.6 s here); such a worker keeps its lock against a waiting ALTER TABLE, where a regular one
 *   is cancelled after deadlock_timeout (postgres/postgres src/backend/storage/lmgr/proc.c
 *   ProcSleep: "Only do it if the worker is not working to protect against Xid wraparound",
 *   i.e. not PROC_VACUUM_FOR_WRAPAROUND).
 */
import { Client } from 'pg';
import type { TestPgBouncer } from './pgbouncer';
import type { TestPostgres } from './postgres';
import { until } from './wait';

/** How long a stage waits for its positive signal. */
const STAGE_TIMEOUT_MS = 10_000;

export interface Stage {
  /** Undoes the stage (ends its sessions, rolls back what it holds); idempotent. */
  release(): Promise<void>;
}

const open = new Set<Stage>();

/** Releases every stage not yet released (for afterEach/afterAll). */
export async function releaseAll(): Promise<void> {
  const all = [...open];
  open.clear();
  for (const s of all) await s.release().catch(() => {});
}

function track<T extends Stage>(stage: T): T {
  let done = false;
  const inner = stage.release.bind(stage);
  stage.release = async () => {
    if (done) return;
    done = true;
    open.delete(stage);
    await inner();
  };
  open.add(stage);
  return stage;
}

export interface SessionOptions {
  /** Role and password (default: the superuser). */
  user?: string;
  password?: string;
  database?: string;
  applicationName?: string;
  /** Connect through this URL instead (e.g. a PgBouncer's), same role. */
  url?: string;
}

async function connectAs(pg: TestPostgres, o: SessionOptions): Promise<Client> {
  if (!o.url) return pg.connect({ user: o.user, password: o.password, database: o.database, applicationName: o.applicationName });
  const c = new Client({ connectionString: o.url, application_name: o.applicationName ?? 'pagefirst-test', connectionTimeoutMillis: 5_000 });
  c.on('error', () => {});
  await c.connect();
  return c;
}

/** The superuser's view of pg_stat_activity for these pids. */
async function activity(
  admin: Client,
  pids: number[],
): Promise<Array<{ pid: number; state: string | null; wait_event_type: string | null; backend_type: string | null }>> {
  return (await admin.query('SELECT pid, state, wait_event_type, backend_type FROM pg_stat_activity WHERE pid = ANY($1::int[])', [pids])).rows;
}

async function pidOf(c: Client): Promise<number> {
  return (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
}

/** A monitoring role WITHOUT pg_monitor (field file 10): it sees other roles' sessions blind. Returns its URL. */
export async function roleWithoutMonitor(pg: TestPostgres, name: string, password: string, database = 'postgres'): Promise<string> {
  await pg.createRole(name, password);
  const admin = await pg.connect();
  try {
    const ident = `"${name.replace(/"/g, '""')}"`;
    await admin.query(`REVOKE pg_monitor, pg_read_all_stats FROM ${ident}`);
  } finally {
    await admin.end();
  }
  return pg.url({ user: name, password, database });
}

export interface IdleInTransaction extends Stage {
  pid: number;
  client: Client;
}

/**
 * A session left idle inside a transaction after `statements` (default `SELECT 1`): another
 * client's forgotten transaction, or the application's own leak, by its application_name/role.
 * Resolves once pg_stat_activity shows it `idle in transaction`.
 */
export async function idleInTransaction(pg: TestPostgres, o: SessionOptions & { statements?: string[] } = {}): Promise<IdleInTransaction> {
  const c = await connectAs(pg, o);
  const admin = await pg.connect();
  try {
    const pid = await pidOf(c);
    await c.query('BEGIN');
    for (const s of o.statements ?? ['SELECT 1']) await c.query(s);
    await until(`pid ${pid} idle in transaction`, async () => (await activity(admin, [pid]))[0]?.state === 'idle in transaction', STAGE_TIMEOUT_MS);
    return track({
      pid,
      client: c,
      async release() {
        await c.query('ROLLBACK').catch(() => {});
        await c.end().catch(() => {});
      },
    });
  } finally {
    await admin.end();
  }
}

/** The application_name of DBeaver's main connection, as DBeaver sets it ("DBeaver <version> - Main <connection>"). */
export const DBEAVER_APP = 'DBeaver 24.1.0 - Main app';

/** A person's SQL tool idle in a transaction (field file 11): DBeaver with auto-commit off, a report query, the tab left open. */
export function personsToolIdleInTransaction(pg: TestPostgres, o: SessionOptions & { statements?: string[] } = {}): Promise<IdleInTransaction> {
  return idleInTransaction(pg, { applicationName: DBEAVER_APP, ...o });
}

export interface ConnectionHog extends Stage {
  pids: number[];
  /** The refusal that ended the filling (when filling until refused). */
  refusal: { code?: string; message: string } | null;
}

/**
 * Another client holding `count` idle connections, or, without `count`, opening connections
 * until the server refuses the next one (its slots for ordinary roles are used up; the refusal
 * is returned). Resolves once every held session is in pg_stat_activity.
 */
export async function connectionHog(pg: TestPostgres, o: SessionOptions & { count?: number; max?: number } = {}): Promise<ConnectionHog> {
  const clients: Client[] = [];
  let refusal: ConnectionHog['refusal'] = null;
  const limit = o.count ?? o.max ?? 1_000;
  for (let i = 0; i < limit; i++) {
    try {
      clients.push(await connectAs(pg, o));
    } catch (e) {
      const err = e as { code?: string; message?: string };
      if (o.count !== undefined) {
        await Promise.all(clients.map((c) => c.end().catch(() => {})));
        throw e;
      }
      refusal = { ...(err.code ? { code: err.code } : {}), message: String(err.message) };
      break;
    }
  }
  const pids = await Promise.all(clients.map(pidOf));
  return track({
    pids,
    refusal,
    async release() {
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
    },
  });
}

export interface PreparedTransaction extends Stage {
  gid: string;
  /** pg_prepared_xacts.transaction */
  xid: string;
}

/**
 * A transaction prepared for two-phase commit that holds a row lock (`UPDATE table SET ... WHERE
 * id = rowId`) with no session left. Needs max_prepared_transactions > 0 (startPostgres({
 * settings: { max_prepared_transactions: 5 } })). release() is ROLLBACK PREPARED.
 */
export async function preparedTransactionHoldingRow(
  pg: TestPostgres,
  o: { table: string; column: string; rowId: number; gid: string; database?: string },
): Promise<PreparedTransaction> {
  const c = await pg.connect({ database: o.database });
  try {
    const max = Number((await c.query(`SELECT current_setting('max_prepared_transactions') AS m`)).rows[0].m);
    if (max <= 0) throw new Error('max_prepared_transactions is 0: start the test PostgreSQL with settings { max_prepared_transactions: 5 }');
    await c.query('BEGIN');
    await c.query(`UPDATE ${o.table} SET ${o.column} = ${o.column} WHERE id = $1`, [o.rowId]);
    await c.query(`PREPARE TRANSACTION '${o.gid.replace(/'/g, "''")}'`);
    const xid = (await c.query('SELECT transaction::text AS xid FROM pg_prepared_xacts WHERE gid = $1', [o.gid])).rows[0]?.xid as string;
    if (!xid) throw new Error(`prepared transaction ${o.gid} not in pg_prepared_xacts`);
    return track({
      gid: o.gid,
      xid,
      async release() {
        const a = await pg.connect({ database: o.database });
        try {
          await a.query(`ROLLBACK PREPARED '${o.gid.replace(/'/g, "''")}'`).catch(() => {});
        } finally {
          await a.end();
        }
      },
    });
  } finally {
    await c.end();
  }
}

export interface LockWaiters extends Stage {
  pids: number[];
}

/**
 * `count` sessions each running `sql` that waits on a lock (e.g. an UPDATE of a row another
 * stage holds), connected directly (not through a pooler). Resolves once all of them show
 * wait_event_type `Lock`.
 */
export async function lockWaiters(pg: TestPostgres, o: SessionOptions & { sql: string; count: number }): Promise<LockWaiters> {
  const admin = await pg.connect();
  const clients: Client[] = [];
  const running: Array<Promise<unknown>> = [];
  try {
    for (let i = 0; i < o.count; i++) clients.push(await connectAs(pg, o));
    // the pids first (a direct connection: one backend each), then the statements that wait
    const pids = await Promise.all(clients.map(pidOf));
    for (const c of clients) running.push(c.query(o.sql).catch((e) => e));
    await until(
      `${o.count} sessions waiting on a lock`,
      async () => (await activity(admin, pids)).filter((r) => r.wait_event_type === 'Lock').length === o.count,
      STAGE_TIMEOUT_MS,
    );
    return track({
      pids,
      async release() {
        const a = await pg.connect();
        try {
          await a.query('SELECT pg_cancel_backend(pid) FROM unnest($1::int[]) AS pid', [pids]);
        } finally {
          await a.end();
        }
        await Promise.all(running);
        await Promise.all(clients.map((c) => c.end().catch(() => {})));
      },
    });
  } catch (e) {
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
    throw e;
  } finally {
    await admin.end();
  }
}

export interface MigrationQueue extends Stage {
  /** The reader holding ACCESS SHARE inside an open transaction. */
  readerPid: number;
  /** The ALTER TABLE waiting for ACCESS EXCLUSIVE. */
  ddlPid: number;
  /** SELECTs queued behind the ALTER TABLE. */
  queuedPids: number[];
}

/**
 * A migration queued behind a reader: a reader's transaction (idle in transaction after
 * `SELECT ... FROM table`) holds ACCESS SHARE, an `ALTER TABLE table ADD COLUMN` waits for ACCESS
 * EXCLUSIVE, and `queued` SELECTs wait behind the ALTER. Resolves once the ALTER and every
 * SELECT show wait_event_type `Lock`.
 */
export async function migrationQueuedBehindReader(
  pg: TestPostgres,
  o: { table: string; queued: number; reader?: SessionOptions; migration?: SessionOptions; readers?: SessionOptions },
): Promise<MigrationQueue> {
  const reader = await idleInTransaction(pg, { applicationName: 'pf-reader', ...o.reader, statements: [`SELECT count(*) FROM ${o.table}`] });
  const ddl = await connectAs(pg, { applicationName: 'pf-migration', ...o.migration });
  const ddlPid = await pidOf(ddl);
  const ddlRun = ddl.query(`ALTER TABLE ${o.table} ADD COLUMN pf_migrated_${Date.now()} int`).catch((e) => e);
  const admin = await pg.connect();
  try {
    await until('the ALTER TABLE to wait', async () => (await activity(admin, [ddlPid]))[0]?.wait_event_type === 'Lock', STAGE_TIMEOUT_MS);
  } finally {
    await admin.end();
  }
  const selects = await lockWaiters(pg, { applicationName: 'pf-queued-reader', ...o.readers, sql: `SELECT count(*) FROM ${o.table}`, count: o.queued });
  return track({
    readerPid: reader.pid,
    ddlPid,
    queuedPids: selects.pids,
    async release() {
      const a = await pg.connect();
      try {
        await a.query('SELECT pg_cancel_backend($1)', [ddlPid]);
      } finally {
        await a.end();
      }
      await ddlRun;
      await ddl.end().catch(() => {});
      await reader.release();
      await selects.release();
    },
  });
}

export interface ParallelQuery extends Stage {
  leaderPid: number;
  workerPids: number[];
}

/**
 * A query running with parallel workers (`SELECT count(*) FROM table WHERE pg_sleep(...)`, cheap
 * parallel costs forced for the session). Resolves once `workers` parallel workers with
 * leader_pid = the leader are in pg_stat_activity; release() cancels it.
 */
export async function parallelQuery(pg: TestPostgres, o: SessionOptions & { table: string; workers?: number }): Promise<ParallelQuery> {
  const workers = o.workers ?? 2;
  const c = await connectAs(pg, { applicationName: 'pf-parallel', ...o });
  const leaderPid = await pidOf(c);
  await c.query(
    `SET max_parallel_workers_per_gather = ${workers}; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0; SET statement_timeout = '60s'`,
  );
  const run = c.query(`SELECT count(*) FROM ${o.table} WHERE pg_sleep(0.01) IS NOT NULL`).catch((e) => e);
  const admin = await pg.connect();
  try {
    const workerPids = await until(
      `${workers} parallel workers of ${leaderPid}`,
      async () => {
        const rows = (await admin.query(`SELECT pid FROM pg_stat_activity WHERE backend_type = 'parallel worker' AND leader_pid = $1`, [leaderPid])).rows.map(
          (r) => r.pid as number,
        );
        return rows.length === workers ? rows : undefined;
      },
      STAGE_TIMEOUT_MS,
    );
    return track({
      leaderPid,
      workerPids,
      async release() {
        const a = await pg.connect();
        try {
          await a.query('SELECT pg_cancel_backend($1)', [leaderPid]);
        } finally {
          await a.end();
        }
        await run;
        await c.end().catch(() => {});
      },
    });
  } finally {
    await admin.end();
  }
}

export interface Walsender extends Stage {
  pid: number;
}

/** A logical replication connection (`replication=database`): a walsender in pg_stat_activity, idle. */
export async function walsender(pg: TestPostgres, o: { database?: string } = {}): Promise<Walsender> {
  const c = new Client({
    connectionString: pg.url({ database: o.database ?? 'postgres' }),
    replication: 'database',
    connectionTimeoutMillis: 5_000,
  } as ConstructorParameters<typeof Client>[0]);
  c.on('error', () => {});
  await c.connect();
  const pid = (c as unknown as { processID: number }).processID;
  const admin = await pg.connect();
  try {
    await until('the walsender', async () => (await activity(admin, [pid]))[0]?.backend_type === 'walsender', STAGE_TIMEOUT_MS);
  } finally {
    await admin.end();
  }
  return track({
    pid,
    async release() {
      await c.end().catch(() => {});
    },
  });
}

export interface PgBouncerPoolFull extends Stage {
  /** Clients holding every server connection of the pool inside a transaction. */
  holders: Client[];
  /** Clients whose queries wait in PgBouncer's queue. */
  waiters: Client[];
}

/**
 * PgBouncer's pool full with clients waiting: `holders` clients each open a transaction through
 * `url` (taking every server connection when holders = pool_size), then `waiters` clients send
 * `SELECT 1`, which PgBouncer queues. Resolves once SHOW POOLS says cl_waiting = waiters for the
 * pool of `database`/`user`.
 */
export async function pgbouncerPoolFull(
  bouncer: TestPgBouncer,
  o: { url: string; database: string; user: string; holders: number; waiters: number; applicationName?: string },
): Promise<PgBouncerPoolFull> {
  const mk = async (app: string) => {
    const c = new Client({ connectionString: o.url, application_name: app, connectionTimeoutMillis: 5_000 });
    c.on('error', () => {});
    await c.connect();
    return c;
  };
  const holders: Client[] = [];
  const waiters: Client[] = [];
  const running: Array<Promise<unknown>> = [];
  const pool = async () =>
    (await bouncer.admin<{ database: string; user: string; cl_waiting: number; sv_active: number }>('SHOW POOLS')).find(
      (p) => p.database === o.database && p.user === o.user,
    );
  for (let i = 0; i < o.holders; i++) {
    const c = await mk(o.applicationName ?? 'pf-pool-holder');
    holders.push(c);
    await c.query('BEGIN');
    await c.query('SELECT 1');
  }
  await until(`${o.holders} server connections held`, async () => Number((await pool())?.sv_active ?? 0) >= o.holders, STAGE_TIMEOUT_MS);
  for (let i = 0; i < o.waiters; i++) {
    const c = await mk(o.applicationName ?? 'pf-pool-waiter');
    waiters.push(c);
    running.push(c.query('SELECT 1').catch((e) => e));
  }
  await until(`${o.waiters} clients waiting in PgBouncer`, async () => Number((await pool())?.cl_waiting ?? 0) === o.waiters, STAGE_TIMEOUT_MS);
  return track({
    holders,
    waiters,
    async release() {
      // the holders leave (in session pooling a server returns to the pool only when its client does), then the waiters run and leave
      for (const h of holders) await h.query('ROLLBACK').catch(() => {});
      await Promise.all(holders.map((c) => c.end().catch(() => {})));
      await Promise.all(running);
      await Promise.all(waiters.map((c) => c.end().catch(() => {})));
    },
  });
}

/**
 * Server settings under which the launcher starts a worker within a second:
 * startPostgres({ settings: AUTOVACUUM_STAGE_SETTINGS }). The staged table itself makes its
 * worker slow (SLOW_VACUUM: every page costs a 100 ms nap), so the catalogs' own autovacuum runs at
 * normal speed and does not take every worker slot.
 */
export const AUTOVACUUM_STAGE_SETTINGS = { autovacuum_naptime: 1 } as const;
/** Per-table storage parameters (CREATE TABLE ... WITH) that make its autovacuum worker crawl. */
const SLOW_VACUUM = 'autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1';

export interface Autovacuum extends Stage {
  /** The worker's pid. */
  pid: number;
  /** Its query, e.g. `autovacuum: VACUUM public.t (to prevent wraparound)`. */
  query: string;
}

/**
 * An autovacuum worker busy on a new table `table` (20000 rows): `antiWraparound` ages the
 * table past autovacuum_freeze_max_age (100001 transactions burnt), else dead rows past
 * zero thresholds make a regular one. Needs AUTOVACUUM_STAGE_SETTINGS. Resolves once the worker
 * is in pg_stat_activity on that table. release() queues a DROP TABLE, then ends the worker, so
 * the DROP takes the lock before the launcher starts another.
 */
export async function autovacuumWorker(pg: TestPostgres, o: { table: string; antiWraparound: boolean }): Promise<Autovacuum> {
  const admin = await pg.connect();
  try {
    const naptime = (await admin.query(`SELECT current_setting('autovacuum_naptime') AS n`)).rows[0].n as string;
    if (naptime !== '1s') throw new Error(`autovacuum_naptime is ${naptime}: start the test PostgreSQL with settings AUTOVACUUM_STAGE_SETTINGS`);
    if (o.antiWraparound) {
      // no ANALYZE in the same run (its query would read `VACUUM ANALYZE`): the analyze threshold is out of reach
      await admin.query(
        `CREATE TABLE ${o.table} (id int, pad text) WITH (autovacuum_enabled = off, autovacuum_analyze_threshold = 1000000000, ${SLOW_VACUUM})`,
      );
      await admin.query(`INSERT INTO ${o.table} SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g`);
      // a procedure-style loop may COMMIT (PG 11+): 100001 transactions make relfrozenxid older than the minimum freeze age
      await admin.query(`DO $$ BEGIN FOR i IN 1..100001 LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$`);
      await admin.query(`ALTER TABLE ${o.table} SET (autovacuum_freeze_max_age = 100000)`);
    } else {
      await admin.query(
        `CREATE TABLE ${o.table} (id int, pad text) WITH (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0, autovacuum_analyze_threshold = 1000000000, ${SLOW_VACUUM})`,
      );
      await admin.query(`INSERT INTO ${o.table} SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g`);
      await admin.query(`DELETE FROM ${o.table} WHERE id % 2 = 0`);
    }
    // `autovacuum: VACUUM public.t`, or `VACUUM ANALYZE`, with ` (to prevent wraparound)` when it is one
    const like = `autovacuum: VACUUM%public.${o.table}%`;
    const busy = async () =>
      (await admin.query(`SELECT pid, datname, query FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'`)).rows
        .map((r) => `${r.pid} ${r.datname}: ${r.query}`)
        .join('; ') || 'none';
    const row = await until(
      `an autovacuum worker on ${o.table}`,
      async () =>
        (await admin.query(`SELECT pid, query FROM pg_stat_activity WHERE backend_type = 'autovacuum worker' AND query LIKE $1`, [like])).rows[0] as
          { pid: number; query: string } | undefined,
      STAGE_TIMEOUT_MS,
    ).catch(async (e: Error) => {
      throw new Error(`${e.message} (autovacuum workers now: ${await busy()})`);
    });
    return track({
      pid: row.pid,
      query: row.query,
      async release() {
        const a = await pg.connect();
        const drop = await pg.connect();
        try {
          const dropping = drop.query(`DROP TABLE IF EXISTS ${o.table}`).catch((e) => e);
          await until(
            'the DROP to queue',
            async () =>
              (await a.query(`SELECT 1 FROM pg_stat_activity WHERE query LIKE 'DROP TABLE IF EXISTS ${o.table}%' AND wait_event_type = 'Lock'`)).rowCount! >
                0 || (await a.query(`SELECT to_regclass($1) IS NULL AS gone`, [o.table])).rows[0].gone,
            STAGE_TIMEOUT_MS,
          );
          await a.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker' AND query LIKE $1`, [like]);
          await dropping;
        } finally {
          await drop.end();
          await a.end();
        }
      },
    });
  } finally {
    await admin.end();
  }
}
