/**
 * The rules on evidence from the real `postgres` enricher, with the demo backend inducing each
 * scenario on a real PostgreSQL. Pool evidence is read from the backend's own /metrics (no
 * Prometheus here), traffic is a flat fixture: the end-to-end tests cover the whole loop.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { Client } from 'pg';
import type { Enrichment } from '../../src/core/diagnostic';
import type { PoolEvidenceInput } from '../../src/core/evidence';
import { createBackend, type Backend } from '../../demo/backend/app';
import { parseBackendConfig } from '../../demo/backend/config';
import { diagnose } from '../../src/diagnosis';
import { LEAK_IDLE_IN_TX_MIN_MS, LOCK_WAIT_MIN_MS, SLOW_QUERY_MIN_MS } from '../../src/diagnosis/thresholds';
import { createPostgresEnricher } from '../../src/enrichers/postgres/enricher';
import { postgresSettingsSchema } from '../../src/enrichers/postgres/settings';
import { runEnrichers } from '../../src/pipeline/enrich';
import { postgresSourceSchema } from '../../src/sources/config';
import { createPostgresGuard, type PostgresGuard } from '../../src/sources/postgres';
import { startPostgres, type TestPostgres } from '../support/postgres';
import * as f from './fixtures';

const logger = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let pg: TestPostgres;
let admin: Client;
let guard: PostgresGuard;
let backend: Backend;
let url: string;
let tmp: string;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'diagnosis-real-'));
  pg = await startPostgres();
  admin = await pg.connect({ applicationName: 'test-admin' });
  guard = createPostgresGuard(postgresSourceSchema.parse({ name: 'app', url: pg.adminUrl }), { applicationName: 'pagefirst' });
  const config = parseBackendConfig(['--port', '0', '--log-file', path.join(tmp, 'backend.log'), '--leak-interval-ms', '10', '--slow-seconds', '60'], {
    DATABASE_URL: pg.adminUrl,
  });
  backend = createBackend(config, { logger });
  url = await backend.listen();
  await backend.ready();
});

afterAll(async () => {
  await backend?.close();
  await guard?.close();
  await pg?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function poolFromMetrics(): Promise<PoolEvidenceInput> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  const v = (state: string) => Number(text.match(new RegExp(`^db_connection_pool_size\\{state="${state}"\\} (\\S+)$`, 'm'))![1]);
  return f.pool({
    active: v('active'),
    idle: v('idle'),
    total: v('total'),
    available: v('total') - v('active'),
    utilization: v('active') / v('total'),
    activeTrend: 'unknown',
    meanHoldSeconds: null,
    waitingClients: null,
    perInstance: [],
  });
}

async function evidenceNow(): Promise<Enrichment[]> {
  const enricher = createPostgresEnricher(postgresSettingsSchema.parse({}), { guards: new Map([['app', guard]]) });
  const [pgEnrichment] = await runEnrichers([enricher], { group: f.group, logger, now: new Date() }, { budgetMs: 10_000, defaultTimeoutMs: 10_000 });
  expect(pgEnrichment!.status).toBe('ok');
  return [pgEnrichment!, f.enrichment('pool', await poolFromMetrics()), f.enrichment('traffic', f.traffic())];
}

async function induce(name: string, settleMs: number): Promise<void> {
  expect((await fetch(`${url}/scenario/${name}`, { method: 'POST' })).status).toBe(200);
  const end = Date.now() + 5_000;
  while ((await poolFromMetrics()).available! >= 2) {
    if (Date.now() > end) throw new Error(`${name}: the pool did not saturate`);
    await sleep(100);
  }
  await sleep(settleMs);
}

const reset = () => fetch(`${url}/scenario/reset`, { method: 'POST', signal: AbortSignal.timeout(15_000) });
const demoPids = async (where: string) =>
  (await admin.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = 'demo-backend' AND ${where}`)).rows.map((r) => r.pid);

test('leak: connection_leak first, naming the leaked pids and the statements to end them', async () => {
  await induce('leak', LEAK_IDLE_IN_TX_MIN_MS + 300);
  const leaked = await demoPids("state = 'idle in transaction'");
  expect(leaked).toHaveLength(9);
  const causes = diagnose(await evidenceNow(), f.group);
  await reset();
  expect(causes[0]!.id).toBe('connection_leak');
  const named = leaked.filter((pid) => causes[0]!.evidence.join('\n').includes(`pid ${pid} `));
  expect(named.length).toBeGreaterThanOrEqual(5);
  expect(causes[0]!.evidence.join('\n')).toContain('(9 idle in transaction in all)');
  expect(causes[0]!.actions.join('\n')).toContain(`SELECT pg_terminate_backend(${named[0]});`);
  expect(causes.find((c) => c.id === 'lock_contention' || c.id === 'slow_queries')).toBeUndefined();
}, 20_000);

test('slow: slow_queries first, naming the sleeping pids and the query', async () => {
  await induce('slow', SLOW_QUERY_MIN_MS + 300);
  const sleeping = await demoPids("wait_event = 'PgSleep'");
  const causes = diagnose(await evidenceNow(), f.group);
  await reset();
  expect(causes[0]!.id).toBe('slow_queries');
  expect(sleeping.some((pid) => causes[0]!.evidence.join('\n').includes(`pid ${pid} `))).toBe(true);
  expect(causes[0]!.evidence.join('\n')).toMatch(/pg_sleep/);
  expect(causes.find((c) => c.id === 'lock_contention' || c.id === 'connection_leak')).toBeUndefined();
}, 20_000);

test('lock: lock_contention first, naming the blocker, which it would terminate; waiters are not "slow queries"', async () => {
  await induce('lock', LOCK_WAIT_MIN_MS + 300);
  const [holder] = await demoPids("state = 'idle in transaction'");
  const causes = diagnose(await evidenceNow(), f.group);
  await reset();
  expect(causes[0]!.id).toBe('lock_contention');
  expect(causes[0]!.evidence.join('\n')).toMatch(new RegExp(`root blocker on "[^"]+": session pid ${holder} `));
  expect(causes[0]!.evidence.join('\n')).toMatch(/[78] sessions wait on locks/);
  expect(causes[0]!.actions.join('\n')).toContain(`SELECT pg_terminate_backend(${holder});`);
  expect(causes.find((c) => c.id === 'slow_queries')).toBeUndefined();
  expect(causes.find((c) => c.id === 'connection_leak')).toBeUndefined();
}, 20_000);

test('database down: database_unavailable first', async () => {
  const downGuard = createPostgresGuard(
    postgresSourceSchema.parse({ name: 'app', url: `postgres://monitor:x@127.0.0.1:${pg.port + 1}/app`, timeoutMs: 2_000 }),
    { applicationName: 'pagefirst' },
  );
  try {
    const enricher = createPostgresEnricher(postgresSettingsSchema.parse({}), { guards: new Map([['app', downGuard]]) });
    const es = await runEnrichers([enricher], { group: f.group, logger, now: new Date() }, { budgetMs: 5_000, defaultTimeoutMs: 5_000 });
    const causes = diagnose([...es, f.enrichment('pool', f.saturatedPool()), f.enrichment('traffic', f.traffic())], f.group);
    expect(causes[0]!.id).toBe('database_unavailable');
    expect(causes[0]!.evidence.join('\n')).toContain('"app" cannot be reached');
  } finally {
    await downGuard.close();
  }
});
