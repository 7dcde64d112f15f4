/**
 * The staged production situations of test/support/pg-scenarios.ts, each read through our own
 * guard the way the postgres enricher reads them: what a monitoring role with and without
 * pg_monitor sees, and the facts the enricher and rules rely on (checked here on PostgreSQL 15:
 * NULL backend_type and `<insufficient privilege>` for the blind role, pid 0 for a prepared
 * transaction, the queue behind a waiting ALTER TABLE, parallel workers' leader_pid, walsenders,
 * the refusal when ordinary slots are gone).
 */
import { postgresSourceSchema } from '../../src/sources/config';
import { classifyPgError, createPostgresGuard, type PostgresGuard } from '../../src/sources/postgres';
import {
  AUTOVACUUM_STAGE_SETTINGS,
  autovacuumWorker,
  connectionHog,
  DBEAVER_APP,
  idleInTransaction,
  lockWaiters,
  migrationQueuedBehindReader,
  parallelQuery,
  personsToolIdleInTransaction,
  preparedTransactionHoldingRow,
  releaseAll,
  roleWithoutMonitor,
  walsender,
} from '../support/pg-scenarios';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { caught, until } from '../support/wait';

const never = () => new AbortController().signal;
const APP = { user: 'pf_app', password: 'app-pw-2' };

let pg: TestPostgres;
let monitorUrl: string;
let blindUrl: string;
const guards: PostgresGuard[] = [];

function guard(url: string): PostgresGuard {
  const g = createPostgresGuard(postgresSourceSchema.parse({ name: 'main', url }));
  guards.push(g);
  return g;
}

interface ActivityRow {
  pid: number;
  usename: string | null;
  application_name: string | null;
  backend_type: string | null;
  state: string | null;
  query: string | null;
  leader_pid: number | null;
  blocked_by: number[];
}

/** pg_stat_activity as our guard reads it (one read-only transaction), with pg_blocking_pids per waiting row. */
function readActivity(g: PostgresGuard): Promise<ActivityRow[]> {
  return g.run(
    (db) =>
      db.query<ActivityRow>(`SELECT pid, usename, application_name, backend_type, state, query, leader_pid,
        CASE WHEN wait_event_type = 'Lock' THEN pg_blocking_pids(pid) ELSE '{}'::int[] END AS blocked_by
      FROM pg_stat_activity WHERE pid <> pg_backend_pid()`),
    never(),
  );
}

beforeAll(async () => {
  pg = await startPostgres({ maxConnections: 12, settings: { max_prepared_transactions: 3, ...AUTOVACUUM_STAGE_SETTINGS } });
  monitorUrl = await pg.createRole('pf_monitor', 'mon-pw-2', { monitor: true });
  blindUrl = await roleWithoutMonitor(pg, 'pf_blind', 'blind-pw-2');
  await pg.createRole(APP.user, APP.password);
  const admin = await pg.connect();
  try {
    // no autovacuum on it: this server's slow autovacuum (AUTOVACUUM_STAGE_SETTINGS) must not join the lock queues staged on it
    await admin.query('CREATE TABLE carts (id int PRIMARY KEY, n int NOT NULL DEFAULT 0) WITH (autovacuum_enabled = off)');
    await admin.query('INSERT INTO carts (id) SELECT g FROM generate_series(1, 3000) g');
    await admin.query('GRANT SELECT, UPDATE ON carts TO pf_app');
    await admin.query('ANALYZE carts');
  } finally {
    await admin.end();
  }
});

afterEach(async () => {
  await Promise.all(guards.splice(0).map((g) => g.close()));
  await releaseAll();
});

afterAll(async () => {
  await pg?.stop();
});

test("field file 10: without pg_monitor, other roles' sessions have NULL backend_type and state and `<insufficient privilege>` query, while pid, usename and application_name stay visible", async () => {
  const leak = await idleInTransaction(pg, { ...APP, applicationName: 'checkout', statements: ['SELECT id FROM carts WHERE id = 1 FOR UPDATE'] });
  const blind = (await readActivity(guard(blindUrl))).find((r) => r.pid === leak.pid);
  expect(blind).toMatchObject({ usename: APP.user, application_name: 'checkout', backend_type: null, state: null, query: '<insufficient privilege>' });
  const seen = (await readActivity(guard(monitorUrl))).find((r) => r.pid === leak.pid);
  expect(seen).toMatchObject({
    usename: APP.user,
    application_name: 'checkout',
    backend_type: 'client backend',
    state: 'idle in transaction',
    query: 'SELECT id FROM carts WHERE id = 1 FOR UPDATE',
  });
  // the blind role even sees the background processes as blind rows: its NULL backend_type is no client count
  const blindAll = await readActivity(guard(blindUrl));
  expect(blindAll.filter((r) => r.backend_type === null).length).toBeGreaterThan(1);
});

test("field file 11: a person's SQL tool idle in transaction is told apart by its application_name", async () => {
  const person = await personsToolIdleInTransaction(pg, { user: APP.user, password: APP.password, statements: ['SELECT count(*) FROM carts'] });
  const row = (await readActivity(guard(monitorUrl))).find((r) => r.pid === person.pid);
  expect(row).toMatchObject({ application_name: DBEAVER_APP, state: 'idle in transaction', usename: APP.user });
});

