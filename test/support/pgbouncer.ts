/**
 * A real PgBouncer for tests (Debian's `pgbouncer` package, 1.18 on these machines; `.ci/run`
 * installs it), in front of a test PostgreSQL (test/support/postgres.ts):
 * - its own temp dir holding `pgbouncer.ini`, the `auth_file`, the `logfile` and the `pidfile`
 *   (and the Unix socket), readable by the OS user it runs as: PgBouncer refuses to run as root,
 *   so as root it runs as `postgres` (else `nobody`), like the test PostgreSQL;
 * - `listen_addr = 127.0.0.1` on a free port (retried when another process took the port);
 * - ready when the admin console answers `SHOW VERSION` as the admin user (a positive signal, no
 *   sleep); stopped by its PID (SIGTERM is PgBouncer's immediate shutdown, SIGKILL after a grace).
 *
 * Every client of PgBouncer authenticates with `auth_type` (scram-sha-256 by default, so a wrong
 * password is refused for real) against the plain-text passwords of `users`; PgBouncer logs in
 * to PostgreSQL as the same user with the same password (auth_file doc: "they are used as the
 * passwords for outgoing connections"), so each user must exist in PostgreSQL with that password
 * (pg.createRole) unless it is the trusted superuser `postgres`.
 *
 * Settings and their meaning: pgbouncer/pgbouncer doc/config.md at tag pgbouncer_1_18_0
 * (pool_mode, default_pool_size, max_client_conn, max_db_connections, query_wait_timeout,
 * reserve_pool_size, admin_users, stats_users, ignore_startup_parameters, auth_type, auth_file).
 * Signals: doc/usage.md ("SIGTERM: immediate shutdown").
 *
 * Usage:
 *   const bouncer = await startPgBouncer(pg, { poolMode: 'transaction', users: { app: 'pw' }, defaultPoolSize: 2 });
 *   const url = bouncer.url({ user: 'app', password: 'pw', database: 'postgres' });
 *   const rows = await bouncer.admin('SHOW POOLS');
 *   afterAll(() => bouncer.stop());
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { freeTcpPort, serverOwner } from '../../demo/postgres';
import type { TestPostgres } from './postgres';

/** Where Debian installs it; PGBOUNCER_BIN overrides. */
export const PGBOUNCER_BIN = process.env.PGBOUNCER_BIN ?? '/usr/sbin/pgbouncer';
/** How long PgBouncer may take until its admin console answers. */
const START_TIMEOUT_MS = 10_000;
/** After SIGTERM this long, SIGKILL. */
const STOP_GRACE_MS = 3_000;
/** The admin user the support code itself uses (readiness, `admin()`). */
export const PGBOUNCER_ADMIN_USER = 'pgb_admin';
const ADMIN_PASSWORD = 'pgb-admin-pw';

export interface StartPgBouncerOptions {
  /** `pool_mode` (default transaction). */
  poolMode?: 'session' | 'transaction';
  /** Users and their plain-text passwords, written to the auth_file (the admin user is added). */
  users?: Record<string, string>;
  /** `default_pool_size` (PgBouncer's default 20). */
  defaultPoolSize?: number;
  /** `max_client_conn` (PgBouncer's default 100). */
  maxClientConn?: number;
  /** `max_db_connections` (default 0: unlimited). */
  maxDbConnections?: number;
  /** `reserve_pool_size` (default 0). */
  reservePoolSize?: number;
  /** `query_wait_timeout`, seconds (PgBouncer's default 120). */
  queryWaitTimeoutS?: number;
  /** Extra `admin_users` beside PGBOUNCER_ADMIN_USER. */
  adminUsers?: string[];
  /** `stats_users`. */
  statsUsers?: string[];
  /** `ignore_startup_parameters`. */
  ignoreStartupParameters?: string[];
  /** `auth_type` (default scram-sha-256). */
  authType?: 'scram-sha-256' | 'md5' | 'plain' | 'trust';
  /**
   * The `[databases]` section: name -> PostgreSQL database (pool_size etc. per database may be
   * appended as `key=value` in `extra`). Default: a fallback `*` entry to the test server.
   */
  databases?: Record<string, { dbname?: string; extra?: Record<string, string | number> }>;
  /** More `[pgbouncer]` settings, written as given. */
  settings?: Record<string, string | number>;
}

