import net from 'node:net';
import type { Client } from 'pg';
import { postgresSourceSchema, sourcesConfigSchema } from '../../src/sources/config';
import { createSourceClients } from '../../src/sources';
import { classifyPgError, createPostgresGuard, PostgresSourceError, type PostgresGuard } from '../../src/sources/postgres';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { until } from '../support/wait';
import { capturingLogger } from '../support/capture';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const never = () => new AbortController().signal;

let pg: TestPostgres;
let admin: Client;
let monitorUrl: string;
const guards: PostgresGuard[] = [];
const servers: net.Server[] = [];
/** Connections our test servers accepted: closing a server leaves them open, so they are destroyed at the end. */
const accepted = new Set<net.Socket>();

function guard(
  over: Record<string, unknown> = {},
  opts: { applicationName?: string; idleCloseMs?: number; logger?: import('pino').Logger } = {},
): PostgresGuard {
  const g = createPostgresGuard(postgresSourceSchema.parse({ name: 'main', url: monitorUrl, ...over }), opts);
  guards.push(g);
  return g;
}

async function ours(app: string): Promise<Array<{ pid: number; state: string; query: string }>> {
  return (await admin.query('SELECT pid, state, query FROM pg_stat_activity WHERE application_name = $1', [app])).rows;
}

function listen(onConn: (s: net.Socket) => void): Promise<{ port: number; accepted: () => number }> {
  let n = 0;
  const srv = net.createServer((s) => {
    n += 1;
    accepted.add(s);
    s.on('close', () => accepted.delete(s));
    s.on('error', () => {});
    onConn(s);
  });
  servers.push(srv);
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve({ port: (srv.address() as net.AddressInfo).port, accepted: () => n })));
}

/** A server speaking just enough of the protocol to refuse like an exhausted PostgreSQL: FATAL 53300 after the startup packet. */
function tooManyClientsServer() {
  return listen((s) => {
    s.once('data', () => {
      const fields = Buffer.concat([
        ...[
          ['S', 'FATAL'],
          ['V', 'FATAL'],
          ['C', '53300'],
          ['M', 'sorry, too many clients already'],
        ].map(([k, v]) => Buffer.from(`${k}${v}\0`)),
        Buffer.from([0]),
      ]);
      const head = Buffer.alloc(5);
      head.write('E', 0);
      head.writeInt32BE(fields.length + 4, 1);
      // a refusing server is slow to answer: concurrent callers queue behind this attempt
      setTimeout(() => s.end(Buffer.concat([head, fields])), 100);
    });
  });
}

async function closedPort(): Promise<number> {
  const { port } = await listen(() => {});
  await new Promise<void>((r) => servers.pop()!.close(() => r()));
  return port;
}

beforeAll(async () => {
  pg = await startPostgres();
  monitorUrl = await pg.createRole('pf_monitor', 'mon-S3cret!', { monitor: true });
  admin = await pg.connect();
});

afterEach(async () => {
  await Promise.all(guards.splice(0).map((g) => g.close()));
});

afterAll(async () => {
  for (const s of accepted) s.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await pg?.stop();
});

test('queries run in a READ ONLY transaction with application_name, statement_timeout and lock_timeout set', async () => {
  const g = guard({ statementTimeoutMs: 2_000, lockTimeoutMs: 500 });
  const row = await g.run(
    async (db) =>
      (
        await db.query<Record<string, string>>(`SELECT current_setting('transaction_read_only') AS ro, current_setting('statement_timeout') AS st,
      current_setting('lock_timeout') AS lt, current_setting('application_name') AS app, current_setting('idle_in_transaction_session_timeout') AS iit`)
      )[0],
    never(),
  );
  expect(row).toEqual({ ro: 'on', st: '2s', lt: '500ms', app: 'pagefirst', iit: '5s' });

  const err = await g.run((db) => db.query('CREATE TABLE pf_write_probe (a int)'), never()).catch((e) => e);
  expect(err).toBeInstanceOf(PostgresSourceError);
  expect(err.sqlstate).toBe('25006'); // read_only_sql_transaction
  expect((await admin.query(`SELECT to_regclass('pf_write_probe') AS t`)).rows[0].t).toBeNull();
  // the session is still usable after the failed statement
  await expect(g.run(async (db) => (await db.query<{ one: number }>('SELECT 1 AS one'))[0]!.one, never())).resolves.toBe(1);
});

