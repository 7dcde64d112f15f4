import type { Logger } from 'pino';
import type { PgBouncerSource } from './config';
import { Mutex } from './mutex';
import { cleanUrl, MonitorClient } from './pg-startup';
import { classifyPgError, passwordOfUrl, scrubPassword } from './postgres-errors';
import { scalarText } from '../core/text';

/**
 * A client for PgBouncer's admin console (the virtual database `pgbouncer`): read-only SHOW
 * commands, nothing else.
 *
 * The console's rules, from pgbouncer/pgbouncer (tag pgbouncer_1_18_0, the version Debian ships;
 * later columns are read when present):
 * - only users in `admin_users` or `stats_users` may log in; anyone else is disconnected with
 *   FATAL `not allowed` (src/admin.c admin_post_login); stats users may run every SHOW we use;
 * - it speaks the simple query protocol only: a Parse message gets "extended query protocol not
 *   supported by admin console" and the connection is closed (src/admin.c admin_handle_client).
 *   node-postgres sends a simple Query message for `client.query(text)` without values
 *   (pg/lib/query.js requiresPreparation: no values, no name, no rows → `connection.query`), so
 *   `show()` takes no values;
 * - it has no transactions (`BEGIN` is "invalid command", checked on 1.18), so none is opened;
 * - the console is exempt from `max_client_conn` ("don't limit admin db", src/client.c), so this
 *   connection still gets in when PgBouncer refuses every client.
 *
 * At most one connection per PgBouncer: reads queue on a mutex; each reading connects, runs its
 * SHOW commands one after another and disconnects (the console holds no server connection, so
 * keeping it open buys nothing). Every reading is bounded by the caller's AbortSignal and by
 * `timeoutMs` (queueing included); an abort destroys the socket (a console query cannot be
 * cancelled: PgBouncer refuses a CancelRequest for a console client, "cancel request for console
 * client" in src/objects.c).
 */

/** Columns, cited: doc/usage.md "SHOW POOLS" (1.18; `load_balance_hosts` from 1.24, ignored). */
export interface PgBouncerPool {
  database: string;
  user: string;
  /** Client connections linked to a server or idle with no queries waiting. */
  clActive: number;
  /** Client connections that sent queries and have no server connection yet. */
  clWaiting: number;
  /** Server connections linked to a client. */
  svActive: number;
  /** Unused and immediately usable. */
  svIdle: number;
  /** Idle longer than server_check_delay, to be checked before use. */
  svUsed: number;
  /** Running server_reset_query or server_check_query. */
  svTested: number;
  /** Logging in. */
  svLogin: number;
  /** How long the oldest waiting client has waited, ms (maxwait s + maxwait_us). */
  maxWaitMs: number;
  /** `session` | `transaction` | `statement`. */
  poolMode: string | null;
}

/** doc/usage.md "SHOW DATABASES": one configured database entry. */
export interface PgBouncerDatabase {
  name: string;
  host: string | null;
  port: number | null;
  /** The actual database name on the server. */
  database: string | null;
  forceUser: string | null;
  /** Maximum server connections per (database, user) pool. */
  poolSize: number | null;
  minPoolSize: number | null;
  /** `reserve_pool` on 1.18, `reserve_pool_size` from 1.24. */
  reservePool: number | null;
  /** The database's own pool_mode, null when it inherits the global one. */
  poolMode: string | null;
  /** max_db_connections for this database; 0 = unlimited. */
  maxConnections: number | null;
  currentConnections: number | null;
  /** From 1.24 (max_db_client_connections); null before. */
  maxClientConnections: number | null;
  currentClientConnections: number | null;
  paused: boolean;
  disabled: boolean;
}

/** doc/usage.md "SHOW STATS": per database, totals since start and averages of the last stats_period. */
export interface PgBouncerStats {
  database: string;
  totalXactCount: number | null;
  totalQueryCount: number | null;
  /** Microseconds clients waited for a server, in total. */
  totalWaitTimeUs: number | null;
  /** Average transactions per second. */
  avgXactCount: number | null;
  avgQueryCount: number | null;
  /** Average transaction and query duration, microseconds. */
  avgXactTimeUs: number | null;
  avgQueryTimeUs: number | null;
  /** Average time clients waited for a server, microseconds. */
  avgWaitTimeUs: number | null;
}

