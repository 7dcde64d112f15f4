import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from 'pg';
import type { Diagnostic } from '../../src/core/diagnostic';
import type { LogsEvidence, PostgresEvidence } from '../../src/core/evidence';
import { auth, testApp } from '../support/app';
import { startPostgres, type TestPostgres } from '../support/postgres';

/**
 * The "done when" for postgres and logs: the real app, configured by YAML-shaped config,
 * `POST /enrich?wait=true` against a real PostgreSQL under the runbook's conditions and a log file.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let pg: TestPostgres;
let dir: string;
let t: Awaited<ReturnType<typeof testApp>>;
let logTimes: string[] = [];
const clients: Client[] = [];
const pids: Record<string, number> = {};
const pending: Array<Promise<unknown>> = [];

beforeAll(async () => {
  pg = await startPostgres();
  const monitorUrl = await pg.createRole('pf_monitor_app', 'Mon1tor-pw', { monitor: true });
  await pg.createRole('pf_shop', 'shop-pw');
  const admin = await pg.connect();
  await admin.query(`CREATE TABLE orders (id int PRIMARY KEY, total int, card text);
    INSERT INTO orders VALUES (7, 100, '4111 1111 1111 1111');
    GRANT ALL ON orders TO pf_shop;`);
  const open = async (app: string) => {
    const c = await pg.connect({ user: 'pf_shop', password: 'shop-pw', applicationName: app });
    clients.push(c);
    pids[app] = (await c.query('SELECT pg_backend_pid() AS p')).rows[0].p;
    return c;
  };
  const leak = await open('leaky');
  await leak.query('BEGIN');
  await leak.query(`UPDATE orders SET total = total + 1 WHERE card = '4111 1111 1111 1111'`);
  const waiter = await open('checkout');
  pending.push(waiter.query('UPDATE orders SET total = 0 WHERE id = 7').catch(() => {}));
  for (let i = 0; i < 100; i++) {
    if ((await admin.query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'`, [pids.checkout])).rowCount) break;
    await sleep(20);
  }
  await admin.end();

  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-app-logs-'));
  const logFile = path.join(dir, 'api.log');
  // recent lines: the logs enricher leaves out what is older than its window before the alert
  const ago = (min: number) => new Date(Date.now() - min * 60_000).toISOString();
  logTimes = [ago(3), ago(2)];
  fs.writeFileSync(
    logFile,
    [
      `${logTimes[0]} ERROR timeout exceeded when trying to connect`,
      `${logTimes[1]} ERROR timeout exceeded when trying to connect`,
      `${ago(1)} INFO GET /health 200`,
    ].join('\n') + '\n',
  );

  t = await testApp(
    {
      sources: { postgres: [{ name: 'orders', url: '${PG_MONITOR_URL}' }], logs: [{ name: 'api', file: { path: logFile } }] },
      routes: [{ match: { alertname: 'db_pool_exhausted' }, enrichers: ['postgres', { name: 'logs', options: { newestLines: 2 } }], notifiers: ['console'] }],
    },
    { PG_MONITOR_URL: monitorUrl },
  );
});

afterAll(async () => {
  await t?.app.close();
  await Promise.all(clients.map((c) => c.end().catch(() => {})));
  await Promise.all(pending);
  await pg?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('POST /enrich?wait=true returns the pids, normalised queries, blocking chain and log signals the test set up', async () => {
  const res = await t.app.inject({
    method: 'POST',
    url: '/enrich?wait=true',
    headers: { ...auth, 'content-type': 'application/json' },
    payload: JSON.stringify({ alert: { labels: { alertname: 'db_pool_exhausted', database: 'orders', service: 'api' } } }),
  });
  expect(res.statusCode).toBe(200);
  const d = res.json<Diagnostic>();
  const pgE = d.enrichments.find((e) => e.enricher === 'postgres')!;
  expect(pgE.status).toBe('ok');
  const db = (pgE.evidence as unknown as PostgresEvidence).databases[0]!;
  expect(db.name).toBe('orders');
  expect(db.idleInTransaction[0]).toMatchObject({ pid: pids.leaky, query: 'UPDATE orders SET total = total + ? WHERE card = ?' });
  expect(db.blockingChains[0]).toMatchObject({ blockerPid: pids.leaky, waitingPids: [pids.checkout] });
  expect(db.byApplication).toMatchObject({ leaky: 1, checkout: 1 });

  const logs = d.enrichments.find((e) => e.enricher === 'logs')!;
  expect(logs.status).toBe('ok');
  const ev = logs.evidence as unknown as LogsEvidence;
  expect(ev.signals.pool_timeout).toBe(2);
  expect(ev.groups[0]).toMatchObject({ count: 2, signal: 'pool_timeout', firstSeen: logTimes[0], lastSeen: logTimes[1] });

  if (process.env.SHOW) console.log(t.console.text());
  const everything = JSON.stringify(d) + t.console.text() + t.log.lines.join('\n');
  expect(everything).not.toContain('4111');
  expect(everything).not.toContain('Mon1tor-pw');
});
