import net from 'node:net';
import pino from 'pino';
import type { Client } from 'pg';
import type { AlertGroup } from '../../src/core/alert';
import type { Enricher } from '../../src/core/enricher';
import { IDLE_SETTLED_MS, type PgDatabaseEvidence, type PostgresEvidence } from '../../src/core/evidence';
import { createPostgresEnricher } from '../../src/enrichers/postgres/enricher';
import { postgresSettingsSchema } from '../../src/enrichers/postgres/settings';
import { normaliseSql } from '../../src/enrichers/postgres/sql-normalise';
import { runEnrichers } from '../../src/pipeline/enrich';
import { postgresSourceSchema } from '../../src/sources/config';
import { createPostgresGuard, type PostgresGuard } from '../../src/sources/postgres';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { until } from '../support/wait';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const logger = pino({ level: 'silent' });
const MAX_CONNECTIONS = 14;

let pg: TestPostgres;
let admin: Client;
let monitorUrl: string;
const guards: PostgresGuard[] = [];
const clients: Client[] = [];

function group(labels: Record<string, string> = {}): AlertGroup {
  const all = { alertname: 'db_pool_exhausted', ...labels };
  return {
    groupKey: '{}:{alertname="db_pool_exhausted"}',
    status: 'firing',
    receiver: 'pagefirst',
    groupLabels: { alertname: 'db_pool_exhausted' },
    commonLabels: all,
    commonAnnotations: {},
    externalURL: '',
    truncatedAlerts: 0,
    alerts: [
      {
        status: 'firing',
        labels: all,
        annotations: {},
        startsAt: new Date().toISOString(),
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: '',
        fingerprint: 'f1',
      },
    ],
  };
}

function guardsFor(entries: Array<Record<string, unknown>>, applicationName = 'pagefirst'): Map<string, PostgresGuard> {
  const map = new Map<string, PostgresGuard>();
  for (const e of entries) {
    const g = createPostgresGuard(postgresSourceSchema.parse({ name: 'main', url: monitorUrl, ...e }), { applicationName });
    guards.push(g);
    map.set(g.name, g);
  }
  return map;
}

function enricher(map: Map<string, PostgresGuard>, settings: Record<string, unknown> = {}): Enricher {
  return createPostgresEnricher(postgresSettingsSchema.parse(settings), { guards: map });
}

async function enrich(e: Enricher, labels: Record<string, string> = {}, budgetMs = 10_000) {
  const [r] = await runEnrichers([e], { group: group(labels), logger, now: new Date() }, { budgetMs, defaultTimeoutMs: budgetMs });
  return { ...r!, ev: r!.evidence as unknown as PostgresEvidence };
}

async function appClient(applicationName: string): Promise<Client> {
  const c = await pg.connect({ user: 'pf_app', password: 'app-pw', applicationName });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  pg = await startPostgres({ maxConnections: MAX_CONNECTIONS });
  monitorUrl = await pg.createRole('pf_monitor', 'mon-pw', { monitor: true });
  await pg.createRole('pf_app', 'app-pw');
  admin = await pg.connect();
  await admin.query(`CREATE TABLE accounts (id int PRIMARY KEY, balance int, email text);
    INSERT INTO accounts VALUES (1, 100, 'alice@example.com'), (2, 50, 'bob@example.com');
    GRANT ALL ON accounts TO pf_app;`);
});

afterEach(async () => {
  await Promise.all(guards.splice(0).map((g) => g.close()));
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => {})));
  await pg?.stop();
});

