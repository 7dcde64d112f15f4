import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { Client } from 'pg';
import { createBackend, type Backend } from '../../demo/backend/app';
import { BackendConfigError, parseBackendConfig, safeDatabaseUrl } from '../../demo/backend/config';
import { startPostgres, type TestPostgres } from '../support/postgres';

describe('demo backend configuration', () => {
  test('flags win over the environment; defaults are the runbook backend', () => {
    const c = parseBackendConfig(['--port', '9001', '--scenario=lock'], { DATABASE_URL: 'postgres://u:p@h:5432/d', PORT: '9000', LOG_FILE: '/tmp/x.log' });
    expect(c).toMatchObject({ port: 9001, scenario: 'lock', logFile: '/tmp/x.log', host: '127.0.0.1', poolMax: 10, scenarioConnections: 9 });
    expect(parseBackendConfig(['--pool-max', '4'], { DATABASE_URL: 'postgres://h/d' }).scenarioConnections).toBe(3);
  });

  test('every problem is named at once', () => {
    expect(() => parseBackendConfig(['--bogus', '1', '--scenario', 'nope', '--port'], {})).toThrow(BackendConfigError);
    try {
      parseBackendConfig(['--bogus', '1', '--scenario', 'nope', '--port'], {});
    } catch (e) {
      expect((e as Error).message).toContain('unknown flag --bogus');
      expect((e as Error).message).toContain('--port needs a value');
      expect((e as Error).message).toContain('databaseUrl: required: set DATABASE_URL or --database-url');
      expect((e as Error).message).toContain('scenario');
    }
  });

  test('the database password never reaches a log line', () => {
    expect(safeDatabaseUrl('postgres://app:s3cret@db:5432/app')).toBe('postgres://app:***@db:5432/app');
  });
});

/** Sums of the pool gauge and counters from a /metrics text. */
function scrape(text: string) {
  const value = (re: RegExp) => Number(text.match(re)?.[1] ?? NaN);
  const total = value(/^db_connection_pool_size\{state="total"\} (\S+)$/m);
  const active = value(/^db_connection_pool_size\{state="active"\} (\S+)$/m);
  return {
    total,
    active,
    available: total - active,
    waiting: value(/^db_pool_waiting_clients (\S+)$/m),
    holdCount: value(/^db_connection_hold_seconds_count (\S+)$/m),
    text,
  };
}