test('statement_timeout fires on the server and the session survives', async () => {
  const g = guard({ statementTimeoutMs: 300 });
  const t0 = Date.now();
  const err = await g.run((db) => db.query('SELECT pg_sleep(5)'), never()).catch((e) => e);
  expect(Date.now() - t0).toBeLessThan(1_500);
  expect(err).toMatchObject({ kind: 'timeout', sqlstate: '57014' });
  expect(err.name).toBe('TimeoutError');
  await expect(g.run(async (db) => (await db.query('SELECT 1 AS one')).length, never())).resolves.toBe(1);
});

test('concurrent runs share ONE connection: never two sessions of ours at once', async () => {
  const app = 'pf-share';
  const g = guard({}, { applicationName: app });
  let maxSeen = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      maxSeen = Math.max(maxSeen, (await ours(app)).length);
      await sleep(5);
    }
  })();
  const runs = await Promise.all(
    Array.from({ length: 8 }, () =>
      g.run(
        async (db) =>
          (
            await db.query<{ pid: number; n: number }>(
              `SELECT pg_backend_pid() AS pid, (SELECT count(*)::int FROM pg_stat_activity WHERE application_name = $1) AS n, pg_sleep(0.03)`,
              [app],
            )
          )[0]!,
        never(),
      ),
    ),
  );
  sampling = false;
  await sampler;
  expect(new Set(runs.map((r) => r.pid)).size).toBe(1);
  expect(runs.every((r) => r.n === 1)).toBe(true);
  expect(maxSeen).toBe(1);
});