/** doc/usage.md "SHOW CLIENTS" / "SHOW SERVERS": one connection. */
export interface PgBouncerConnection {
  user: string;
  database: string;
  /** Clients: active | waiting | active_cancel_req | waiting_cancel_req. Servers: active | idle | used | tested | new | active_cancel | being_canceled. */
  state: string;
  addr: string | null;
  port: number | null;
  /** As PgBouncer prints it, e.g. `2026-11-30 16:32:51 UTC`. */
  connectTime: string | null;
  requestTime: string | null;
  /** Clients: how long it has waited for a server, ms (wait + wait_us); 0 for servers. */
  waitMs: number;
  /** Servers: the PostgreSQL backend's pid; clients: the peer's pid over a Unix socket, else 0. */
  remotePid: number | null;
  applicationName: string | null;
}

/** One reading of the console. */
export interface PgBouncerSnapshot {
  /** `SHOW VERSION`, e.g. `PgBouncer 1.18.0`. */
  version: string | null;
  pools: PgBouncerPool[];
  databases: PgBouncerDatabase[];
  stats: PgBouncerStats[];
  /** At most MAX_CONNECTION_ROWS each; `truncated` says when more were there. */
  clients: PgBouncerConnection[];
  servers: PgBouncerConnection[];
  truncated: { clients: number; servers: number };
  /** `SHOW CONFIG`: key -> value (max_client_conn, default_pool_size, pool_mode, max_db_connections, query_wait_timeout, ...). */
  config: Record<string, string>;
  /** `SHOW LISTS`: list -> items (used_clients, used_servers, ...). */
  lists: Record<string, number>;
  /** When the reading started, ISO. */
  takenAt: string;
}

export type PgBouncerFailureKind = 'auth' | 'unreachable' | 'timeout' | 'error';

/** A failure to read the console. Its message never holds the password. */
export class PgBouncerSourceError extends Error {
  constructor(
    message: string,
    readonly kind: PgBouncerFailureKind,
    readonly sqlstate?: string,
  ) {
    super(message);
    this.name = kind === 'timeout' ? 'TimeoutError' : 'PgBouncerSourceError';
  }
}

/** The SHOW commands this client runs (all allowed to stats_users). */
export const SHOW_COMMANDS = ['VERSION', 'POOLS', 'DATABASES', 'STATS', 'CLIENTS', 'SERVERS', 'CONFIG', 'LISTS'] as const;
export type ShowCommand = (typeof SHOW_COMMANDS)[number];

/** How long closing our console connection may take before its socket is destroyed. */
const END_TIMEOUT_MS = 1_000;
/** Rows kept of SHOW CLIENTS / SHOW SERVERS (a busy PgBouncer has thousands of clients; the pools already count them). */
export const MAX_CONNECTION_ROWS = 2_000;

export interface PgBouncerClient {
  readonly name: string;
  /** Runs one SHOW command and returns its raw rows (column names as PgBouncer sends them). */
  show(command: ShowCommand, signal: AbortSignal): Promise<Array<Record<string, unknown>>>;
  /** Runs every SHOW command on one connection and returns them parsed. Throws PgBouncerSourceError or the signal's reason. */
  snapshot(signal: AbortSignal): Promise<PgBouncerSnapshot>;
  /** Aborts what runs and refuses new readings; idempotent. */
  close(): Promise<void>;
}

export interface PgBouncerClientOptions {
  logger?: Logger;
  /** Our application_name (visible in SHOW CLIENTS); default `pagefirst`. */
  applicationName?: string;
}

type Row = Record<string, unknown>;

/** A number from an int4 (number) or int8 (string) column; null when absent or not numeric. */
function num(row: Row, ...names: string[]): number | null {
  for (const n of names) {
    const v = row[n];
    if (v === null || v === undefined || v === '') continue;
    const x = typeof v === 'number' ? v : Number(v);
    if (Number.isFinite(x)) return x;
  }
  return null;
}

function str(row: Row, name: string): string | null {
  const v = row[name];
  return v === null || v === undefined || v === '' ? null : scalarText(v);
}

const ms = (seconds: number | null, micros: number | null) => Math.round((seconds ?? 0) * 1000 + (micros ?? 0) / 1000);

