/**
 * Each production situation of issue 12 staged for real (test/support/pg-scenarios.ts) on a real
 * PostgreSQL and PgBouncer, read by the real postgres and pgbouncer enrichers, ranked by the rules:
 * the top cause and the culprit it names (pid, gid, client, PgBouncer setting), or what it says it
 * cannot see. The pool and traffic evidence is the diagnosis fixtures' (an exhausted pool; flat or
 * climbing as each case needs): those enrichers read Prometheus, which these cases do not involve.
 */
import pino from 'pino';
import type { Cause, Enrichment } from '../../src/core/diagnostic';
import { diagnose } from '../../src/diagnosis';
import { createPgBouncerEnricher } from '../../src/enrichers/pgbouncer/enricher';
import { pgbouncerSettingsSchema } from '../../src/enrichers/pgbouncer/settings';
import { createPostgresEnricher } from '../../src/enrichers/postgres/enricher';
import { postgresSettingsSchema } from '../../src/enrichers/postgres/settings';
import { runEnrichers } from '../../src/pipeline/enrich';
import { pgbouncerSourceSchema, postgresSourceSchema } from '../../src/sources/config';
import { createPgBouncerClient } from '../../src/sources/pgbouncer';
import { createPostgresGuard } from '../../src/sources/postgres';
import { alertGroup } from '../support/groups';
import * as sc from '../support/pg-scenarios';
import { startPgBouncer, type TestPgBouncer } from '../support/pgbouncer';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { until } from '../support/wait';
import * as f from './fixtures';

const logger = pino({ level: 'silent' });
const APP = { user: 'pf_app', password: 'app-pw-5' };
const MONITOR = { user: 'pf_monitor', password: 'mon-pw-5' };
const BLIND = { user: 'pf_blind', password: 'blind-pw-5' };
const STATS = { user: 'pf_stats', password: 'stats-pw-5' };
const group = alertGroup([{ labels: { alertname: 'db_pool_exhausted', service: 'checkout' } }]);

let pg: TestPostgres;

beforeAll(async () => {
  pg = await startPostgres({ maxConnections: 20, settings: { max_prepared_transactions: 3, ...sc.AUTOVACUUM_STAGE_SETTINGS } });
  await pg.createRole(MONITOR.user, MONITOR.password, { monitor: true });
  await sc.roleWithoutMonitor(pg, BLIND.user, BLIND.password);
  await pg.createRole(APP.user, APP.password);
  const admin = await pg.connect();
  try {
    await admin.query('CREATE TABLE carts (id int PRIMARY KEY, n int NOT NULL DEFAULT 0) WITH (autovacuum_enabled = off)');
    await admin.query('INSERT INTO carts (id) SELECT g FROM generate_series(1, 1000) g');
    await admin.query('GRANT SELECT, UPDATE ON carts TO pf_app');
  } finally {
    await admin.end();
  }
});

afterEach(() => sc.releaseAll());
afterAll(() => pg?.stop());

/** The real enrichers' evidence for the database (and a PgBouncer), beside the fixtures' pool and traffic. */
async function diagnoseNow(
  o: { monitor?: typeof MONITOR; url?: string; bouncer?: TestPgBouncer; trend?: 'climbing' | 'flat' } = {},
): Promise<{ causes: Cause[]; es: Enrichment[] }> {
  const m = o.monitor ?? MONITOR;
  const guard = createPostgresGuard(postgresSourceSchema.parse({ name: 'app', url: o.url ?? pg.url({ ...m, database: 'postgres' }) }));
  const enrichers = [createPostgresEnricher(postgresSettingsSchema.parse({}), { guards: new Map([['app', guard]]) })];
  const console = o.bouncer
    ? createPgBouncerClient(pgbouncerSourceSchema.parse({ name: 'main-pooler', url: o.bouncer.url({ ...STATS, database: 'pgbouncer' }) }))
    : undefined;
  if (console)
    enrichers.push(
      createPgBouncerEnricher(pgbouncerSettingsSchema.parse({}), { clients: new Map([['main-pooler', console]]), endpoints: new Map([['main-pooler', null]]) }),
    );
  try {
    const results = await runEnrichers(enrichers, { group, logger, now: new Date() }, { budgetMs: 15_000, defaultTimeoutMs: 15_000 });
    const trend = o.trend ?? 'flat';
    const es: Enrichment[] = [
      f.enrichment('pool', f.saturatedPool({ activeTrend: trend, activeSlopePerMinute: trend === 'climbing' ? 0.6 : 0 })),
      f.enrichment('traffic', f.traffic()),
      ...results.map((r) => ({ ...r, enricher: r.enricher })),
    ];
    return { causes: diagnose(es, group), es };
  } finally {
    await guard.close();
    await console?.close();
  }
}