test('an abort releases the caller at once, cancels the query server-side and keeps the session', async () => {
  const app = 'pf-abort';
  const g = guard({ statementTimeoutMs: 20_000, timeoutMs: 20_000 }, { applicationName: app });
  const pid = await g.run(async (db) => (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'))[0]!.pid, never());
  const ac = new AbortController();
  const running = g.run((db) => db.query('SELECT pg_sleep(10)'), ac.signal);
  await until('the sleep to run', async () => (await ours(app)).some((r) => r.state === 'active' && r.query.includes('pg_sleep(10)')));
  const t0 = Date.now();
  ac.abort(new Error('caller gave up'));
  await expect(running).rejects.toThrow('caller gave up');
  expect(Date.now() - t0).toBeLessThan(2_000); // against a 10 s sleep: released by the abort, not by the query
  await until('the query to be cancelled', async () => (await ours(app)).every((r) => r.state !== 'active'), 1_500);
  const after = await g.run(async (db) => (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'))[0]!.pid, never());
  expect(after).toBe(pid);
  expect(g.state().consecutiveFailures).toBe(0);
});

test("the source's own timeoutMs bounds a run (queueing included): the running one times out, the queued one was busy", async () => {
  const app = 'pf-budget';
  const g = guard({ timeoutMs: 400, statementTimeoutMs: 10_000 }, { applicationName: app });
  const t0 = Date.now();
  const [a, b] = await Promise.allSettled([g.run((db) => db.query('SELECT pg_sleep(3)'), never()), g.run((db) => db.query('SELECT 1'), never())]);
  expect(Date.now() - t0).toBeLessThan(1_200);
  expect(a.status === 'rejected' && a.reason).toMatchObject({ kind: 'timeout' });
  // the second never got our one connection: a limit of ours, not the database's slowness
  expect(b.status === 'rejected' && b.reason).toMatchObject({ kind: 'busy', message: expect.stringContaining('other runs hold it') });
  await until('the query to be cancelled', async () => (await ours(app)).every((r) => r.state !== 'active'), 1_500);
});

test('the circuit breaker opens after breakerThreshold failures, fails fast while open, and recovers', async () => {
  await pg.createRole('pf_flaky', 'right-password');
  const url = pg.url({ user: 'pf_flaky', password: 'wrong-Pa55word', database: 'postgres' });
  const g = guard({ url, breakerThreshold: 2, breakerCooldownMs: 400 });
  for (let i = 0; i < 2; i++) {
    const e = await g.run((db) => db.query('SELECT 1'), never()).catch((x) => x);
    expect(e).toMatchObject({ kind: 'auth', sqlstate: '28P01', refusal: 'auth' });
    expect(e.message).not.toContain('wrong-Pa55word');
  }
  expect(g.state().breaker).toBe('open');
  const t0 = Date.now();
  const open = await g.run((db) => db.query('SELECT 1'), never()).catch((x) => x);
  // circuit_open (not auth) shows no connection was attempted; the time is only a loose sanity bound.
  expect(open).toMatchObject({ kind: 'circuit_open', sqlstate: '28P01', refusal: 'auth' }); // opened by refusals of our login: says so
  expect(Date.now() - t0).toBeLessThan(1_000);
  expect(open.message).toMatch(/last failure auth/);

  await pg.createRole('pf_flaky', 'wrong-Pa55word'); // the database "comes back"
  // the cooldown (400 ms) passes: the breaker lets one attempt through
  await until('the breaker to be half-open', () => g.state().breaker === 'half-open', 3_000, 10);
  await expect(g.run(async (db) => (await db.query('SELECT 1 AS one')).length, never())).resolves.toBe(1);
  expect(g.state()).toMatchObject({ breaker: 'closed', consecutiveFailures: 0 });
});

test('a refused port is unreachable, quickly', async () => {
  const port = await closedPort();
  const g = guard({ url: `postgres://pf_monitor:pw-in-url@127.0.0.1:${port}/postgres` });
  const t0 = Date.now();
  const e = await g.run((db) => db.query('SELECT 1'), never()).catch((x) => x);
  expect(e).toMatchObject({ kind: 'unreachable' });
  expect(e.message).not.toContain('pw-in-url');
  expect(Date.now() - t0).toBeLessThan(1_000);
});

test('a server that accepts but never answers is a timeout within timeoutMs', async () => {
  const { port } = await listen(() => {});
  const g = guard({ url: `postgres://x:y@127.0.0.1:${port}/postgres`, timeoutMs: 300 });
  const t0 = Date.now();
  const e = await g.run((db) => db.query('SELECT 1'), never()).catch((x) => x);
  expect(e).toMatchObject({ kind: 'timeout' });
  expect(Date.now() - t0).toBeLessThan(1_000);
});

test('concurrent runs waiting on a refused connect share its failure instead of retrying', async () => {
  const fake = await tooManyClientsServer();
  const g = guard({ url: `postgres://x:y@127.0.0.1:${fake.port}/postgres`, breakerThreshold: 10 });
  const results = await Promise.allSettled(Array.from({ length: 5 }, () => g.run((db) => db.query('SELECT 1'), never())));
  for (const r of results) expect(r.status === 'rejected' && r.reason).toMatchObject({ kind: 'too_many_clients', sqlstate: '53300' });
  expect(fake.accepted()).toBe(1);
  // a later run tries again
  await g.run((db) => db.query('SELECT 1'), never()).catch(() => {});
  expect(fake.accepted()).toBe(2);
});

test('the connection closes after idleCloseMs without use, and close() ends it', async () => {
  const app = 'pf-idle';
  const g = guard({}, { applicationName: app, idleCloseMs: 150 });
  await g.run((db) => db.query('SELECT 1'), never());
  expect(await ours(app)).toHaveLength(1);
  await until('the idle close', async () => (await ours(app)).length === 0, 1_000);
  expect(g.state().connected).toBe(false);

  const g2 = guard({}, { applicationName: 'pf-close' });
  await g2.run((db) => db.query('SELECT 1'), never());
  expect(await ours('pf-close')).toHaveLength(1);
  await g2.close();
  await until('the close', async () => (await ours('pf-close')).length === 0, 1_000);
  await expect(g2.run((db) => db.query('SELECT 1'), never())).rejects.toThrow('closed');
});

test('classifyPgError: SQLSTATEs, wordings and socket codes', () => {
  expect(classifyPgError({ code: '53300', message: 'sorry, too many clients already' })).toMatchObject({ kind: 'too_many_clients', sqlstate: '53300' });
  expect(classifyPgError({ message: 'remaining connection slots are reserved for rds_reserved' }).kind).toBe('too_many_clients');
  expect(classifyPgError({ code: '28000', message: 'no pg_hba.conf entry' }).kind).toBe('auth');
  expect(classifyPgError({ code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND db' }).kind).toBe('unreachable');
  expect(classifyPgError({ code: '55P03', message: 'canceling statement due to lock timeout' }).kind).toBe('timeout');
  expect(classifyPgError(new Error('Connection terminated due to connection timeout')).kind).toBe('timeout');
  expect(classifyPgError({ code: '42P01', message: 'relation "x" does not exist' })).toMatchObject({ kind: 'error', sqlstate: '42P01' });
  expect(classifyPgError({ message: 'failed for postgres://u:hunter22@db/x' }, 'hunter22').message).not.toContain('hunter22');
});

test('createSourceClients: one shared guard per configured database, configured from sources.postgres, closed by close()', async () => {
  const config = sourcesConfigSchema.parse({
    postgres: [
      { name: 'orders', url: monitorUrl, applicationName: 'pf-clients' },
      { name: 'users', url: monitorUrl, applicationName: 'pf-clients-2' },
    ],
  });
  const clients = createSourceClients(config);
  try {
    expect([...clients.postgres.keys()]).toEqual(['orders', 'users']);
    const g = clients.postgres.get('orders')!;
    expect(clients.postgres.get('orders')).toBe(g);
    await g.run((db) => db.query('SELECT 1'), never());
    expect(await ours('pf-clients')).toHaveLength(1);
  } finally {
    await clients.close();
  }
  await until('close', async () => (await ours('pf-clients')).length === 0, 1_000);
});

/** A TCP proxy to the test server that can swallow CancelRequests (as a broken network path would). */
async function cancelDroppingProxy(target: { host: string; port: number }) {
  const state = { dropCancels: true, cancelsDropped: 0 };
  const { port } = await listen((client) => {
    client.once('data', (first: Buffer) => {
      const isCancel = first.length >= 8 && first.readInt32BE(0) === 16 && first.readInt32BE(4) === 80877102;
      if (isCancel && state.dropCancels) {
        state.cancelsDropped++;
        client.destroy();
        return;
      }
      const up = net.connect(target.port, target.host, () => {
        up.write(first);
        client.pipe(up).pipe(client);
      });
      up.on('error', () => client.destroy());
      client.on('close', () => up.destroy());
      up.on('close', () => client.destroy());
    });
  });
  return { port, state };
}

test('a cancel that does not land: the socket is destroyed and no new connection opens until the orphaned backend has ended', async () => {
  const app = 'pf-orphan';
  const proxy = await cancelDroppingProxy({ host: pg.host, port: pg.port });
  const url = new URL(monitorUrl);
  url.port = String(proxy.port);
  const g = guard({ url: url.toString(), statementTimeoutMs: 2_000, timeoutMs: 10_000 }, { applicationName: app });
  let maxSeen = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      maxSeen = Math.max(maxSeen, (await ours(app)).length);
      await sleep(10);
    }
  })();
  const firstPid = await g.run(async (db) => (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'))[0]!.pid, never());
  const ac = new AbortController();
  const t0 = Date.now();
  const stuck = g.run((db) => db.query('SELECT pg_sleep(5)'), ac.signal);
  await until('the sleep to run', async () => (await ours(app)).some((r) => r.state === 'active' && r.query.includes('pg_sleep(5)')));
  ac.abort(new Error('gave up'));
  await expect(stuck).rejects.toThrow('gave up');
  const next = await g.run(async (db) => (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'))[0]!.pid, never());
  const waited = Date.now() - t0;
  // keep watching until the orphan has ended (its statement_timeout ends it): both sessions must never coexist
  await until('the orphaned backend to end', async () => !(await ours(app)).some((r) => r.pid === firstPid), 10_000);
  sampling = false;
  await sampler;
  expect(proxy.state.cancelsDropped).toBe(1);
  expect(next).not.toBe(firstPid); // a new session: the old one was destroyed
  expect(maxSeen).toBe(1);
  expect(waited).toBeGreaterThanOrEqual(2_000 + 500 - 50); // statement_timeout + QUARANTINE_MARGIN_MS from the query's start
});

test('a backend that ignores its cancel and its statement_timeout (frozen) is ended from our next session', async () => {
  const app = 'pf-frozen';
  const proxy = await cancelDroppingProxy({ host: pg.host, port: pg.port });
  const url = new URL(monitorUrl);
  url.port = String(proxy.port);
  const log = capturingLogger();
  const g = guard({ url: url.toString(), statementTimeoutMs: 1_000, timeoutMs: 10_000 }, { applicationName: app, logger: log.logger });
  const frozenPid = await g.run(async (db) => (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'))[0]!.pid, never());
  const ac = new AbortController();
  const stuck = g.run((db) => db.query('SELECT pg_sleep(30)'), ac.signal);
  await until('the sleep to run', async () => (await ours(app)).some((r) => r.state === 'active' && r.query.includes('pg_sleep(30)')));
  process.kill(frozenPid, 'SIGSTOP'); // stuck for real: neither the cancel nor statement_timeout can end it
  try {
    ac.abort(new Error('gave up'));
    await expect(stuck).rejects.toThrow('gave up');
    const next = await g.run(async (db) => (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'))[0]!.pid, never());
    expect(next).not.toBe(frozenPid);
    // our next session asked the server to end the frozen one
    expect(log.records().some((r) => r.msg === 'ended our own abandoned postgres sessions' && JSON.stringify(r.pids) === JSON.stringify([frozenPid]))).toBe(
      true,
    );
  } finally {
    process.kill(frozenPid, 'SIGCONT');
  }
  // once it can run again it ends at once (terminated), leaving only our current session
  await until('the frozen backend to end', async () => !(await ours(app)).some((r) => r.pid === frozenPid), 5_000);
  expect((await ours(app)).length).toBeLessThanOrEqual(1);
});

test('a BEGIN message that fails after its BEGIN (our session left in a failed transaction block) is rolled back: the next run works on the same session', async () => {
  // Staged with a role whose search_path puts a pg_backend_pid() of ours before pg_catalog's: it
  // raises while a row is in pf_stage.fail_once, so the BEGIN ...; SELECT pg_backend_pid() message
  // fails after BEGIN, as a cancel landing on that message does.
  const url = await pg.createRole('pf_stage_monitor', 'st4ge-Pw', { monitor: true });
  await admin.query('CREATE SCHEMA IF NOT EXISTS pf_stage');
  await admin.query('CREATE TABLE IF NOT EXISTS pf_stage.fail_once (x int)');
  await admin.query('INSERT INTO pf_stage.fail_once VALUES (1)');
  await admin.query(`CREATE OR REPLACE FUNCTION pf_stage.pg_backend_pid() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM pf_stage.fail_once) THEN RAISE EXCEPTION 'staged failure after BEGIN'; END IF;
  RETURN pg_catalog.pg_backend_pid();
END $$`);
  await admin.query('GRANT USAGE ON SCHEMA pf_stage TO pf_stage_monitor; GRANT SELECT ON pf_stage.fail_once TO pf_stage_monitor');
  await admin.query('ALTER ROLE pf_stage_monitor SET search_path = pf_stage, pg_catalog');
  try {
    const app = 'pf-stale-tx';
    const g = guard({ url }, { applicationName: app });
    await expect(g.run((db) => db.query('SELECT 1'), never())).rejects.toMatchObject({ message: expect.stringContaining('staged failure after BEGIN') });
    const [before] = await ours(app);
    await admin.query('DELETE FROM pf_stage.fail_once');
    // the same session (not a new connection), no longer inside the failed block
    const after = await g.run(async (db) => (await db.query<{ pid: number }>('SELECT pg_catalog.pg_backend_pid() AS pid'))[0]!.pid, never());
    expect(after).toBe(before!.pid);
  } finally {
    await admin.query('DROP SCHEMA pf_stage CASCADE');
  }
});