describe('demo backend against a real PostgreSQL', () => {
  let pg: TestPostgres;
  let admin: Client;
  let backend: Backend;
  let url: string;
  let tmp: string;
  const logFile = () => path.join(tmp, 'backend.log');

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-backend-'));
    pg = await startPostgres();
    admin = await pg.connect({ applicationName: 'test-admin' });
    const config = parseBackendConfig(
      [
        '--port',
        '0',
        '--log-file',
        logFile(),
        '--query-cost-ms',
        '20',
        '--leak-interval-ms',
        '20',
        '--slow-seconds',
        '30',
        '--traffic-concurrency',
        '30',
        '--acquire-timeout-ms',
        '2000',
      ],
      { DATABASE_URL: pg.adminUrl },
    );
    const logger = pino({ level: 'info' }, pino.destination({ dest: logFile(), sync: true }));
    backend = createBackend(config, { logger });
    url = await backend.listen();
    await backend.ready();
  });

  afterAll(async () => {
    await backend?.close();
    await pg?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const metrics = async () => scrape(await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) })).text());
  const post = (p: string) => fetch(`${url}${p}`, { method: 'POST', signal: AbortSignal.timeout(15_000) });
  async function until<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, ms = 6_000): Promise<T> {
    const end = Date.now() + ms;
    let last: T;
    do {
      last = await probe();
      if (ok(last)) return last;
      await new Promise((r) => setTimeout(r, 100));
    } while (Date.now() < end);
    throw new Error(`${what} not reached within ${ms} ms; last: ${JSON.stringify(last).slice(0, 400)}`);
  }
  const sessions = async () =>
    (
      await admin.query<{ pid: number; state: string; wait_event_type: string | null; wait_event: string | null; query: string; blockers: number[] }>(
        "SELECT pid, state, wait_event_type, wait_event, query, pg_blocking_pids(pid) AS blockers FROM pg_stat_activity WHERE application_name = 'demo-backend'",
      )
    ).rows;
  async function resetAndRecover() {
    expect((await post('/scenario/reset')).status).toBe(200);
    await until('pool recovered', metrics, (m) => m.available >= 2);
    await until('no session idle in transaction', sessions, (s) => s.every((x) => x.state !== 'idle in transaction'));
  }

  test('serves its API and the runbook metrics; binds loopback', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const r = await fetch(`${url}/api/orders?customer=7`);
    expect(r.status).toBe(200);
    expect(((await r.json()) as { orders: unknown[] }).orders.length).toBeGreaterThan(0);
    expect((await fetch(`${url}/api/orders/1`)).status).toBe(200);
    const m = await metrics();
    expect(m.total).toBe(10);
    expect(m.active).toBe(0);
    expect(m.text).toMatch(/^db_connection_pool_size\{state="idle"\} \d+$/m);
    expect(m.text).toMatch(/^http_requests_total\{endpoint="\/api\/orders",method="GET",status="200"\} 1$/m);
    expect(m.text).toMatch(/^http_requests_total\{endpoint="\/api\/orders\/:id",method="GET",status="200"\} 1$/m);
    expect(m.holdCount).toBeGreaterThanOrEqual(2);
    expect(m.text).toMatch(/^db_connection_hold_seconds_sum \S+$/m);
    expect((await post('/scenario/nope')).status).toBe(404);
  });

  test('leak: connections idle in transaction, never released, available < 2 within seconds', async () => {
    const started = Date.now();
    expect((await post('/scenario/leak')).status).toBe(200);
    await until('available < 2', metrics, (m) => m.available < 2, 5_000);
    // /pool (what `npm run demo` waits on, whatever --pool-metrics says) tells the same.
    const p = (await (await fetch(`${url}/pool`, { signal: AbortSignal.timeout(5_000) })).json()) as Record<string, unknown>;
    expect(p).toEqual(expect.objectContaining({ max: 10, metrics: 'runbook' }));
    expect((p.max as number) - ((p.open as number) - (p.idle as number))).toBeLessThan(2);
    expect(Date.now() - started).toBeLessThan(5_000);
    // The pool counts a connection active from checkout; its BEGIN + SELECT land a moment later.
    const s = await until('9 sessions idle in transaction', sessions, (x) => x.filter((y) => y.state === 'idle in transaction').length >= 9);
    const leaked = s.filter((x) => x.state === 'idle in transaction');
    expect(leaked.length).toBe(9);
    expect(leaked[0]!.query).toContain('SELECT id, status FROM orders WHERE customer_id = $1');
    expect(((await (await fetch(`${url}/scenario`)).json()) as { scenario: string }).scenario).toBe('leak');
    await resetAndRecover();
  });

  test('slow: queries sleeping in pg_sleep hold the pool', async () => {
    expect((await post('/scenario/slow')).status).toBe(200);
    await until('available < 2', metrics, (m) => m.available < 2, 5_000);
    const sleeping = await until('9 sleeping queries', sessions, (s) => s.filter((x) => x.state === 'active' && x.wait_event === 'PgSleep').length === 9);
    expect(sleeping.find((x) => x.wait_event === 'PgSleep')!.query).toContain('pg_sleep');
    const t = Date.now();
    await resetAndRecover(); // cancels the sleeps rather than waiting 30 s
    expect(Date.now() - t).toBeLessThan(6_000);
  });

  test('lock: one transaction holds a row lock, the others wait on it', async () => {
    expect((await post('/scenario/lock')).status).toBe(200);
    await until('available < 2', metrics, (m) => m.available < 2, 5_000);
    const s = await until('8 lock waiters', sessions, (x) => x.filter((y) => y.wait_event_type === 'Lock').length === 8);
    const holder = s.find((x) => x.state === 'idle in transaction')!;
    expect(holder.query).toContain('UPDATE orders SET status = $1 WHERE id = $2');
    for (const w of s.filter((x) => x.wait_event_type === 'Lock')) expect(w.blockers.length).toBeGreaterThan(0);
    expect(s.some((x) => x.blockers.includes(holder.pid))).toBe(true);
    await resetAndRecover();
  });

  test('traffic: the load generator saturates the pool with requests to its own API', async () => {
    const before = await metrics();
    const count = (text: string) =>
      [...text.matchAll(/^http_requests_total\{endpoint="\/api\/orders[^}]*status="200"\} (\S+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
    expect((await post('/scenario/traffic')).status).toBe(200);
    const m = await until('available < 2 with requests waiting', metrics, (x) => x.available < 2 && x.waiting > 0, 5_000);
    const after = await until('over 50 more answered /api/orders requests', metrics, (x) => count(x.text) - count(before.text) > 50, 5_000);
    expect(count(after.text) - count(before.text)).toBeGreaterThan(50);
    expect(m.active).toBe(10);
    await resetAndRecover();
  });

  test('database errors are counted and logged to the log file, without the password', async () => {
    const config = parseBackendConfig(['--port', '0', '--acquire-timeout-ms', '1000'], {
      DATABASE_URL: `postgres://app:hunter2secret@127.0.0.1:${await closedPort()}/app`,
    });
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => lines.push(s) });
    const broken = createBackend(config, { logger });
    try {
      const u = await broken.listen();
      const r = await fetch(`${u}/api/orders`);
      expect(r.status).toBe(503);
      expect(await r.json()).toEqual({ error: 'database_error' });
      const text = await (await fetch(`${u}/metrics`)).text();
      expect(text).toMatch(/^db_connection_errors_total\{code="network"\} [1-9]/m);
      expect(text).toMatch(/^http_requests_total\{endpoint="\/api\/orders",method="GET",status="503"\} 1$/m);
      const errors = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'database error');
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.some((l) => /ECONNREFUSED/.test(l.error.message))).toBe(true);
      expect(lines.join('')).not.toContain('hunter2secret');
    } finally {
      await broken.close();
    }
    // The real backend's file has JSON lines too.
    expect(fs.readFileSync(logFile(), 'utf8')).toContain('"msg":"scenario started"');
  });
});

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}
