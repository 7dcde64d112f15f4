/**
 * The `pgbouncer` enricher against a real PgBouncer in front of a real PostgreSQL, each limit
 * staged for real: a full pool_size, a database at max_db_connections, max_client_conn reached,
 * and a console that refuses us.
 */
import { Client } from 'pg';
import pino from 'pino';
import { createPgBouncerEnricher } from '../../src/enrichers/pgbouncer/enricher';
import { pgbouncerSettingsSchema } from '../../src/enrichers/pgbouncer/settings';
import type { PgBouncerEvidence } from '../../src/core/evidence';
import { runEnrichers } from '../../src/pipeline/enrich';
import { pgbouncerSourceSchema } from '../../src/sources/config';
import { createPgBouncerClient, type PgBouncerClient } from '../../src/sources/pgbouncer';
import { alertGroup } from '../support/groups';
import { pgbouncerPoolFull, releaseAll } from '../support/pg-scenarios';
import { startPgBouncer, type TestPgBouncer } from '../support/pgbouncer';
import { startPostgres, type TestPostgres } from '../support/postgres';

const logger = pino({ level: 'silent' });
const APP = { user: 'pf_app', password: 'app-pw-3' };
const STATS = { user: 'pf_stats', password: 'stats-pw-3' };

let pg: TestPostgres;
const bouncers: TestPgBouncer[] = [];
const clients: PgBouncerClient[] = [];

async function bouncer(opts: Parameters<typeof startPgBouncer>[1] = {}): Promise<TestPgBouncer> {
  const b = await startPgBouncer(pg, { users: { [APP.user]: APP.password, [STATS.user]: STATS.password }, statsUsers: [STATS.user], ...opts });
  bouncers.push(b);
  return b;
}

async function enrich(b: TestPgBouncer, user = STATS) {
  const client = createPgBouncerClient(pgbouncerSourceSchema.parse({ name: 'main-pooler', url: b.url({ ...user, database: 'pgbouncer' }) }));
  clients.push(client);
  const e = createPgBouncerEnricher(pgbouncerSettingsSchema.parse({}), {
    clients: new Map([['main-pooler', client]]),
    endpoints: new Map([['main-pooler', `${b.host}:${b.port}`]]),
  });
  const [r] = await runEnrichers(
    [e],
    { group: alertGroup([{ labels: { alertname: 'db_pool_exhausted', service: 'checkout' } }]), logger, now: new Date() },
    { budgetMs: 10_000, defaultTimeoutMs: 10_000 },
  );
  return { ...r!, ev: r!.evidence as unknown as PgBouncerEvidence };
}

beforeAll(async () => {
  pg = await startPostgres();
  await pg.createRole(APP.user, APP.password);
});

afterEach(async () => {
  await releaseAll();
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(bouncers.splice(0).map((b) => b.stop()));
});

afterAll(async () => {
  await pg?.stop();
});

test('a full pool: pool_size named, by how much (clients waiting, the oldest wait) and who waits', async () => {
  const b = await bouncer({ poolMode: 'transaction', databases: { app: { dbname: 'postgres', extra: { pool_size: 2 } } } });
  await pgbouncerPoolFull(b, { url: b.url({ ...APP, database: 'app' }), database: 'app', user: APP.user, holders: 2, waiters: 3, applicationName: 'checkout' });
  const r = await enrich(b);
  expect(r.status).toBe('ok');
  const [pooler] = r.ev.poolers;
  expect(pooler).toMatchObject({ name: 'main-pooler', endpoint: `${b.host}:${b.port}`, reachable: true, poolMode: 'transaction', clientLimitReached: false });
  const pool = pooler!.pools.find((p) => p.database === 'app')!;
  expect(pool).toMatchObject({
    user: APP.user,
    clWaiting: 3,
    svActive: 2,
    servers: 2,
    poolSize: 2,
    saturated: true,
    limit: 'pool_size',
    limitValue: 2,
    waitingByApplication: [{ application: 'checkout', count: 3 }],
  });
  expect(pool.maxWaitMs).toBeGreaterThan(0);
  const text = r.sections.find((s) => s.type === 'text' && s.title === 'saturation');
  expect(text && 'text' in text && text.text).toMatch(
    /^Pool app\/pf_app is full at pool_size 2: 2 server connections, 3 clients waiting \(checkout 3\), the oldest for \d+ ms\.$/,
  );
  expect(r.summary).toBe('main-pooler: 3 clients waiting; app/pf_app at pool_size 2');
});

test('a database at max_db_connections below its pool_size: max_db_connections is named, not pool_size', async () => {
  const b = await bouncer({ poolMode: 'session', databases: { app: { dbname: 'postgres', extra: { pool_size: 10, max_db_connections: 2 } } } });
  await pgbouncerPoolFull(b, { url: b.url({ ...APP, database: 'app' }), database: 'app', user: APP.user, holders: 2, waiters: 2 });
  const r = await enrich(b);
  const pool = r.ev.poolers[0]!.pools.find((p) => p.database === 'app')!;
  expect(pool).toMatchObject({
    poolMode: 'session',
    clWaiting: 2,
    servers: 2,
    poolSize: 10,
    maxDbConnections: 2,
    dbConnections: 2,
    limit: 'max_db_connections',
    limitValue: 2,
  });
});

test('max_client_conn reached: the pooler refuses new clients, and says so', async () => {
  const b = await bouncer({ maxClientConn: 2 });
  const c1 = new Client({ connectionString: b.url({ ...APP }) });
  const c2 = new Client({ connectionString: b.url({ ...APP }) });
  await c1.connect();
  await c2.connect();
  try {
    const r = await enrich(b);
    expect(r.ev.poolers[0]).toMatchObject({ maxClientConn: 2, usedClients: 3, clientLimitReached: true });
    const text = r.sections.find((s) => s.type === 'text' && s.title === 'saturation');
    expect(text && 'text' in text && text.text).toMatch(/^max_client_conn 2 is reached: PgBouncer refuses new clients/);
  } finally {
    await c1.end();
    await c2.end();
  }
});

test('a console that refuses our user is evidence of the failure, not a failed enrichment', async () => {
  const b = await bouncer();
  const r = await enrich(b, APP);
  expect(r.status).toBe('ok');
  expect(r.ev.poolers[0]).toMatchObject({ reachable: false, failure: { kind: 'auth' } });
  expect(r.sections[0]).toMatchObject({ type: 'text', title: 'PgBouncer could not be read (auth)', text: expect.stringMatching(/add it to stats_users/) });
});