export function parsePool(r: Row): PgBouncerPool {
  return {
    database: scalarText(r.database),
    user: scalarText(r.user),
    clActive: num(r, 'cl_active') ?? 0,
    clWaiting: num(r, 'cl_waiting') ?? 0,
    svActive: num(r, 'sv_active') ?? 0,
    svIdle: num(r, 'sv_idle') ?? 0,
    svUsed: num(r, 'sv_used') ?? 0,
    svTested: num(r, 'sv_tested') ?? 0,
    svLogin: num(r, 'sv_login') ?? 0,
    maxWaitMs: ms(num(r, 'maxwait'), num(r, 'maxwait_us')),
    poolMode: str(r, 'pool_mode'),
  };
}

export function parseDatabase(r: Row): PgBouncerDatabase {
  return {
    name: scalarText(r.name),
    host: str(r, 'host'),
    port: num(r, 'port'),
    database: str(r, 'database'),
    forceUser: str(r, 'force_user'),
    poolSize: num(r, 'pool_size'),
    minPoolSize: num(r, 'min_pool_size'),
    reservePool: num(r, 'reserve_pool', 'reserve_pool_size'),
    poolMode: str(r, 'pool_mode'),
    maxConnections: num(r, 'max_connections'),
    currentConnections: num(r, 'current_connections'),
    maxClientConnections: num(r, 'max_client_connections'),
    currentClientConnections: num(r, 'current_client_connections'),
    paused: num(r, 'paused') === 1,
    disabled: num(r, 'disabled') === 1,
  };
}

export function parseStats(r: Row): PgBouncerStats {
  return {
    database: scalarText(r.database),
    totalXactCount: num(r, 'total_xact_count'),
    totalQueryCount: num(r, 'total_query_count'),
    totalWaitTimeUs: num(r, 'total_wait_time'),
    avgXactCount: num(r, 'avg_xact_count'),
    avgQueryCount: num(r, 'avg_query_count'),
    avgXactTimeUs: num(r, 'avg_xact_time'),
    avgQueryTimeUs: num(r, 'avg_query_time'),
    avgWaitTimeUs: num(r, 'avg_wait_time'),
  };
}

export function parseConnection(r: Row): PgBouncerConnection {
  return {
    user: scalarText(r.user),
    database: scalarText(r.database),
    state: scalarText(r.state),
    addr: str(r, 'addr'),
    port: num(r, 'port'),
    connectTime: str(r, 'connect_time'),
    requestTime: str(r, 'request_time'),
    waitMs: ms(num(r, 'wait'), num(r, 'wait_us')),
    remotePid: num(r, 'remote_pid'),
    applicationName: str(r, 'application_name'),
  };
}

/**
 * What a console error means: `not allowed` is our user missing from admin_users/stats_users, a
 * query error of a non-console database is a URL that does not point at the console.
 */
function consoleError(e: unknown, user: string, password: string | undefined): PgBouncerSourceError {
  const c = classifyPgError(e, password);
  const raw = scrubPassword(String((e as { message?: unknown })?.message ?? e).split('\n')[0]!, password).slice(0, 300);
  if (/^not allowed$/i.test(raw)) {
    return new PgBouncerSourceError(
      `PgBouncer refused user "${user}" on its admin console ("not allowed"): add it to stats_users (read-only SHOW access) or admin_users in pgbouncer.ini, then RELOAD`,
      'auth',
      c.sqlstate,
    );
  }
  if (c.sqlstate === '42704') {
    return new PgBouncerSourceError(
      `this is not PgBouncer's admin console (${raw}): sources.pgbouncer[].url must end in /pgbouncer and point at PgBouncer's port`,
      'error',
      c.sqlstate,
    );
  }
  if (c.refusal === 'database') {
    return new PgBouncerSourceError(
      `no "pgbouncer" database at this address (${raw}): it is not PgBouncer, or not its port; sources.pgbouncer[].url must point at PgBouncer's listen_port`,
      'auth',
      c.sqlstate,
    );
  }
  if (c.kind === 'auth') return new PgBouncerSourceError(`could not log in to PgBouncer's admin console: ${raw}`, 'auth', c.sqlstate);
  if (c.kind === 'unreachable' || c.kind === 'timeout') return new PgBouncerSourceError(c.message, c.kind, c.sqlstate);
  return new PgBouncerSourceError(raw || c.message, 'error', c.sqlstate);
}

function destroySocket(client: MonitorClient): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

