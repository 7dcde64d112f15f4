/**
 * The PgBouncer admin console client against a real PgBouncer 1.18 (test/support/pgbouncer.ts)
 * in front of a real PostgreSQL: what it reads, one connection at a time, its deadline, and the
 * refusals it explains.
 */
import net from 'node:net';
import { Client } from 'pg';
import { pgbouncerSourceSchema, sourcesConfigSchema } from '../../src/sources/config';
import { createSourceClients } from '../../src/sources';
import { createPgBouncerClient, type PgBouncerClient } from '../../src/sources/pgbouncer';
import { pgbouncerPoolFull, releaseAll } from '../support/pg-scenarios';
import { startPgBouncer, type TestPgBouncer } from '../support/pgbouncer';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { caught } from '../support/wait';

const never = () => new AbortController().signal;
const APP = 'pf_app';
const APP_PW = 'app-pw-1';
const STATS = 'pf_stats';
const STATS_PW = 'stats-pw-1';

let pg: TestPostgres;
let bouncer: TestPgBouncer;
const clients: PgBouncerClient[] = [];
const servers: net.Server[] = [];

function consoleClient(over: Record<string, unknown> = {}): PgBouncerClient {
  const c = createPgBouncerClient(
    pgbouncerSourceSchema.parse({ name: 'pooler', url: bouncer.url({ user: STATS, password: STATS_PW, database: 'pgbouncer' }), ...over }),
  );
  clients.push(c);
  return c;
}

beforeAll(async () => {
  pg = await startPostgres();
  await pg.createRole(APP, APP_PW);
  bouncer = await startPgBouncer(pg, {
    poolMode: 'transaction',
    users: { [APP]: APP_PW, [STATS]: STATS_PW },
    statsUsers: [STATS],
    databases: { app: { dbname: 'postgres', extra: { pool_size: 2, max_db_connections: 3 } }, '*': {} },
    maxClientConn: 50,
  });
});

afterEach(async () => {
  await releaseAll();
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await bouncer?.stop();
  await pg?.stop();
});

test('a stats user reads the pools, databases, stats, clients, servers, config and lists; a full pool shows its waiting clients and their longest wait', async () => {
  const appUrl = bouncer.url({ user: APP, password: APP_PW, database: 'app' });
  await pgbouncerPoolFull(bouncer, { url: appUrl, database: 'app', user: APP, holders: 2, waiters: 3 });
  const snap = await consoleClient().snapshot(never());

  expect(snap.version).toMatch(/^PgBouncer 1\.\d+/);
  const pool = snap.pools.find((p) => p.database === 'app' && p.user === APP)!;
  expect(pool).toMatchObject({ clActive: 2, clWaiting: 3, svActive: 2, svIdle: 0, poolMode: 'transaction' });
  expect(pool.maxWaitMs).toBeGreaterThan(0);
  // SHOW CLIENTS runs after SHOW POOLS: the oldest waiting client has waited at least maxwait by then
  expect(Math.max(...snap.clients.filter((c) => c.state === 'waiting').map((c) => c.waitMs))).toBeGreaterThanOrEqual(pool.maxWaitMs);
  const db = snap.databases.find((d) => d.name === 'app')!;
  expect(db).toMatchObject({ database: 'postgres', poolSize: 2, maxConnections: 3, currentConnections: 2, reservePool: 0, paused: false, disabled: false });
  expect(snap.config).toMatchObject({ pool_mode: 'transaction', max_client_conn: '50', default_pool_size: '20', max_db_connections: '0' });
  expect(snap.lists.used_clients).toBeGreaterThanOrEqual(6);
  expect(snap.stats.map((s) => s.database)).toContain('app');
  const waiting = snap.clients.filter((c) => c.database === 'app' && c.state === 'waiting');
  expect(waiting).toHaveLength(3);
  expect(waiting.every((c) => c.applicationName === 'pf-pool-waiter' && c.user === APP)).toBe(true);
  const held = snap.servers.filter((s) => s.database === 'app' && s.state === 'active');
  expect(held).toHaveLength(2);
  // a server's remote_pid is the PostgreSQL backend that serves it
  const admin = await pg.connect();
  try {
    const pids = (await admin.query(`SELECT pid FROM pg_stat_activity WHERE usename = $1`, [APP])).rows.map((r) => r.pid);
    expect(pids.sort()).toEqual(held.map((s) => s.remotePid).sort());
  } finally {
    await admin.end();
  }
  // our own console connection is the only one of ours
  expect(snap.clients.filter((c) => c.database === 'pgbouncer' && c.user === STATS)).toHaveLength(1);
  expect(snap.truncated).toEqual({ clients: 0, servers: 0 });
});

