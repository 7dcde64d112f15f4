/**
 * The monitoring connection through a real PgBouncer (test/support/pgbouncer.ts), in session and
 * transaction pooling, and the refusals of our own connection read as what they are. Field file
 * 08 (test/fixtures/field/08-pgbouncer-monitor-startup-params.json): the monitoring URL points at
 * PgBouncer in transaction mode, which refused the startup parameters node-postgres sent.
 */
import net from 'node:net';
import { Client } from 'pg';
import field08 from '../fixtures/field/08-pgbouncer-monitor-startup-params.json';
import { postgresSourceSchema } from '../../src/sources/config';
import { classifyPgError, createPostgresGuard, STARTUP_PARAMETERS, type PostgresGuard } from '../../src/sources/postgres';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { startPgBouncer, type TestPgBouncer } from '../support/pgbouncer';
import { caught, until } from '../support/wait';

const never = () => new AbortController().signal;
const MONITOR = 'pf_monitor';
const MONITOR_PW = 'mon-S3cret!';

let pg: TestPostgres;
let admin: Client;
const guards: PostgresGuard[] = [];
const clients: Client[] = [];
const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();

function guard(url: string, over: Record<string, unknown> = {}, applicationName = 'pagefirst'): PostgresGuard {
  const g = createPostgresGuard(postgresSourceSchema.parse({ name: 'main', url, ...over }), { applicationName });
  guards.push(g);
  return g;
}

async function client(url: string, applicationName = 'pf-test-other'): Promise<Client> {
  const c = new Client({ connectionString: url, application_name: applicationName, connectionTimeoutMillis: 5_000 });
  c.on('error', () => {});
  clients.push(c);
  await c.connect();
  return c;
}

/** The settings our run sees, the transaction's read-only flag and the endpoint the guard reports. */
const probe = (g: PostgresGuard) =>
  g.run(async (db) => {
    const [row] = await db.query<
      Record<string, string | number>
    >(`SELECT current_setting('transaction_read_only') AS ro, current_setting('statement_timeout') AS st,
      current_setting('lock_timeout') AS lt, current_setting('idle_in_transaction_session_timeout') AS iit, current_setting('application_name') AS app, pg_backend_pid() AS pid`);
    return { row: row!, endpoint: db.endpoint };
  }, never());

beforeAll(async () => {
  pg = await startPostgres();
  await pg.createRole(MONITOR, MONITOR_PW, { monitor: true });
  admin = await pg.connect();
  await admin.query('CREATE TABLE IF NOT EXISTS pf_locked (id int)');
});

afterEach(async () => {
  await Promise.all(guards.splice(0).map((g) => g.close()));
  await Promise.all(clients.splice(0).map((c) => c.end().catch(() => {})));
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await pg?.stop();
});