const text = (c: Cause | undefined) => [...(c?.evidence ?? []), ...(c?.actions ?? []), ...(c?.against ?? [])].join('\n');

/** Until pg_stat_activity says these sessions have been idle in transaction for at least `ms`. */
async function idleFor(pids: number[], ms: number): Promise<void> {
  const admin = await pg.connect();
  try {
    await until(
      `${pids.length} sessions idle in transaction for ${ms} ms`,
      async () =>
        (
          await admin.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ANY($1::int[]) AND clock_timestamp() - state_change >= $2 * interval '1 millisecond'`,
            [pids, ms],
          )
        ).rows[0].n === pids.length,
      10_000,
      50,
    );
  } finally {
    await admin.end();
  }
}

test("the application's forgotten transactions are its leak, named by pid; a person's DBeaver idle beside them is named as a person's, not counted", async () => {
  const leaks = [];
  for (let i = 0; i < 3; i++)
    leaks.push(await sc.idleInTransaction(pg, { ...APP, applicationName: 'checkout-api', statements: ['SELECT n FROM carts WHERE id = 1'] }));
  const person = await sc.personsToolIdleInTransaction(pg, { ...APP, statements: ['SELECT count(*) FROM carts'] });
  await idleFor([...leaks.map((l) => l.pid), person.pid], 2_100);
  const { causes } = await diagnoseNow();
  expect(causes[0]!.id).toBe('connection_leak');
  const leak = causes[0]!;
  for (const l of leaks) expect(leak.evidence.join('\n')).toContain(`pid ${l.pid} (idle`);
  expect(leak.evidence.join('\n')).not.toContain(`pid ${person.pid}`);
  expect((leak.against ?? []).join('\n')).toContain(`pid ${person.pid} on "app" idle in transaction for`);
  expect((leak.against ?? []).join('\n')).toContain("is a person's SQL tool (DBeaver, user pf_app)");
  expect(leak.actions.join('\n')).toContain(`SELECT pg_terminate_backend(${leaks[0]!.pid})`);
});

test("a role without pg_monitor: the leak is said from the pool's trend, with what it cannot see and the GRANT, capped; nothing argues from the missing rows", async () => {
  const leaks = [];
  for (let i = 0; i < 3; i++) leaks.push(await sc.idleInTransaction(pg, { ...APP, applicationName: 'checkout-api' }));
  await idleFor(
    leaks.map((l) => l.pid),
    2_100,
  );
  const { causes, es } = await diagnoseNow({ monitor: BLIND, trend: 'climbing' });
  const db = (es.find((e) => e.enricher === 'postgres')!.evidence as { databases: Array<{ visibility: unknown }> }).databases[0]!;
  expect(db.visibility).toMatchObject({ hiddenClients: 3, grant: 'GRANT pg_monitor TO "pf_blind";' });
  expect(causes[0]!.id).toBe('connection_leak');
  expect(causes[0]!.evidence.join('\n')).toContain(`cannot see: 3 of the application's sessions on "app" are hidden from the monitoring role (no pg_monitor)`);
  expect(causes[0]!.actions[0]).toBe('Let the monitoring role see the sessions, then re-run the diagnosis: GRANT pg_monitor TO "pf_blind";');
  expect(causes[0]!.confidence).toBeLessThanOrEqual(0.7);
  expect(text(causes[0])).not.toMatch(/no session .* idle in transaction for long/);
});

test("a person's DBeaver holding a row lock the application waits on: lock_contention names the DBeaver session as the root", async () => {
  const person = await sc.personsToolIdleInTransaction(pg, { ...APP, statements: ['UPDATE carts SET n = n + 1 WHERE id = 3'] });
  const waiters = await sc.lockWaiters(pg, { ...APP, applicationName: 'checkout-api', sql: 'UPDATE carts SET n = n + 1 WHERE id = 3', count: 3 });
  const { causes } = await diagnoseNow();
  expect(causes[0]!.id).toBe('lock_contention');
  expect(causes[0]!.evidence[0]).toMatch(
    new RegExp(
      `^root blocker on "app": session pid ${person.pid} \\(a person's SQL tool \\(DBeaver\\), user pf_app\\), idle in transaction for .*; 3 sessions wait behind it`,
    ),
  );
  expect(causes[0]!.actions.join('\n')).toContain(`SELECT pg_terminate_backend(${person.pid});`);
  expect(causes[0]!.actions.join('\n')).toContain("It is a person's SQL tool (DBeaver) logged in as pf_app: ask them to commit or roll back");
  expect(waiters.pids).toHaveLength(3);
  expect(causes.find((c) => c.id === 'connection_leak')).toBeUndefined();
});

test('another client filling the slots: database_connection_limit names it and its count, apart from the application', async () => {
  await sc.connectionHog(pg, { ...APP, applicationName: 'checkout-api', count: 3 });
  await sc.connectionHog(pg, { ...APP, applicationName: 'reporting', count: 13 }); // 3 + 13 + ours = the 17 usable slots
  const { causes } = await diagnoseNow();
  expect(causes[0]!.id).toBe('database_connection_limit');
  const c = causes[0]!;
  expect(c.evidence.join('\n')).toContain('"app": 17 of 17 usable connections in use (100%; max_connections 20, 3 reserved)');
  expect(c.evidence.join('\n')).toContain(
    'connections by client on "app": reporting (another client, user pf_app) 13, checkout-api (the application, user pf_app) 3',
  );
  expect(c.evidence.join('\n')).toContain('other clients hold 13 of the 17 connections, the application 3');
  expect(c.actions.join('\n')).toContain(`"reporting" (user pf_app, another client) holds 13 of them`);
});

test('every ordinary slot taken: our refused monitoring connection is the evidence, and the tier that was full is said', async () => {
  const hog = await sc.connectionHog(pg, { ...APP, applicationName: 'reporting' });
  expect(hog.pids).toHaveLength(17);
  const { causes } = await diagnoseNow();
  expect(causes[0]!.id).toBe('database_connection_limit');
  expect(causes[0]!.evidence[0]).toBe(
    '"app" refused our monitoring connection: only superuser slots were left: remaining connection slots are reserved for non-replication superuser connections (SQLSTATE 53300)',
  );
  expect(causes[0]!.actions.join('\n')).toContain('GRANT pg_use_reserved_connections TO <monitoring role>');
  expect(causes.find((c) => c.id === 'database_unavailable')).toBeUndefined();
});

test('a prepared transaction holding a row lock: the root is its gid, pid 0, and the action ROLLBACK PREPARED', async () => {
  const prepared = await sc.preparedTransactionHoldingRow(pg, { table: 'carts', column: 'n', rowId: 9, gid: 'checkout-2pc-77' });
  await sc.lockWaiters(pg, { ...APP, applicationName: 'checkout-api', sql: 'UPDATE carts SET n = n + 1 WHERE id = 9', count: 3 });
  const { causes } = await diagnoseNow();
  expect(causes[0]!.id).toBe('lock_contention');
  expect(causes[0]!.evidence[0]).toMatch(
    /^root blocker on "app": prepared transaction 'checkout-2pc-77' \(pid 0, no session, owner postgres\), prepared .* ago; 3 sessions wait behind it/,
  );
  expect(causes[0]!.actions[0]).toMatch(/^ROLLBACK PREPARED 'checkout-2pc-77';/);
  expect(prepared.gid).toBe('checkout-2pc-77');
});

test('a migration queued behind a reader: cancelling the waiting ALTER TABLE comes first, the reader is the root', async () => {
  const q = await sc.migrationQueuedBehindReader(pg, { table: 'carts', queued: 3 });
  const { causes } = await diagnoseNow();
  expect(causes[0]!.id).toBe('lock_contention');
  expect(causes[0]!.evidence[0]).toMatch(new RegExp(`^root blocker on "app": session pid ${q.readerPid} .*idle in transaction`));
  expect(causes[0]!.evidence.join('\n')).toContain(`pid ${q.ddlPid} waits`);
  expect(causes[0]!.actions[0]).toMatch(
    new RegExp(
      `^SELECT pg_cancel_backend\\(${q.ddlPid}\\);  -- on "app": "ALTER TABLE carts ADD COLUMN .*" waits for its lock while 3 sessions queue behind it; run it again later with SET lock_timeout = '5s'`,
    ),
  );
});

test('an anti-wraparound autovacuum in front of a migration: never cancel it, cancel the migration', async () => {
  const av = await sc.autovacuumWorker(pg, { table: 'pf_staged_frozen', antiWraparound: true });
  const ddl = await pg.connect({ applicationName: 'pf-migration' });
  const ddlPid = (await ddl.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
  await ddl.query("SET lock_timeout = '30s'");
  const alter = ddl.query('ALTER TABLE pf_staged_frozen ADD COLUMN z int').catch((e: Error) => e);
  try {
    await sc.lockWaiters(pg, { applicationName: 'pf-reader', sql: 'SELECT count(*) FROM pf_staged_frozen', count: 2 });
    const { causes } = await diagnoseNow();
    expect(causes[0]!.id).toBe('lock_contention');
    expect(causes[0]!.evidence[0]).toMatch(
      new RegExp(`^root blocker on "app": anti-wraparound autovacuum worker pid ${av.pid}, active for .*; 3 sessions wait behind it`),
    );
    const actions = causes[0]!.actions.join('\n');
    expect(actions).toContain(`SELECT pg_cancel_backend(${ddlPid});`);
    expect(actions).toContain(`Do not cancel pid ${av.pid}: an anti-wraparound autovacuum protects the database from transaction ID wraparound`);
    expect(actions).not.toContain(`pg_cancel_backend(${av.pid})`);
    expect(actions).not.toContain(`pg_terminate_backend(${av.pid})`);
  } finally {
    const admin = await pg.connect();
    await admin.query('SELECT pg_cancel_backend($1)', [ddlPid]);
    await admin.end();
    await alter;
    await ddl.end();
  }
});

describe('through PgBouncer', () => {
  let bouncer: TestPgBouncer;
  beforeAll(async () => {
    bouncer = await startPgBouncer(pg, {
      poolMode: 'transaction',
      users: { [APP.user]: APP.password, [MONITOR.user]: MONITOR.password, [STATS.user]: STATS.password },
      statsUsers: [STATS.user],
      databases: { app: { dbname: 'postgres', extra: { pool_size: 2 } }, postgres: { dbname: 'postgres' } },
    });
  });
  afterAll(() => bouncer?.stop());

  test("PgBouncer's pool full with clients waiting, the database healthy: pooler_saturated names pool_size and by how much; the monitoring works through PgBouncer unchanged", async () => {
    await sc.pgbouncerPoolFull(bouncer, {
      url: bouncer.url({ ...APP, database: 'app' }),
      database: 'app',
      user: APP.user,
      holders: 2,
      waiters: 4,
      applicationName: 'checkout-api',
    });
    const { causes, es } = await diagnoseNow({ url: bouncer.url({ ...MONITOR, database: 'postgres' }), bouncer });
    const pgEv = es.find((e) => e.enricher === 'postgres')!;
    expect(pgEv.status).toBe('ok');
    expect(pgEv.sections.find((s) => s.title === 'through a connection pooler')).toBeDefined();
    expect(causes[0]!.id).toBe('pooler_saturated');
    expect(causes[0]!.evidence[0]).toMatch(
      /^PgBouncer "main-pooler", pool app\/pf_app \(transaction pooling\) is full at pool_size 2 \(2 server connections\): 4 clients waiting for a server connection, the oldest for /,
    );
    expect(causes[0]!.actions[0]).toMatch(/^Raise PgBouncer's pool_size for database app from 2 by the 4 waiting clients \(to about 6\)/);
    expect(causes.find((c) => c.id === 'database_unavailable')).toBeUndefined();
  });
});
