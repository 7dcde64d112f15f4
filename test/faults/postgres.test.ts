import fs from 'node:fs';
import path from 'node:path';
import type { Client } from 'pg';
import type { Diagnostic } from '../../src/core/diagnostic';
import type { PostgresEvidence } from '../../src/core/evidence';
import { auth, testApp } from '../support/app';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { until } from '../support/wait';

/**
 * Issue 7, faults: the monitored database refuses connections (max_connections used up by other
 * sessions), its backend serving our query freezes mid-query (SIGSTOP), and the server is killed
 * mid-query (SIGKILL). Through the real app and a real PostgreSQL: each run completes within its
 * budget with the failure as evidence, never hangs, and the receiver never holds more than one
 * connection (watched in pg_stat_activity by its application_name throughout).
 */

const APP = 'pf-fault-monitor';
const BUDGET_MS = 6_000;
const SOURCE_TIMEOUT_MS = 1_500;

let pg: TestPostgres;
let t: Awaited<ReturnType<typeof testApp>>;
const shop: Client[] = [];
let admin: Client;
let maxOurs = 0;
let watching: NodeJS.Timeout | undefined;
let postmasterPid = 0;

beforeAll(async () => {
  pg = await startPostgres({ maxConnections: 10, settings: { superuser_reserved_connections: 3 } });
  const monitorUrl = await pg.createRole('pf_fault_monitor', 'Fault-pw-1', { monitor: true });
  await pg.createRole('pf_fault_shop', 'shop-pw');
  admin = await pg.connect();
  const dataDir = (await admin.query('SHOW data_directory')).rows[0].data_directory as string;
  postmasterPid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  t = await testApp(
    {
      pipeline: { budgetMs: BUDGET_MS, enricherTimeoutMs: BUDGET_MS - 500 },
      sources: {
        postgres: [
          {
            name: 'orders',
            url: '${PG_URL}',
            timeoutMs: SOURCE_TIMEOUT_MS,
            statementTimeoutMs: 1_000,
            applicationName: APP,
            breakerThreshold: 100,
            breakerCooldownMs: 0,
            idleCloseMs: 60_000,
          },
        ],
      },
      routes: [{ match: { alertname: 'db_pool_exhausted' }, enrichers: ['postgres'], notifiers: ['console'] }],
    },
    { PG_URL: monitorUrl },
  );
  // Watch our sessions the whole time (the superuser connection above is reserved, so it always works).
  const watch = async () => {
    try {
      const r = await admin.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [APP]);
      maxOurs = Math.max(maxOurs, r.rows[0].n as number);
    } catch {
      // the server is gone (last test)
    }
  };
  watching = setInterval(() => void watch(), 25);
}, 60_000);

afterAll(async () => {
  clearInterval(watching);
  await t?.app.close();
  await Promise.all(shop.map((c) => c.end().catch(() => {})));
  await pg?.stop();
});

async function run(): Promise<{ d: Diagnostic; wallMs: number; db: PostgresEvidence['databases'][number] }> {
  const started = Date.now();
  const res = await t.app.inject({
    method: 'POST',
    url: '/enrich?wait=true',
    headers: { ...auth, 'content-type': 'application/json' },
    payload: JSON.stringify({ alert: { labels: { alertname: 'db_pool_exhausted', database: 'orders', n: String(started) } } }),
  });
  expect(res.statusCode).toBe(200);
  const d = res.json<Diagnostic>();
  const e = d.enrichments[0]!;
  expect(e.enricher).toBe('postgres');
  expect(d.notifications).toEqual([{ notifier: 'console', status: 'sent', detail: 'written to stdout' }]);
  const wallMs = Date.now() - started;
  expect(wallMs).toBeLessThan(BUDGET_MS + 2_000);
  return { d, wallMs, db: (e.evidence as unknown as PostgresEvidence).databases[0]! };
}

test('max_connections used up by other sessions: the refusal is the evidence, quickly, with no connection of ours', async () => {
  // fill every slot ordinary roles may use (10 - 3 reserved)
  for (;;) {
    try {
      shop.push(await pg.connect({ user: 'pf_fault_shop', password: 'shop-pw', applicationName: 'shop' }));
    } catch (e) {
      expect((e as Error).message).toMatch(/too many clients|remaining connection slots/);
      break;
    }
    if (shop.length > 10) throw new Error('max_connections not enforced');
  }
  maxOurs = 0;
  const { d, wallMs, db } = await run();
  expect(d.enrichments[0]!.status).toBe('ok');
  expect(db.failure).toMatchObject({ kind: 'too_many_clients', sqlstate: '53300' });
  expect(wallMs).toBeLessThan(SOURCE_TIMEOUT_MS + 1_000);
  expect(d.causes.map((c) => c.id)).toContain('database_connection_limit');
  expect(maxOurs).toBe(0);
  await Promise.all(shop.splice(0).map((c) => c.end()));
});

test('the backend serving our query freezes mid-query (SIGSTOP): timeout as evidence within the budget, one connection at most', async () => {
  maxOurs = 0;
  const first = await run(); // opens our one session (kept for idleCloseMs)
  expect(first.db.failure).toBeNull();
  const ours = await admin.query('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [APP]);
  expect(ours.rows).toHaveLength(1);
  const backend = ours.rows[0].pid as number;
  process.kill(backend, 'SIGSTOP');
  try {
    const { d, db } = await run();
    expect(d.enrichments[0]!.status).toMatch(/ok|timeout/);
    expect(db.failure?.kind).toBe('timeout');
  } finally {
    process.kill(backend, 'SIGCONT');
  }
  expect(maxOurs).toBe(1);
});

/**
 * Bytes that arrived on `pid`'s TCP sockets and wait unread (a stopped process reads nothing): its
 * socket inodes from /proc/<pid>/fd, their rx_queue from /proc/net/tcp and tcp6 (proc(5): column
 * 5 is "tx_queue:rx_queue" in hex, column 10 the inode).
 */
function unreadBytes(pid: number): number {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed while we read the list
    }
  }
  let n = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9 && inodes.has(cols[9]!)) n += parseInt(cols[4]!.split(':')[1]!, 16);
    }
  }
  return n;
}

test('the server is killed mid-query: the run completes with the database unavailable as evidence, and the next one too', async () => {
  maxOurs = 0;
  const warm = await run();
  expect(warm.db.failure).toBeNull();
  const backend = (await admin.query('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [APP])).rows[0].pid as number;
  // freeze our backend so the next query is surely in flight, then kill the whole server under it
  process.kill(backend, 'SIGSTOP');
  expect(unreadBytes(backend)).toBe(0); // what arrives next is the run's query
  const pending = run();
  await until('the query to reach our frozen backend', () => unreadBytes(backend) > 0, 10_000, 10);
  process.kill(postmasterPid, 'SIGKILL');
  process.kill(backend, 'SIGKILL');
  const { d, wallMs, db } = await pending;
  expect(d.enrichments[0]!.status).toMatch(/ok|timeout/);
  expect(db.failure?.kind).toMatch(/unreachable|error|timeout/);
  expect(wallMs).toBeLessThan(SOURCE_TIMEOUT_MS + 1_500);
  // the server stays down: the next run is refused at once, no hang
  const next = await run();
  expect(next.db.failure?.kind).toBe('unreachable');
  expect(next.wallMs).toBeLessThan(SOURCE_TIMEOUT_MS + 500);
  expect(next.d.causes.map((c) => c.id)).toContain('database_unavailable');
  expect(maxOurs).toBeLessThanOrEqual(1);
});