/** Creates the client of one `sources.pgbouncer[]` entry. Opens nothing until the first reading. */
export function createPgBouncerClient(config: PgBouncerSource, opts: PgBouncerClientOptions = {}): PgBouncerClient {
  const password = passwordOfUrl(config.url);
  const url = cleanUrl(config.url);
  const user = (() => {
    try {
      return decodeURIComponent(new URL(config.url).username);
    } catch {
      return '';
    }
  })();
  const log = opts.logger?.child({ pgbouncer: config.name });
  const mutex = new Mutex();
  const closing = new AbortController();

  /** One connection for `work`, under the caller's signal and our timeout (queueing included). */
  async function withConsole<T>(signal: AbortSignal, work: (query: (text: string) => Promise<Row[]>) => Promise<T>): Promise<T> {
    const budget = AbortSignal.timeout(config.timeoutMs);
    const all = AbortSignal.any([signal, budget, closing.signal]);
    const timedOut = () => budget.aborted && !signal.aborted;
    const fail = (e: unknown): never => {
      if (timedOut()) throw new PgBouncerSourceError(`PgBouncer's admin console did not answer within ${config.timeoutMs} ms`, 'timeout');
      if (signal.aborted) throw signal.reason;
      if (closing.signal.aborted) throw new PgBouncerSourceError('closed', 'error');
      throw e instanceof PgBouncerSourceError ? e : consoleError(e, user, password);
    };
    try {
      await mutex.acquire(all);
    } catch (e) {
      return fail(e);
    }
    const client = new MonitorClient({
      connectionString: url,
      application_name: opts.applicationName ?? 'pagefirst',
      connectionTimeoutMillis: config.timeoutMs,
    });
    client.on('error', () => {}); // a lost socket also rejects the pending query
    const onAbort = () => destroySocket(client);
    all.addEventListener('abort', onAbort, { once: true });
    try {
      if (all.aborted) return fail(all.reason);
      await client.connect();
      // text only, no values: node-postgres sends a simple Query message, the only kind the console takes
      return await work(async (text) => (await client.query(text)).rows as Row[]);
    } catch (e) {
      return fail(e);
    } finally {
      all.removeEventListener('abort', onAbort);
      // a bounded goodbye: the socket is destroyed if the console does not confirm within END_TIMEOUT_MS
      let t: NodeJS.Timeout | undefined;
      await Promise.race([client.end().catch(() => {}), new Promise<void>((r) => (t = setTimeout(r, END_TIMEOUT_MS)))]);
      clearTimeout(t);
      destroySocket(client);
      mutex.release();
    }
  }

  return {
    name: config.name,

    show(command, signal) {
      if (!SHOW_COMMANDS.includes(command)) return Promise.reject(new PgBouncerSourceError(`not a SHOW command of ours: ${String(command)}`, 'error'));
      return withConsole(signal, (query) => query(`SHOW ${command}`));
    },

    snapshot(signal) {
      const takenAt = new Date().toISOString();
      return withConsole(signal, async (query) => {
        const rows: Partial<Record<ShowCommand, Row[]>> = {};
        for (const c of SHOW_COMMANDS) rows[c] = await query(`SHOW ${c}`);
        const clients = rows.CLIENTS ?? [];
        const servers = rows.SERVERS ?? [];
        const snap: PgBouncerSnapshot = {
          version: str(rows.VERSION?.[0] ?? {}, 'version'),
          pools: (rows.POOLS ?? []).map(parsePool),
          databases: (rows.DATABASES ?? []).map(parseDatabase),
          stats: (rows.STATS ?? []).map(parseStats),
          clients: clients.slice(0, MAX_CONNECTION_ROWS).map(parseConnection),
          servers: servers.slice(0, MAX_CONNECTION_ROWS).map(parseConnection),
          truncated: { clients: Math.max(0, clients.length - MAX_CONNECTION_ROWS), servers: Math.max(0, servers.length - MAX_CONNECTION_ROWS) },
          config: Object.fromEntries((rows.CONFIG ?? []).map((r) => [String(r.key), scalarText(r.value)])),
          lists: Object.fromEntries((rows.LISTS ?? []).map((r) => [String(r.list), num(r, 'items') ?? 0])),
          takenAt,
        };
        log?.debug({ pools: snap.pools.length, clients: clients.length }, 'pgbouncer console read');
        return snap;
      });
    },

    close() {
      closing.abort();
      return Promise.resolve();
    },
  };
}