test('concurrent readings share ONE console connection, one after another', async () => {
  const c = consoleClient();
  const snaps = await Promise.all(Array.from({ length: 5 }, () => c.snapshot(never())));
  for (const s of snaps) expect(s.clients.filter((x) => x.database === 'pgbouncer' && x.user === STATS)).toHaveLength(1);
});

test('the console still answers when PgBouncer refuses every other client (max_client_conn)', async () => {
  const small = await startPgBouncer(pg, { users: { [APP]: APP_PW, [STATS]: STATS_PW }, statsUsers: [STATS], maxClientConn: 1 });
  const held = new Client({ connectionString: small.url({ user: APP, password: APP_PW }) });
  try {
    await held.connect();
    const refused = new Client({ connectionString: small.url({ user: APP, password: APP_PW }) });
    refused.on('error', () => {});
    expect((await caught(refused.connect())).message).toBe('no more connections allowed (max_client_conn)');
    const c = createPgBouncerClient(pgbouncerSourceSchema.parse({ name: 'small', url: small.url({ user: STATS, password: STATS_PW, database: 'pgbouncer' }) }));
    clients.push(c);
    const snap = await c.snapshot(never());
    expect(snap.config.max_client_conn).toBe('1');
    expect(snap.lists.used_clients).toBe(2);
  } finally {
    await held.end();
    await small.stop();
  }
});

test('a user in neither stats_users nor admin_users is told how to fix it', async () => {
  const e = await caught(consoleClient({ url: bouncer.url({ user: APP, password: APP_PW, database: 'pgbouncer' }) }).snapshot(never()));
  expect(e).toMatchObject({ name: 'PgBouncerSourceError', kind: 'auth', sqlstate: '08P01' });
  expect(e.message).toMatch(/refused user "pf_app" on its admin console \("not allowed"\): add it to stats_users/);
});

test('a wrong password is an auth failure without the password', async () => {
  const e = await caught(consoleClient({ url: bouncer.url({ user: STATS, password: 'Wr0ng-pass', database: 'pgbouncer' }) }).snapshot(never()));
  expect(e).toMatchObject({ kind: 'auth' });
  expect(e.message).not.toContain('Wr0ng-pass');
});

test('a console that never answers times out within timeoutMs; a caller abort rejects with its reason', async () => {
  // it reads (so it sees our side close) but never answers
  const srv = net.createServer((s) => {
    s.resume();
    s.on('error', () => {});
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  const c = consoleClient({ url: `postgres://${STATS}:x@127.0.0.1:${port}/pgbouncer`, timeoutMs: 300 });
  const t0 = Date.now();
  expect(await caught(c.snapshot(never()))).toMatchObject({ kind: 'timeout' });
  expect(Date.now() - t0).toBeLessThan(2_000);
  const ac = new AbortController();
  const c2 = consoleClient({ url: `postgres://${STATS}:x@127.0.0.1:${port}/pgbouncer`, timeoutMs: 30_000 });
  const p = c2.snapshot(ac.signal);
  ac.abort(new Error('run over'));
  await expect(p).rejects.toThrow('run over');
});

test('PostgreSQL itself is not a console: the error says what the URL must point at', async () => {
  const e = await caught(consoleClient({ url: pg.url({ user: APP, password: APP_PW, database: 'pgbouncer' }) }).snapshot(never()));
  expect(e.kind).toBe('auth');
  expect(e.message).toMatch(/no "pgbouncer" database at this address \(database "pgbouncer" does not exist\): it is not PgBouncer/);
});

test('config: sources.pgbouncer[] names the admin console, is listed by name, and is closed with the other clients', async () => {
  expect(pgbouncerSourceSchema.safeParse({ name: 'p', url: 'postgres://s@h:6432/app' }).error?.issues[0]?.message).toMatch(
    /must name PgBouncer's admin console database/,
  );
  expect(pgbouncerSourceSchema.parse({ name: 'p', url: 'postgres://s@h:6432/pgbouncer' })).toEqual({
    name: 'p',
    url: 'postgres://s@h:6432/pgbouncer',
    timeoutMs: 5000,
  });
  const config = sourcesConfigSchema.parse({
    pgbouncer: [{ name: 'main-pooler', url: bouncer.url({ user: STATS, password: STATS_PW, database: 'pgbouncer' }) }],
  });
  const all = createSourceClients(config);
  try {
    expect([...all.pgbouncer.keys()]).toEqual(['main-pooler']);
    expect((await all.pgbouncer.get('main-pooler')!.show('VERSION', never()))[0]).toEqual({ version: expect.stringMatching(/^PgBouncer/) });
  } finally {
    await all.close();
  }
  await expect(all.pgbouncer.get('main-pooler')!.snapshot(never())).rejects.toThrow('closed');
});