describe('against the runbook conditions on a real PostgreSQL', () => {
  let sleeper: Client;
  let leaky: Client;
  let waiterA: Client;
  let waiterB: Client;
  const pids: Record<string, number> = {};
  const pending: Array<Promise<unknown>> = [];

  beforeAll(async () => {
    sleeper = await appClient('checkout');
    leaky = await appClient('leaky-worker');
    waiterA = await appClient('payments');
    waiterB = await appClient('payments');
    for (const [k, c] of Object.entries({ sleeper, leaky, waiterA, waiterB })) pids[k] = (await c.query('SELECT pg_backend_pid() AS p')).rows[0].p;
    pending.push(sleeper.query(`SELECT pg_sleep(30), 'alice@example.com' AS who, 4242 AS n`).catch(() => {}));
    await leaky.query('BEGIN');
    await leaky.query(`UPDATE accounts SET balance = balance - 5 WHERE email = 'alice@example.com'`);
    pending.push(waiterA.query('UPDATE accounts SET balance = 0 WHERE id = 1').catch(() => {}));
    await until(
      'the first waiter',
      async () => (await admin.query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'`, [pids.waiterA])).rowCount === 1,
    );
    pending.push(waiterB.query('UPDATE accounts SET balance = 1 WHERE id = 1').catch(() => {}));
    await until(
      'both waiters',
      async () =>
        (await admin.query(`SELECT 1 FROM pg_stat_activity WHERE pid = ANY($1) AND wait_event_type = 'Lock'`, [[pids.waiterA, pids.waiterB]])).rowCount === 2,
    );
    await sleep(300); // ages worth measuring
  });

  afterAll(async () => {
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY($1)', [Object.values(pids)]);
    await Promise.all(pending);
  });

  test('reports the sleeping query, the idle-in-transaction session and the blocking chain, with normalised text', async () => {
    const r = await enrich(enricher(guardsFor([{}])));
    expect(r.status).toBe('ok');
    const db = r.ev.databases[0]!;
    expect(db).toMatchObject({ name: 'main', reachable: true, failure: null, maxConnections: MAX_CONNECTIONS });
    expect(db.reservedConnections).toBe(3);
    expect(db.serverVersionNum).toBe(pg.serverVersionNum);

    // connections, ours excluded
    expect(db.byApplication).toMatchObject({ checkout: 1, 'leaky-worker': 1, payments: 2 });
    expect(db.byApplication.pagefirst).toBeUndefined();
    expect(db.byUser.pf_app).toBe(4);
    expect(db.byState['idle in transaction']).toBe(1);
    expect(db.byState.active).toBeGreaterThanOrEqual(3);
    const total = Number(
      (await admin.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE backend_type = 'client backend' AND application_name <> 'pagefirst'`)).rows[0].n,
    );
    expect(db.connections).toBe(total);

    // the longest-running active query is the sleep, normalised
    const sleep0 = db.longRunning.find((s) => s.pid === pids.sleeper)!;
    expect(sleep0).toMatchObject({
      user: 'pf_app',
      application: 'checkout',
      clientAddr: '127.0.0.1',
      state: 'active',
      waitEventType: 'Timeout',
      waitEvent: 'PgSleep',
    });
    expect(sleep0.query).toBe('SELECT pg_sleep(?), ? AS who, ? AS n');
    expect(sleep0.queryAgeMs).toBeGreaterThanOrEqual(300);
    expect(db.longRunning.map((s) => s.queryAgeMs!)).toEqual([...db.longRunning.map((s) => s.queryAgeMs!)].sort((a, b) => b - a));

    // idle in transaction: the leak signal
    expect(db.idleInTransaction.map((s) => s.pid)).toEqual([pids.leaky]);
    expect(db.idleInTransaction[0]).toMatchObject({
      application: 'leaky-worker',
      state: 'idle in transaction',
      query: 'UPDATE accounts SET balance = balance - ? WHERE email = ?',
    });
    expect(db.idleInTransaction[0]!.stateAgeMs).toBeGreaterThanOrEqual(300);
    // the sleep's implicit transaction began before the leaky BEGIN: both are open, oldest first
    expect(db.oldestTransactions.map((s) => s.pid)).toEqual(expect.arrayContaining([pids.sleeper, pids.leaky]));
    expect(db.oldestTransactions.map((s) => s.xactAgeMs!)).toEqual([...db.oldestTransactions.map((s) => s.xactAgeMs!)].sort((a, b) => b - a));

    // the blocking chain: the idle transaction blocks the first waiter (and the second, directly or behind it)
    const chain = db.blockingChains.find((c) => c.blockerPid === pids.leaky)!;
    expect(chain).toMatchObject({
      blockerState: 'idle in transaction',
      blockerApplication: 'leaky-worker',
      blockerQuery: 'UPDATE accounts SET balance = balance - ? WHERE email = ?',
    });
    expect(chain.waitingPids).toContain(pids.waiterA);
    const waitingSomewhere = new Set(db.blockingChains.flatMap((c) => c.waitingPids));
    expect(waitingSomewhere).toEqual(new Set([pids.waiterA, pids.waiterB]));
    expect(chain.blockerAgeMs).toBeGreaterThanOrEqual(300);
    expect(chain.longestWaitMs).toBeGreaterThanOrEqual(300);

    // no literal leaves the enricher
    const all = JSON.stringify(r);
    expect(all).not.toContain('alice@example.com');
    expect(all).not.toContain('4242');

    // people see it
    expect(r.summary).toMatch(/main: \d+\/14 connections, 1 idle in transaction .*1 lock root\(s\), 2 waiting/);
    const titles = r.sections.map((s) => s.title);
    expect(titles).toEqual(
      expect.arrayContaining(['connections', 'longest-running active queries', 'idle in transaction', 'lock waits by root', 'queries (literals replaced)']),
    );
    const table = r.sections.find((s) => s.title === 'lock waits by root');
    expect(table?.type === 'table' && table.rows[0]!.slice(0, 2)).toEqual([`pid ${pids.leaky}`, 'client']);
    // the tree: the idle transaction is the root of both waits, the second waiter queued behind the first
    expect(db.lockTrees).toEqual([expect.objectContaining({ rootPid: pids.leaky, kind: 'client', state: 'idle in transaction', waiting: 2 })]);
    const code = r.sections.find((s) => s.type === 'code');
    expect(code?.type === 'code' && code.code).toContain(`-- idle in transaction: pid ${pids.leaky}`);
  });

  test('idleSettled counts sessions idle outside a transaction for IDLE_SETTLED_MS or more, not those between two queries', async () => {
    const e = enricher(guardsFor([{}]));
    const held = await appClient('held-idle');
    await held.query('SELECT 1');
    await admin.query('SELECT 1'); // the admin session idles freshly too, at both readings
    const before = (await enrich(e)).ev.databases[0]!.idleSettled!;
    await sleep(IDLE_SETTLED_MS + 200);
    await admin.query('SELECT 1');
    const after = (await enrich(e)).ev.databases[0]!;
    expect(after.byApplication['held-idle']).toBe(1);
    expect(after.idleSettled).toBe(before + 1);
  });

  test('rawQueries: true shows the text as it is', async () => {
    const r = await enrich(enricher(guardsFor([{}]), { rawQueries: true }));
    const db = r.ev.databases[0]!;
    expect(db.longRunning.find((s) => s.pid === pids.sleeper)!.query).toBe(`SELECT pg_sleep(30), 'alice@example.com' AS who, 4242 AS n`);
  });

  test('top statements from pg_stat_statements (PG 13+ column names), without our own queries', async () => {
    if (!pg.statStatements) return; // no contrib files on this machine: covered by the "absent" test
    await admin.query(`SELECT count(*) FROM accounts WHERE email = 'carol@example.com'`);
    const r = await enrich(enricher(guardsFor([{}]), { topN: 50 }));
    const top = r.ev.databases[0]!.topStatements!;
    expect(Array.isArray(top)).toBe(true);
    expect(top.length).toBeGreaterThan(0);
    expect(top.some((s) => s.query.includes('FROM accounts WHERE email = $1'))).toBe(true);
    const mine = top.filter((s) => s.query.includes('pagefirst') || s.query.includes('pg_blocking_pids'));
    expect(mine).toEqual([]);
    expect(top.every((s) => s.calls >= 1 && s.meanMs >= 0 && s.totalMs >= s.meanMs - 0.01)).toBe(true);
    const means = top.map((s) => s.meanMs);
    expect(means).toEqual([...means].sort((a, b) => b - a));
  });
});

test('pg_stat_statements absent: topStatements null, a note, the rest intact; pre-13 column names (extension 1.4) are read', async () => {
  await admin.query('CREATE DATABASE pf_nopgss');
  const map = guardsFor([{ name: 'nopgss', url: pg.url({ user: 'pf_monitor', password: 'mon-pw', database: 'pf_nopgss' }) }]);
  const r = await enrich(enricher(map));
  const db = r.ev.databases[0]!;
  expect(db.reachable).toBe(true);
  expect(db.topStatements).toBeNull();
  expect(db.connections).not.toBeNull();
  expect(JSON.stringify(r.sections)).toContain('pg_stat_statements is not installed');

  if (!pg.statStatements) return;
  // extension version 1.4 has the PG 12 names (total_time, mean_time) and still works on newer servers
  await admin.query('CREATE DATABASE pf_oldpgss');
  const c = await pg.connect({ database: 'pf_oldpgss' });
  await c.query(`CREATE EXTENSION pg_stat_statements VERSION '1.4'`);
  const cols = (await c.query(`SELECT attname FROM pg_attribute WHERE attrelid = 'pg_stat_statements'::regclass AND attname LIKE 'mean%'`)).rows.map(
    (x) => x.attname,
  );
  expect(cols).toEqual(['mean_time']);
  await c.end();
  const r2 = await enrich(enricher(guardsFor([{ name: 'old', url: pg.url({ user: 'pf_monitor', password: 'mon-pw', database: 'pf_oldpgss' }) }])));
  expect(Array.isArray(r2.ev.databases[0]!.topStatements)).toBe(true);
  expect(r2.ev.databases[0]!.topStatements!.length).toBeGreaterThan(0);
});

test('an alert label picks one configured database by name; an unknown name queries the configured ones, nothing else', async () => {
  const map = guardsFor([{ name: 'main' }, { name: 'other', url: pg.url({ user: 'pf_monitor', password: 'mon-pw', database: 'postgres' }) }]);
  const one = await enrich(enricher(map), { database: 'other' });
  expect(one.ev.databases.map((d) => d.name)).toEqual(['other']);
  const both = await enrich(enricher(map), { database: 'customers' });
  expect(both.ev.databases.map((d) => d.name)).toEqual(['main', 'other']);
  expect(both.sections[0]).toMatchObject({ type: 'text', text: expect.stringContaining('names no configured database') });
  const off = await enrich(enricher(map, { databaseLabel: null }), { database: 'other' });
  expect(off.ev.databases).toHaveLength(2);
});

test('a full database: the refusal is evidence (ok, too_many_clients), and we never hold more than one connection', async () => {
  const app = 'pf-hammer';
  const map = guardsFor([{ breakerThreshold: 100 }], app);
  const e = enricher(map);

  // with slots free: concurrent runs hammer the guard; sample our sessions meanwhile
  let maxSeen = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const n = Number((await admin.query('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1', [app])).rows[0].n);
      maxSeen = Math.max(maxSeen, n);
      await sleep(3);
    }
  })();
  const runs = await Promise.all(Array.from({ length: 6 }, () => enrich(e)));
  sampling = false;
  await sampler;
  expect(runs.every((r) => r.status === 'ok' && r.ev.databases[0]!.reachable)).toBe(true);
  expect(maxSeen).toBe(1);
  await Promise.all(guards.splice(0).map((g) => g.close()));

  // fill every slot an ordinary role may use
  const fillers: Client[] = [];
  let refusal = '';
  for (let i = 0; i < MAX_CONNECTIONS + 2 && !refusal; i++) {
    try {
      fillers.push(await pg.connect({ user: 'pf_app', password: 'app-pw', applicationName: 'filler' }));
    } catch (err) {
      refusal = (err as Error).message;
    }
  }
  try {
    expect(refusal).toMatch(/remaining connection slots are reserved|too many clients/);
    const map2 = guardsFor([{ breakerThreshold: 100 }], app);
    const results = await Promise.all(Array.from({ length: 4 }, () => enrich(enricher(map2))));
    for (const r of results) {
      expect(r.status).toBe('ok');
      const db: PgDatabaseEvidence = r.ev.databases[0]!;
      expect(db).toMatchObject({ reachable: false, failure: { kind: 'too_many_clients', sqlstate: '53300' }, connections: null });
      expect(r.summary).toBe('main: not reachable (too many clients)');
      expect(r.sections[0]).toMatchObject({
        type: 'text',
        title: 'could not query (too_many_clients)',
        text: expect.stringContaining('connection slots are used up'),
      });
      expect(JSON.stringify(r)).not.toContain('mon-pw');
    }
  } finally {
    await Promise.all(fillers.map((c) => c.end()));
  }
});

test('database down or hanging: evidence within the source timeout; the pipeline budget wins when shorter', async () => {
  const closed = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const down = await enrich(enricher(guardsFor([{ url: `postgres://pf_monitor:mon-pw@127.0.0.1:${closed}/postgres` }])));
  expect(down.status).toBe('ok');
  expect(down.ev.databases[0]).toMatchObject({ reachable: false, failure: { kind: 'unreachable' } });
  expect(down.durationMs).toBeLessThan(1_000);

  const sockets: net.Socket[] = [];
  const hole = net.createServer((s) => sockets.push(s));
  await new Promise<void>((r) => hole.listen(0, '127.0.0.1', () => r()));
  const port = (hole.address() as net.AddressInfo).port;
  try {
    const slow = await enrich(enricher(guardsFor([{ url: `postgres://u:p@127.0.0.1:${port}/postgres`, timeoutMs: 400 }])));
    expect(slow.status).toBe('ok');
    expect(slow.ev.databases[0]).toMatchObject({ reachable: false, failure: { kind: 'timeout' } });
    expect(slow.durationMs).toBeLessThan(1_200);

    const budget = await enrich(enricher(guardsFor([{ url: `postgres://u:p@127.0.0.1:${port}/postgres`, timeoutMs: 5_000 }])), {}, 300);
    expect(budget.status).toBe('timeout');
    expect(budget.durationMs).toBeLessThan(1_000);
  } finally {
    sockets.forEach((s) => s.destroy());
    hole.close();
  }
});

test('no database configured: skipped', async () => {
  const r = await enrich(enricher(new Map()));
  expect(r.status).toBe('skipped');
});

describe('normaliseSql', () => {
  test.each([
    [`SELECT * FROM t WHERE a = 'x''y' AND b = 42 AND c = -3.5e2`, 'SELECT * FROM t WHERE a = ? AND b = ? AND c = -?'],
    [`select E'it\\'s', $$dollar 'q'$$, $tag$x$tag$ from t2 where id in (1, 2, 3)`, 'select ?, ?, ? from t2 where id in (?, ...)'],
    [`INSERT INTO "Weird""T" (a1, b) VALUES (1, 'a'), (2, 'b') -- secret: 99\n`, 'INSERT INTO "Weird""T" (a1, b) VALUES (?, ...), ...'],
    [`SELECT /* card 4111111111111111 */ x FROM t WHERE id = $1 AND y = 0x1F`, 'SELECT x FROM t WHERE id = $1 AND y = ?'],
    [`UPDATE t SET note = 'cut in the midd`, 'UPDATE t SET note = ?'],
    ['select   col2,\n\t t3.c from   t3', 'select col2, t3.c from t3'],
    ['<insufficient privilege>', '<insufficient privilege>'],
  ])('%s', (input, expected) => {
    expect(normaliseSql(input, 300)).toBe(expected);
  });

  test('caps the length with a marker', () => {
    const out = normaliseSql(`SELECT ${'a, '.repeat(200)}b FROM t`, 50);
    expect(out).toHaveLength(50);
    expect(out.endsWith('…')).toBe(true);
  });
});