/** A TCP proxy to PostgreSQL that records the startup packet's parameters of each connection. */
async function startupRecorder(): Promise<{ port: number; packets: Array<Record<string, string>> }> {
  const packets: Array<Record<string, string>> = [];
  const srv = net.createServer((c) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
    c.on('error', () => {});
    c.once('data', (first: Buffer) => {
      // StartupMessage (protocol.sgml): Int32 length, Int32 196608 (3.0), then name\0value\0 pairs, then \0.
      if (first.length >= 8 && first.readInt32BE(4) === 196608) {
        const fields = first.subarray(8, first.readInt32BE(0)).toString('utf8').split('\0');
        const params: Record<string, string> = {};
        for (let i = 0; i + 1 < fields.length && fields[i]; i += 2) params[fields[i]!] = fields[i + 1]!;
        packets.push(params);
      }
      const up = net.connect(pg.port, pg.host, () => {
        up.write(first);
        c.pipe(up).pipe(c);
      });
      up.on('error', () => c.destroy());
      c.on('close', () => up.destroy());
      up.on('close', () => c.destroy());
    });
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return { port: (srv.address() as net.AddressInfo).port, packets };
}

test('the startup packet holds user, database, application_name and client_encoding only, whatever the URL and PGOPTIONS ask for', async () => {
  const rec = await startupRecorder();
  const url = new URL(pg.url({ user: MONITOR, password: MONITOR_PW, database: 'postgres' }));
  url.port = String(rec.port);
  for (const [k, v] of Object.entries({ options: '-c work_mem=64kB', statement_timeout: '99', application_name: 'from-url', replication: 'database' }))
    url.searchParams.set(k, v);
  const before = process.env.PGOPTIONS;
  process.env.PGOPTIONS = '-c search_path=nowhere';
  try {
    const { row } = await probe(guard(url.toString()));
    expect(row).toMatchObject({ ro: 'on', st: '2s', lt: '500ms', iit: '5s', app: 'pagefirst' });
  } finally {
    if (before === undefined) delete process.env.PGOPTIONS;
    else process.env.PGOPTIONS = before;
  }
  expect(rec.packets).toHaveLength(1);
  expect(Object.keys(rec.packets[0]!).sort()).toEqual([...STARTUP_PARAMETERS].sort());
  expect(rec.packets[0]).toEqual({ user: MONITOR, database: 'postgres', application_name: 'pagefirst', client_encoding: 'UTF8' });
});

test('directly on PostgreSQL the endpoint is no pooler: the cancel key is the backend pid', async () => {
  const { row, endpoint } = await probe(guard(pg.url({ user: MONITOR, password: MONITOR_PW, database: 'postgres' })));
  expect(endpoint).toEqual({ backendPid: row.pid, keyPid: row.pid, pooler: null });
});

describe.each(['transaction', 'session'] as const)('through PgBouncer in %s pooling', (poolMode) => {
  let bouncer: TestPgBouncer;
  let url: string;
  let poolOneUrl: string;

  beforeAll(async () => {
    bouncer = await startPgBouncer(pg, {
      poolMode,
      users: { [MONITOR]: MONITOR_PW },
      // `poolone` is `postgres` with a pool of one server connection: the next client gets the same server.
      databases: { poolone: { dbname: 'postgres', extra: { pool_size: 1 } }, '*': {} },
      // field file 08's excerpt: only extra_float_digits is ignored
      ignoreStartupParameters: ['extra_float_digits'],
    });
    url = bouncer.url({ user: MONITOR, password: MONITOR_PW, database: 'postgres' });
    poolOneUrl = bouncer.url({ user: MONITOR, password: MONITOR_PW, database: 'poolone' });
  });
  afterAll(() => bouncer?.stop());

  test("field file 08: node-postgres' startup parameters are refused by PgBouncer, and the refusal is a monitoring configuration problem", async () => {
    const sent = field08.startup_packet_sent_by_node_postgres;
    const old = new Client({
      connectionString: url,
      application_name: sent.application_name,
      statement_timeout: Number(sent.statement_timeout),
      lock_timeout: Number(sent.lock_timeout),
      idle_in_transaction_session_timeout: Number(sent.idle_in_transaction_session_timeout),
    });
    old.on('error', () => {});
    const e = await caught(old.connect());
    // what the field saw is what this PgBouncer answers
    expect({ code: e.code, severity: e.severity, message: e.message }).toEqual({
      code: field08.connect_error.code,
      severity: field08.connect_error.severity,
      message: field08.connect_error.message,
    });
    await until('the PgBouncer log line', () => /WARNING .*unsupported startup parameter: statement_timeout=2000/.test(bouncer.logs()));
    for (const err of [e, field08.connect_error]) {
      const c = classifyPgError(err);
      expect(c).toMatchObject({ kind: 'auth', refusal: 'startup_parameter', sqlstate: '08P01', pooler: { kind: 'pgbouncer' } });
      expect(c.message).toMatch(
        /^monitoring configuration \(startup parameter\): unsupported startup parameter: statement_timeout; .*ignore_startup_parameters/,
      );
    }
  });

  test('our guard works through it unchanged: read-only snapshot, timeouts set LOCAL, application_name, and the pooler is recognised', async () => {
    const g = guard(url);
    const { row, endpoint } = await probe(g);
    expect(row).toMatchObject({ ro: 'on', st: '2s', lt: '500ms', iit: '5s', app: 'pagefirst' });
    expect(endpoint.backendPid).toBe(row.pid);
    expect(endpoint.keyPid).not.toBe(row.pid);
    expect(endpoint.pooler).toMatchObject({ kind: 'unknown', evidence: expect.stringContaining(`server process ${row.pid}`) });
    // the backend pid is a real server process of our role, the key's is not
    const seen = (await admin.query('SELECT pid, usename FROM pg_stat_activity WHERE pid = ANY($1::int[])', [[row.pid, endpoint.keyPid]])).rows;
    expect(seen).toEqual([{ pid: row.pid, usename: MONITOR }]);
    expect(g.state().endpoint.pooler?.kind).toBe('unknown');
  });

  test('the SET LOCAL timeouts end with our transaction: the next client on the same server connection has none of them', async () => {
    const g = guard(poolOneUrl);
    const { endpoint } = await probe(g);
    if (poolMode === 'session') await g.close(); // a session-pooled server returns to the pool when its client leaves
    const other = await client(poolOneUrl);
    const row = (
      await other.query(
        `SELECT pg_backend_pid() AS pid, current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt, current_setting('idle_in_transaction_session_timeout') AS iit, current_setting('transaction_read_only') AS ro`,
      )
    ).rows[0];
    expect(row).toEqual({ pid: endpoint.backendPid, st: '0', lt: '0', iit: '0', ro: 'off' });
  });

  test('statement_timeout and lock_timeout fire on the server through the pooler', async () => {
    const g = guard(url, { statementTimeoutMs: 300, lockTimeoutMs: 200 });
    expect(await caught(g.run((db) => db.query('SELECT pg_sleep(5)'), never()))).toMatchObject({ kind: 'timeout', sqlstate: '57014' });
    const holder = await pg.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE pf_locked IN ACCESS EXCLUSIVE MODE');
      expect(await caught(g.run((db) => db.query('SELECT count(*) FROM pf_locked'), never()))).toMatchObject({ kind: 'timeout', sqlstate: '55P03' });
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    await expect(g.run(async (db) => (await db.query('SELECT 1 AS one')).length, never())).resolves.toBe(1);
  });

  test('an abort cancels the running query on the server through the pooler (it forwards our CancelRequest)', async () => {
    const app = `pf-abort-${poolMode}`;
    const g = guard(url, { statementTimeoutMs: 20_000, timeoutMs: 20_000 }, app);
    const ac = new AbortController();
    const running = g.run((db) => db.query('SELECT pg_sleep(10)'), ac.signal);
    const pid = await until(
      'the sleep to run',
      async () =>
        (await admin.query(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND query LIKE '%pg_sleep(10)%'`, [app])).rows[0]
          ?.pid as number | undefined,
    );
    ac.abort(new Error('caller gave up'));
    await expect(running).rejects.toThrow('caller gave up');
    await until(
      'the query to be cancelled',
      async () => (await admin.query('SELECT state FROM pg_stat_activity WHERE pid = $1', [pid])).rows[0]?.state !== 'active',
      3_000,
    );
    expect(g.state().consecutiveFailures).toBe(0);
    // PgBouncer 1.18 dies when a cancel's client leaves before the request is forwarded (pgbouncer#801): ours waits for its close
    await until(
      "the cancel client's end in PgBouncer's log",
      () => /\(nouser\)@[^ ]+ closing because: successfully sent cancel request/.test(bouncer.logs()),
      3_000,
    );
    expect(bouncer.logs()).not.toMatch(/FATAL/);
    await expect(bouncer.admin('SHOW VERSION')).resolves.toEqual([{ version: expect.stringMatching(/^PgBouncer/) }]);
  });

  test('a wrong password and an unknown database, refused by PgBouncer, are monitoring configuration problems', async () => {
    const wrong = await caught(guard(bouncer.url({ user: MONITOR, password: 'not-it-42', database: 'postgres' })).run((db) => db.query('SELECT 1'), never()));
    expect(wrong).toMatchObject({ kind: 'auth', refusal: 'auth', sqlstate: '08P01', pooler: { kind: 'pgbouncer' } });
    expect(wrong.message).toMatch(/SASL authentication failed/);
    expect(wrong.message).not.toContain('not-it-42');
    const nodb = await caught(
      guard(bouncer.url({ user: MONITOR, password: MONITOR_PW, database: 'pf_no_such_db' })).run((db) => db.query('SELECT 1'), never()),
    );
    expect(nodb).toMatchObject({ kind: 'auth', refusal: 'database', sqlstate: '08P01' });
    expect(nodb.message).toMatch(/database "pf_no_such_db" does not exist/);
  });
});

describe('a full PgBouncer pool', () => {
  let bouncer: TestPgBouncer;
  let holder: Client;

  beforeAll(async () => {
    bouncer = await startPgBouncer(pg, { poolMode: 'transaction', users: { [MONITOR]: MONITOR_PW }, defaultPoolSize: 1, queryWaitTimeoutS: 2 });
  });
  afterAll(() => bouncer?.stop());
  afterEach(async () => {
    await holder?.query('ROLLBACK').catch(() => {});
  });

  /** Another client of the same pool keeps its only server connection inside a transaction. */
  async function fillPool(url: string) {
    holder = await client(url, 'pf-holder');
    await holder.query('BEGIN');
    await holder.query('SELECT 1');
    await until('the pool to be full', async () =>
      (await bouncer.admin<{ database: string; sv_active: number }>('SHOW POOLS')).some((p) => p.database === 'postgres' && Number(p.sv_active) === 1),
    );
  }

  test("our run that waits in its queue times out as the pooler's saturation, not as a silent database", async () => {
    const url = bouncer.url({ user: MONITOR, password: MONITOR_PW, database: 'postgres' });
    const g = guard(url, { timeoutMs: 800 });
    await probe(g); // the pooler is recognised from a good run
    await fillPool(url);
    const e = await caught(g.run((db) => db.query('SELECT 1'), never()));
    expect(e).toMatchObject({ kind: 'timeout', pooler: { kind: 'unknown', limit: 'queue' } });
    expect(e.message).toMatch(/waited at the connection pooler .* for a server connection/);
  });

  test("PgBouncer's query_wait_timeout ends our wait first: that is its limit, named", async () => {
    const url = bouncer.url({ user: MONITOR, password: MONITOR_PW, database: 'postgres' });
    await fillPool(url);
    const g = guard(url, { timeoutMs: 10_000 });
    const e = await caught(g.run((db) => db.query('SELECT 1'), never()));
    expect(e).toMatchObject({ kind: 'timeout', pooler: { kind: 'pgbouncer', limit: 'query_wait_timeout' } });
    expect(g.state().endpoint.pooler?.kind).toBe('pgbouncer');
  });

  test('max_client_conn reached: the refusal names the pooler and its limit', async () => {
    const small = await startPgBouncer(pg, { users: { [MONITOR]: MONITOR_PW }, maxClientConn: 1 });
    try {
      const url = small.url({ user: MONITOR, password: MONITOR_PW, database: 'postgres' });
      await client(url);
      const e = await caught(guard(url).run((db) => db.query('SELECT 1'), never()));
      expect(e).toMatchObject({ pooler: { kind: 'pgbouncer', limit: 'max_client_conn' }, sqlstate: '08P01' });
      expect(e.kind).not.toBe('too_many_clients'); // PgBouncer's limit, not the database's
      expect(e.message).toBe('no more connections allowed (max_client_conn)');
    } finally {
      await Promise.all(clients.splice(0).map((c) => c.end().catch(() => {})));
      await small.stop();
    }
  });
});

describe("refusals of our own connection by PostgreSQL are the monitoring role's configuration", () => {
  const url = (user: string, pw: string, database = 'postgres') => pg.url({ user, password: pw, database });

  test('NOLOGIN, CONNECTION LIMIT, no CONNECT, no such database, wrong password, TLS not offered', async () => {
    await pg.createRole('pf_nologin', 'pw-nologin-1');
    await admin.query('ALTER ROLE pf_nologin NOLOGIN');
    await pg.createRole('pf_limited', 'pw-limited-1');
    await admin.query('ALTER ROLE pf_limited CONNECTION LIMIT 0');
    await pg.createRole('pf_noconnect', 'pw-noconnect-1');
    await admin.query('DROP DATABASE IF EXISTS pf_closed');
    await admin.query('CREATE DATABASE pf_closed');
    await admin.query('REVOKE CONNECT ON DATABASE pf_closed FROM PUBLIC');

    const cases: Array<[string, string, string | undefined]> = [
      [url('pf_nologin', 'pw-nologin-1'), 'role_login', '28000'],
      [url('pf_limited', 'pw-limited-1'), 'role_limit', '53300'],
      [url('pf_noconnect', 'pw-noconnect-1', 'pf_closed'), 'privilege', '42501'],
      [url(MONITOR, MONITOR_PW, 'pf_no_such_db'), 'database', '3D000'],
      [url(MONITOR, 'wrong-pw-77'), 'auth', '28P01'],
      [`${url(MONITOR, MONITOR_PW)}?sslmode=require`, 'tls', undefined],
    ];
    for (const [u, refusal, sqlstate] of cases) {
      const e = await caught(guard(u).run((db) => db.query('SELECT 1'), never()));
      expect({ kind: e.kind, refusal: e.refusal, sqlstate: e.sqlstate }).toEqual({ kind: 'auth', refusal, sqlstate });
      expect(e.message).toMatch(/^monitoring configuration/);
    }
  });
});