test('a prepared transaction holds a row lock with no session: the first waiter is blocked by pid 0, the next by the first, and pg_prepared_xacts and pg_locks name it', async () => {
  const prepared = await preparedTransactionHoldingRow(pg, { table: 'carts', column: 'n', rowId: 7, gid: 'pf-checkout-42' });
  const waiters = await lockWaiters(pg, { ...APP, applicationName: 'checkout', sql: 'UPDATE carts SET n = n + 1 WHERE id = 7', count: 2 });
  const g = guard(monitorUrl);
  const rows = await readActivity(g);
  // the first waiter waits on the prepared transaction's xid (pid 0), the next on the first's tuple lock: a chain whose root has no session
  const blockedBy = new Map(waiters.pids.map((pid) => [pid, rows.find((r) => r.pid === pid)?.blocked_by ?? []]));
  const first = waiters.pids.find((pid) => JSON.stringify(blockedBy.get(pid)) === '[0]');
  expect(first).toBeDefined();
  for (const pid of waiters.pids.filter((p) => p !== first)) expect(blockedBy.get(pid)).toEqual([first]);
  const [xact] = await g.run(
    (db) =>
      db.query<{ gid: string; xid: string; locks: number }>(
        `SELECT p.gid, p.transaction::text AS xid, (SELECT count(*)::int FROM pg_locks l WHERE l.pid IS NULL AND l.transactionid = p.transaction) AS locks FROM pg_prepared_xacts p`,
      ),
    never(),
  );
  expect(xact).toEqual({ gid: 'pf-checkout-42', xid: prepared.xid, locks: 1 });
});

test('a migration queued behind a reader: the ALTER TABLE waits on the reader, later SELECTs wait on the ALTER', async () => {
  const q = await migrationQueuedBehindReader(pg, { table: 'carts', queued: 3 });
  const rows = await readActivity(guard(monitorUrl));
  expect(rows.find((r) => r.pid === q.ddlPid)?.blocked_by).toEqual([q.readerPid]);
  for (const pid of q.queuedPids) expect(rows.find((r) => r.pid === pid)?.blocked_by).toContain(q.ddlPid);
  expect(rows.find((r) => r.pid === q.readerPid)).toMatchObject({ state: 'idle in transaction', blocked_by: [] });
});

test("parallel workers carry their leader's pid; a walsender is its own backend type", async () => {
  const par = await parallelQuery(pg, { table: 'carts', workers: 2 });
  const ws = await walsender(pg);
  const rows = await readActivity(guard(monitorUrl));
  const workers = rows.filter((r) => r.backend_type === 'parallel worker');
  expect(workers.map((r) => r.pid).sort()).toEqual([...par.workerPids].sort());
  expect(workers.every((r) => r.leader_pid === par.leaderPid)).toBe(true);
  expect(rows.find((r) => r.pid === ws.pid)).toMatchObject({ backend_type: 'walsender' });
});

test('another client filling the ordinary slots: our monitoring role is refused as too_many_clients, the superuser slots stay free', async () => {
  const hog = await connectionHog(pg, { ...APP, applicationName: 'reporting' });
  expect(hog.refusal?.code).toBe('53300');
  expect(classifyPgError(hog.refusal)).toMatchObject({ kind: 'too_many_clients' });
  expect(await caught(guard(monitorUrl).run((db) => db.query('SELECT 1'), never()))).toMatchObject({ kind: 'too_many_clients', sqlstate: '53300' });
  // max_connections 12 - superuser_reserved_connections 3 = 9 ordinary slots, all the hog's
  expect(hog.pids).toHaveLength(9);
  const admin = await pg.connect();
  try {
    expect((await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'reporting'`)).rows[0].n).toBe(9);
  } finally {
    await admin.end();
  }
});

test('an anti-wraparound autovacuum keeps its lock against a waiting ALTER TABLE past deadlock_timeout; a regular one yields', async () => {
  const admin = await pg.connect();
  const ddl = await pg.connect({ applicationName: 'pf-ddl' });
  try {
    const av = await autovacuumWorker(pg, { table: 'pf_frozen', antiWraparound: true });
    expect(av.query).toBe('autovacuum: VACUUM public.pf_frozen (to prevent wraparound)');
    await ddl.query("SET lock_timeout = '20s'");
    const alter = ddl.query('ALTER TABLE pf_frozen ADD COLUMN z int').catch((e: Error) => e);
    // waited well past deadlock_timeout (1 s), the worker still holds the table and still blocks the ALTER
    const waited = await until(
      'the ALTER to wait 1.5 s on the worker',
      async () => {
        const r = (
          await admin.query(
            `SELECT pg_blocking_pids(pid) AS b, extract(epoch FROM clock_timestamp() - query_start) AS s FROM pg_stat_activity WHERE application_name = 'pf-ddl' AND wait_event_type = 'Lock'`,
          )
        ).rows[0];
        return r && Number(r.s) >= 1.5 ? (r.b as number[]) : undefined;
      },
      10_000,
    );
    expect(waited).toEqual([av.pid]);
    await admin.query('SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = $1', ['pf-ddl']);
    await alter;
    await av.release();

    const regular = await autovacuumWorker(pg, { table: 'pf_dead', antiWraparound: false });
    expect(regular.query).toBe('autovacuum: VACUUM public.pf_dead');
    await ddl.query('ALTER TABLE pf_dead ADD COLUMN z int'); // completes: the worker was cancelled for it
    expect(
      (await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND query LIKE $2', [regular.pid, 'autovacuum: VACUUM public.pf_dead%'])).rowCount,
    ).toBe(0);
  } finally {
    await ddl.end();
    await admin.end();
  }
});