export interface TestPgBouncer {
  host: string;
  port: number;
  /** PgBouncer's PID. */
  pid: number;
  /** The temp dir (ini, auth_file, logfile, pidfile). */
  dir: string;
  poolMode: 'session' | 'transaction';
  /** A URL through PgBouncer (database default `postgres`; `pgbouncer` is the admin console). */
  url(opts: { user: string; password?: string; database?: string }): string;
  /** The admin console as the admin user: one query (simple protocol), its rows. */
  admin<R = Record<string, string | null>>(command: string): Promise<R[]>;
  /** The logfile so far. */
  logs(): string;
  /** SIGTERM by PID (SIGKILL after a grace), then removes its temp dir. Idempotent. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running)
    if (c.pid && c.exitCode === null)
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
});

/** `"name" "value"` with doubled quotes (auth_file format, config.md). */
const authLine = (user: string, password: string) => `"${user.replace(/"/g, '""')}" "${password.replace(/"/g, '""')}"`;

function iniValue(v: string | number): string {
  return String(v);
}

/** Starts PgBouncer in front of `pg` as described at the top of this file; throws with its log when it does not come up. */
export async function startPgBouncer(pg: Pick<TestPostgres, 'host' | 'port'>, opts: StartPgBouncerOptions = {}): Promise<TestPgBouncer> {
  if (!fs.existsSync(PGBOUNCER_BIN)) throw new Error(`no PgBouncer at ${PGBOUNCER_BIN}: apt-get install pgbouncer (.ci/run does), or set PGBOUNCER_BIN`);
  const owner = serverOwner();
  const poolMode = opts.poolMode ?? 'transaction';
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pagefirst-pgbouncer-'));
    if (owner) fs.chownSync(dir, owner.uid, owner.gid);
    fs.chmodSync(dir, 0o700);
    const port = await freeTcpPort();
    const users = { ...opts.users, [PGBOUNCER_ADMIN_USER]: ADMIN_PASSWORD };
    const dbs = opts.databases ?? { '*': {} };
    const dbLines = Object.entries(dbs).map(([name, d]) => {
      const parts = [
        `host=${pg.host}`,
        `port=${pg.port}`,
        ...(d.dbname ? [`dbname=${d.dbname}`] : []),
        ...Object.entries(d.extra ?? {}).map(([k, v]) => `${k}=${v}`),
      ];
      return `${name} = ${parts.join(' ')}`;
    });
    const settings: Record<string, string | number> = {
      listen_addr: '127.0.0.1',
      listen_port: port,
      unix_socket_dir: dir,
      logfile: path.join(dir, 'pgbouncer.log'),
      pidfile: path.join(dir, 'pgbouncer.pid'),
      auth_type: opts.authType ?? 'scram-sha-256',
      auth_file: path.join(dir, 'userlist.txt'),
      pool_mode: poolMode,
      admin_users: [PGBOUNCER_ADMIN_USER, ...(opts.adminUsers ?? [])].join(','),
      ...(opts.statsUsers?.length ? { stats_users: opts.statsUsers.join(',') } : {}),
      ...(opts.ignoreStartupParameters?.length ? { ignore_startup_parameters: opts.ignoreStartupParameters.join(',') } : {}),
      ...(opts.defaultPoolSize !== undefined ? { default_pool_size: opts.defaultPoolSize } : {}),
      ...(opts.maxClientConn !== undefined ? { max_client_conn: opts.maxClientConn } : {}),
      ...(opts.maxDbConnections !== undefined ? { max_db_connections: opts.maxDbConnections } : {}),
      ...(opts.reservePoolSize !== undefined ? { reserve_pool_size: opts.reservePoolSize } : {}),
      ...(opts.queryWaitTimeoutS !== undefined ? { query_wait_timeout: opts.queryWaitTimeoutS } : {}),
      // A failed server login is retried after this long (default 15 s): short, so a test's database comes back quickly.
      server_login_retry: 1,
      ...opts.settings,
    };
    const ini = ['[databases]', ...dbLines, '', '[pgbouncer]', ...Object.entries(settings).map(([k, v]) => `${k} = ${iniValue(v)}`), ''].join('\n');
    const iniPath = path.join(dir, 'pgbouncer.ini');
    fs.writeFileSync(iniPath, ini);
    fs.writeFileSync(
      settings.auth_file as string,
      Object.entries(users)
        .map(([u, p]) => authLine(u, p))
        .join('\n') + '\n',
      { mode: 0o600 },
    );
    if (owner) for (const f of fs.readdirSync(dir)) fs.chownSync(path.join(dir, f), owner.uid, owner.gid);

    const child = spawn(PGBOUNCER_BIN, [iniPath], { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir, ...(owner ?? {}) });
    running.add(child);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.once('exit', () => running.delete(child));
    const logs = () => {
      try {
        return fs.readFileSync(settings.logfile as string, 'utf8');
      } catch {
        return stderr;
      }
    };
    const url = (o: { user: string; password?: string; database?: string }) => {
      const u = new URL(`postgres://127.0.0.1:${port}/`);
      u.username = encodeURIComponent(o.user);
      if (o.password) u.password = encodeURIComponent(o.password);
      u.pathname = `/${encodeURIComponent(o.database ?? 'postgres')}`;
      return u.toString();
    };
    const admin = async <R>(command: string): Promise<R[]> => {
      const c = new Client({
        connectionString: url({ user: PGBOUNCER_ADMIN_USER, password: ADMIN_PASSWORD, database: 'pgbouncer' }),
        connectionTimeoutMillis: 2_000,
      });
      c.on('error', () => {});
      await c.connect();
      try {
        return (await c.query(command)).rows as R[];
      } finally {
        await c.end().catch(() => {});
      }
    };
    let stopping: Promise<void> | undefined;
    const stop = () =>
      (stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null && child.pid) {
          try {
            process.kill(child.pid, 'SIGTERM');
          } catch {
            /* gone */
          }
          const t = setTimeout(() => {
            try {
              process.kill(child.pid!, 'SIGKILL');
            } catch {
              /* gone */
            }
          }, STOP_GRACE_MS);
          await exited;
          clearTimeout(t);
        }
        fs.rmSync(dir, { recursive: true, force: true });
      })());

    const deadline = Date.now() + START_TIMEOUT_MS;
    let ready = false;
    while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
      try {
        const rows = await admin<{ version: string }>('SHOW VERSION');
        if (/PgBouncer/i.test(rows[0]?.version ?? '')) {
          ready = true;
          break;
        }
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (ready) return { host: '127.0.0.1', port, pid: child.pid!, dir, poolMode, url, admin, logs, stop };
    const tail = `${logs()}\n${stderr}`.split('\n').slice(-20).join('\n');
    await stop();
    lastError = new Error(`pgbouncer did not start on port ${port}:\n${tail}`);
    if (!/address already in use/i.test(tail)) break;
  }
  throw lastError!;
}
