import net from 'node:net';
import { Client } from 'pg';
import type { Logger } from 'pino';
import type { PostgresSource } from './config';
import { Mutex } from './mutex';
import { cleanUrl, MonitorClient } from './pg-startup';
import { classifyPgError, passwordOfUrl, PostgresSourceError, type PoolerHint } from './postgres-errors';

export { classifyPgError, passwordOfUrl, scrubPassword, PostgresSourceError, REFUSAL_HINTS } from './postgres-errors';
export type { MonitoringRefusal, PgFailureKind, PoolerHint } from './postgres-errors';
export { STARTUP_PARAMETERS } from './pg-startup';

/**
 * The connection guard for one monitored database, reached directly or through a connection
 * pooler (PgBouncer in session or transaction pooling). It must never make an exhausted database
 * worse, so:
 * - at most ONE connection per database, ever: concurrent runs queue on a mutex (the wait is
 *   bounded by the caller's signal and the source's `timeoutMs`), opened lazily with pg's
 *   `Client` (never a Pool), closed again after `idleCloseMs` without use;
 * - the startup packet holds `user`, `database`, `application_name` (and node-postgres' own
 *   `client_encoding`) only, which PgBouncer
 *   accepts (pgbouncer/pgbouncer src/client.c set_startup_options: application_name and the
 *   varcache parameters; anything else is `unsupported startup parameter` unless listed in
 *   ignore_startup_parameters). Our timeouts are set with SET LOCAL inside our own
 *   `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY` transaction, sent as one simple-protocol
 *   message: they hold for the whole transaction on whichever server connection a pooler lends
 *   us (transaction pooling releases it at COMMIT) and never stay behind on a pooled server
 *   connection (SET LOCAL ends with the transaction);
 * - an abort sends a protocol CancelRequest for the running query (a cancel packet occupies no
 *   connection slot; a pooler forwards it to the server connection it lent us) and keeps the
 *   session; if the cancel does not land within CANCEL_GRACE_MS the socket is destroyed and no
 *   new connection is opened until the orphaned backend has surely ended (statement_timeout +
 *   QUARANTINE_MARGIN_MS), so two backends of ours never coexist;
 * - a circuit breaker: after `breakerThreshold` failures in a row (connect failures, timeouts,
 *   lost connections; not SQL errors, not the caller's own abort) nothing is tried for
 *   `breakerCooldownMs`; then one trial decides;
 * - callers that were already queued when a connect attempt failed get that failure instead of
 *   a new attempt (one refused attempt answers every concurrent run).
 *
 * A pooled endpoint is recognised by the cancel key: PostgreSQL's BackendKeyData carries the
 * backend's own pid, PgBouncer gives every client 8 random bytes instead (src/proto.c
 * welcome_client: "give each client its own cancel key"), so the key's pid differs from
 * pg_backend_pid() of the server process that runs our transaction. (Checked on PgBouncer 1.18:
 * `SHOW pool_mode` and `SHOW VERSION` on a pooled database are passed to PostgreSQL, which answers
 * 42704 `unrecognized configuration parameter`, and `server_version` is the server's; only the
 * admin console says `1.18.0/bouncer`. So no probe of ours can name the pooler beyond its
 * errors, and none is sent.)
 */

/** Where our session runs: directly on PostgreSQL or through a pooler. */
export interface PgEndpoint {
  /** pg_backend_pid() of the server process running this transaction (through a pooler: the one lent to us now). */
  backendPid: number | null;
  /** The pid in the endpoint's cancel key (BackendKeyData): the backend's pid on PostgreSQL, a pooler's random number otherwise. */
  keyPid: number | null;
  /** null: direct to PostgreSQL, or not known yet. */
  pooler:
    | null
    | (PoolerHint & {
        /** How we know, in a sentence. */
        evidence: string;
      });
}

/** What a diagnostic function gets: one query at a time on the guarded, read-only session. */
export interface PgSession {
  /** Runs one statement; rejects with a PostgresSourceError (SQL errors keep kind `error` and their sqlstate). */
  query<R = Record<string, unknown>>(text: string, values?: unknown[]): Promise<R[]>;
  /** Where this session runs (direct or pooled), as seen when this transaction began. */
  readonly endpoint: PgEndpoint;
}

export interface PostgresGuardState {
  connected: boolean;
  breaker: 'closed' | 'open' | 'half-open';
  consecutiveFailures: number;
  /** Callers waiting for the connection. */
  waiting: number;
  /** What the last session or refusal showed about the endpoint (pooler or not). */
  endpoint: PgEndpoint;
}

export interface PostgresGuard {
  readonly name: string;
  /**
   * Runs `fn` on the database's single connection inside one
   * `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY` transaction (a consistent snapshot of the
   * statistics views) with statement_timeout, lock_timeout and
   * idle_in_transaction_session_timeout set LOCAL, then commits. Bounded by `signal` and by the
   * source's `timeoutMs` (queueing included). Throws PostgresSourceError (kind too_many_clients /
   * auth / unreachable / timeout / busy / circuit_open / error; `refusal` for a monitoring
   * configuration problem, `pooler` where a pooler answered), or the signal's reason when the
   * caller aborted; after an abort the caller is released at once while the guard cancels the
   * query and cleans up.
   */
  run<T>(fn: (db: PgSession) => Promise<T>, signal: AbortSignal): Promise<T>;
  state(): PostgresGuardState;
  /** Ends the connection and rejects waiters; idempotent. */
  close(): Promise<void>;
}

export interface PostgresGuardOptions {
  logger?: Logger;
  /** Overrides `config.applicationName`. */
  applicationName?: string;
  /** Overrides `config.idleCloseMs`. */
  idleCloseMs?: number;
}

/** Our application_name unless configured otherwise. */
export const DEFAULT_APPLICATION_NAME = 'pagefirst';
/** After an abort, how long the CancelRequest gets before the socket is destroyed. */
export const CANCEL_GRACE_MS = 1_000;
/** How long a cancel's own socket waits for the server or pooler to close it (it holds no session slot). */
export const CANCEL_SOCKET_WAIT_MS = 10_000;
/** Time for a cancelled or orphaned backend to notice and exit, beyond its statement_timeout. */
export const QUARANTINE_MARGIN_MS = 500;
/** SQLSTATE in_failed_sql_transaction (PostgreSQL docs, Appendix A, class 25). */
const IN_FAILED_SQL_TRANSACTION = '25P02';
/** Bound on ROLLBACK/COMMIT/END, which must not wait on the caller's (maybe aborted) signal. */
const HOUSEKEEPING_TIMEOUT_MS = 1_000;
/** Prefix of the guard's own statements, so they can be told apart in pg_stat_statements. */
export const STATEMENT_TAG = '/* pagefirst */';
/** PostgreSQL's protocol code of a CancelRequest (protocol.sgml). */
const CANCEL_REQUEST_CODE = 80877102;
/**
 * The largest pid Linux can hand out (PID_MAX_LIMIT, 4194304 on 64-bit: linux include/linux/threads.h).
 * A cancel key whose pid is outside 1..PID_MAX_LIMIT cannot be a PostgreSQL backend's on Linux:
 * before our first transaction has told us the backend's pid, that says "probably a pooler".
 */
export const PID_MAX_LIMIT = 4_194_304;

/** The SQL that opens each run's transaction: read-only snapshot, our timeouts LOCAL, and the backend's pid. */
export function beginStatement(t: { statementTimeoutMs: number; lockTimeoutMs: number; idleInTransactionTimeoutMs: number }): string {
  const int = (v: number) => String(Math.max(1, Math.floor(v)));
  return [
    `${STATEMENT_TAG} BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`,
    `SET LOCAL statement_timeout = ${int(t.statementTimeoutMs)}`,
    `SET LOCAL lock_timeout = ${int(t.lockTimeoutMs)}`,
    `SET LOCAL idle_in_transaction_session_timeout = ${int(t.idleInTransactionTimeoutMs)}`,
    'SELECT pg_backend_pid() AS pid',
  ].join('; ');
}

interface Conn {
  client: MonitorClient;
  broken: boolean;
  /** The pid in the cancel key the endpoint gave us. */
  keyPid: number | null;
  /** pg_backend_pid() in the current (or last) transaction. */
  backendPid: number | null;
}

/**
 * Sends a CancelRequest for `client`'s running query on a new socket (no session, no slot), then
 * waits for the other side to close it, as libpq does (postgres/postgres
 * src/interfaces/libpq/fe-connect.c internal_cancel: "Wait for the postmaster to close the
 * connection, which indicates that it's processed the request"). Closing our end first is not
 * only impolite: PgBouncer 1.18 exits with `FATAL ... disconnect_client(): bad client state: 0`
 * when a cancel client goes away while its request is still being forwarded
 * (pgbouncer/pgbouncer#801, fixed by #846; reproduced here with Debian's 1.18). Bounded by
 * CANCEL_SOCKET_WAIT_MS; never throws.
 */
function sendCancel(client: Client): Promise<void> {
  const c = client as unknown as { processID: number | null; secretKey: number | null; host: string; port: number };
  if (c.processID == null || c.secretKey == null) return Promise.resolve();
  return new Promise((resolve) => {
    const sock = c.host?.startsWith('/') ? net.connect(`${c.host}/.s.PGSQL.${c.port}`) : net.connect(c.port, c.host);
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve();
    };
    const timer = setTimeout(done, CANCEL_SOCKET_WAIT_MS);
    timer.unref();
    sock.on('error', done);
    sock.on('close', done);
    sock.on('end', done); // the server (or pooler) closed: the request is processed
    sock.on('data', () => {}); // none is expected; read until EOF
    sock.on('connect', () => {
      const buf = Buffer.alloc(16);
      buf.writeInt32BE(16, 0);
      buf.writeInt32BE(CANCEL_REQUEST_CODE, 4);
      buf.writeInt32BE(c.processID!, 8);
      buf.writeInt32BE(c.secretKey! | 0, 12);
      sock.write(buf);
    });
  });
}

function destroySocket(client: Client): void {
  const stream = (client as unknown as { connection?: { stream?: { destroy(e?: Error): void } } }).connection?.stream;
  stream?.destroy();
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('aborted');
}

/** Creates the guard for one `sources.postgres[]` entry. Opens nothing until the first `run`. */
export function createPostgresGuard(config: PostgresSource, opts: PostgresGuardOptions = {}): PostgresGuard {
  const password = passwordOfUrl(config.url);
  const url = cleanUrl(config.url);
  const appName = opts.applicationName ?? config.applicationName ?? DEFAULT_APPLICATION_NAME;
  const idleCloseMs = opts.idleCloseMs ?? config.idleCloseMs ?? 10_000;
  const log = opts.logger?.child({ database: config.name });
  const mutex = new Mutex();
  const begin = beginStatement({
    statementTimeoutMs: config.statementTimeoutMs,
    lockTimeoutMs: config.lockTimeoutMs,
    // A session of ours left idle inside a transaction is ended by the server itself.
    idleInTransactionTimeoutMs: Math.max(config.statementTimeoutMs * 2, 5_000),
  });
  /** What we know about the endpoint, kept across connections (a pooler stays a pooler). */
  let endpoint: PgEndpoint = { backendPid: null, keyPid: null, pooler: null };

  let conn: Conn | undefined;
  let closed = false;
  let idleTimer: NodeJS.Timeout | undefined;
  let quarantineUntil = 0;
  /** Backend pids of sessions we abandoned without a confirmed end: ended from our next session. */
  const orphans = new Set<number>();
  let failures = 0;
  let openedAt: number | undefined;
  let lastFailure: PostgresSourceError | undefined;
  let lastConnectFailure: PostgresSourceError | undefined;
  /** Connect failures so far: a caller that saw fewer when it queued shares the newest one. */
  let connectFailures = 0;

  const breakerState = (): PostgresGuardState['breaker'] => {
    if (failures < config.breakerThreshold || openedAt === undefined) return 'closed';
    return Date.now() - openedAt < config.breakerCooldownMs ? 'open' : 'half-open';
  };

  function checkBreaker(): void {
    if (breakerState() !== 'open') return;
    const retryIn = Math.max(0, config.breakerCooldownMs - (Date.now() - openedAt!));
    const last = lastFailure ? `; last failure ${lastFailure.kind}: ${lastFailure.message}` : '';
    // the last failure's refusal and pooler travel along: a breaker opened by refusals of our login says nothing about the database
    throw new PostgresSourceError(
      `not tried: circuit open after ${failures} failures in a row, retry in ${Math.ceil(retryIn / 1000)} s${last}`,
      'circuit_open',
      lastFailure?.sqlstate,
      lastFailure?.refusal,
      lastFailure?.pooler,
    );
  }

  function recordFailure(e: PostgresSourceError): void {
    failures += 1;
    lastFailure = e;
    if (failures >= config.breakerThreshold) {
      if (breakerState() !== 'open') log?.warn({ failures, kind: e.kind, cooldownMs: config.breakerCooldownMs }, 'postgres circuit opened');
      openedAt = Date.now();
    }
  }

  function recordSuccess(): void {
    if (failures >= config.breakerThreshold) log?.info('postgres circuit closed');
    failures = 0;
    openedAt = undefined;
  }

  /**
   * Our budget ran out. Before BEGIN had answered, through a pooler, we were most likely queued
   * for a server connection (PgBouncer holds a client's query until a server is free, up to
   * query_wait_timeout: doc/config.md): that is the pooler's saturation, not a silent database.
   */
  function timeoutError(began: boolean): PostgresSourceError {
    if (!began && endpoint.pooler) {
      const who = endpoint.pooler.kind === 'pgbouncer' ? 'PgBouncer' : 'the connection pooler in front of the database';
      return new PostgresSourceError(
        `no answer within ${config.timeoutMs} ms: our first statement waited at ${who} for a server connection, so its pool is likely full; this alone does not say the database is down`,
        'timeout',
        undefined,
        undefined,
        { kind: endpoint.pooler.kind, limit: 'queue' },
      );
    }
    return new PostgresSourceError(`no answer within ${config.timeoutMs} ms`, 'timeout');
  }

  /** Records that a pooler sits in front; the first evidence names it, PgBouncer's own wording wins over "unknown". */
  function notePooler(hint: PoolerHint, evidence: string): void {
    if (endpoint.pooler && !(endpoint.pooler.kind === 'unknown' && hint.kind === 'pgbouncer')) return;
    endpoint = { ...endpoint, pooler: { kind: hint.kind, evidence } };
    log?.info({ pooler: hint.kind }, 'the postgres endpoint is a connection pooler');
  }

  /** After BEGIN: the server's pid against the cancel key's says whether something stands between. */
  function noteBackend(c: Conn, backendPid: number | null): void {
    c.backendPid = backendPid;
    endpoint = { ...endpoint, backendPid, keyPid: c.keyPid };
    if (backendPid === null || c.keyPid === null) return;
    if (backendPid !== c.keyPid) {
      const evidence = `our transaction runs in server process ${backendPid}, but the endpoint's cancel key names process ${c.keyPid}: a connection pooler (PgBouncer or similar) hands out its own keys`;
      if (!endpoint.pooler) notePooler({ kind: 'unknown' }, evidence);
      else if (endpoint.pooler.kind === 'unknown') endpoint = { ...endpoint, pooler: { kind: 'unknown', evidence } }; // certain now, not a guess from the key's range
    } else if (endpoint.pooler?.kind === 'unknown') {
      endpoint = { ...endpoint, pooler: null }; // the provisional guess was wrong: the key is the backend's
    }
  }

  function discard(c: Conn, reason: string): void {
    c.broken = true;
    if (conn === c) conn = undefined;
    destroySocket(c.client);
    c.client.end().catch(() => {});
    log?.debug({ reason }, 'postgres connection discarded');
  }

  async function endConn(c: Conn): Promise<void> {
    if (conn === c) conn = undefined;
    if (c.broken) return;
    c.broken = true;
    const t = setTimeout(() => destroySocket(c.client), HOUSEKEEPING_TIMEOUT_MS);
    try {
      await c.client.end();
    } catch {
      destroySocket(c.client);
    } finally {
      clearTimeout(t);
    }
  }

  async function connect(signal: AbortSignal): Promise<Conn> {
    const wait = quarantineUntil - Date.now();
    if (wait > 0) {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        }, wait);
        const onAbort = () => {
          clearTimeout(t);
          reject(abortError(signal));
        };
        signal.addEventListener('abort', onAbort, { once: true });
      });
    }
    // No server-side timeouts here: they would be startup parameters, which a pooler refuses (see the top).
    const client = new MonitorClient({ connectionString: url, application_name: appName, connectionTimeoutMillis: config.timeoutMs });
    const c: Conn = { client, broken: false, keyPid: null, backendPid: null };
    client.on('error', (e) => {
      if (!c.broken) discard(c, `connection error: ${classifyPgError(e, password).message}`);
    });
    const onAbort = () => destroySocket(client);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await client.connect();
    } catch (e) {
      c.broken = true;
      client.end().catch(() => {});
      if (signal.aborted) throw abortError(signal);
      const err = classifyPgError(e, password);
      if (err.pooler) notePooler(err.pooler, `it answered with PgBouncer's own wording: "${err.message.slice(0, 120)}"`);
      throw err;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    c.keyPid = (client as unknown as { processID: number | null }).processID ?? null;
    endpoint = { ...endpoint, keyPid: c.keyPid, backendPid: null };
    if (!endpoint.pooler && c.keyPid !== null && (c.keyPid < 1 || c.keyPid > PID_MAX_LIMIT)) {
      // Provisional: the first transaction compares it with the backend's real pid.
      notePooler(
        { kind: 'unknown' },
        `its cancel key names process ${c.keyPid}, which no Linux process can have (pids go up to ${PID_MAX_LIMIT}): a pooler's key, not PostgreSQL's`,
      );
    }
    log?.debug({ keyPid: c.keyPid }, 'postgres connected');
    return c;
  }

  /** One statement; an abort cancels it server-side, then destroys the socket if the cancel does not land. */
  async function exec<R>(c: Conn, text: string, values: unknown[] | undefined, signal: AbortSignal | undefined, timeoutMs?: number): Promise<R[]> {
    if (signal?.aborted) throw abortError(signal);
    if (c.broken) throw new PostgresSourceError('connection lost', 'error');
    let grace: NodeJS.Timeout | undefined;
    let hard: NodeJS.Timeout | undefined;
    let destroyed = false;
    const startedAt = Date.now();
    const stop = () => {
      void sendCancel(c.client);
      grace = setTimeout(() => {
        destroyed = true;
        // The backend may still run the statement until its statement_timeout: no new connection before then.
        quarantineUntil = Math.max(quarantineUntil, startedAt + config.statementTimeoutMs + QUARANTINE_MARGIN_MS);
        // and if it is still there when we are back (stuck, frozen), the next session ends it
        // the server process running our statement (through a pooler, the key's pid is no process at all)
        if (c.backendPid) orphans.add(c.backendPid);
        discard(c, 'cancel did not land');
      }, CANCEL_GRACE_MS);
    };
    signal?.addEventListener('abort', stop, { once: true });
    if (timeoutMs !== undefined) hard = setTimeout(stop, timeoutMs);
    try {
      const res = (await c.client.query<R & object>({ text, values })) as unknown as { rows: R[] } | Array<{ rows: R[] }>;
      // Several statements in one simple-protocol message (BEGIN ...; SET LOCAL ...; SELECT ...) answer with one result each: the last one's rows.
      return Array.isArray(res) ? (res[res.length - 1]?.rows ?? []) : res.rows;
    } catch (e) {
      if (destroyed) c.broken = true;
      const err = classifyPgError(e, password);
      if (!(e as { code?: string }).code || /terminated|ended/i.test(err.message)) {
        // Not a server ErrorResponse: the connection itself is gone.
        if (!c.broken) discard(c, err.message);
        c.broken = true;
      }
      throw err;
    } finally {
      clearTimeout(grace);
      clearTimeout(hard);
      signal?.removeEventListener('abort', stop);
    }
  }

  function scheduleIdleClose(): void {
    clearTimeout(idleTimer);
    if (!conn || closed) return;
    idleTimer = setTimeout(() => {
      if (!conn || !mutex.tryAcquire()) return;
      const c = conn;
      void endConn(c).finally(() => {
        log?.debug('postgres connection closed after idle');
        mutex.release();
      });
    }, idleCloseMs);
    idleTimer.unref();
  }

  /**
   * Ends our own abandoned sessions that are still alive (a backend that ignored its cancel), so
   * that a new connection never leaves two of ours behind. Matches on the server pid that ran our
   * statement (pg_backend_pid(), also behind a pooler), our application_name and a state other
   * than idle (a pooler's idle server connection last lent to us is no orphan); a role may end
   * its own backends. Runs in a transaction of its own under our timeouts. Failures are logged
   * and retried next time.
   */
  async function reapOrphans(c: Conn, signal: AbortSignal): Promise<void> {
    const pids = [...orphans];
    try {
      try {
        await exec(c, begin, undefined, signal);
        const rows = await exec<{ pid: number; ended: boolean }>(
          c,
          `${STATEMENT_TAG} SELECT pid, pg_terminate_backend(pid) AS ended FROM pg_stat_activity
WHERE pid = ANY($1::int[]) AND pid <> pg_backend_pid() AND application_name = $2 AND state IS DISTINCT FROM 'idle'`,
          [pids, appName],
          signal,
        );
        await exec(c, `${STATEMENT_TAG} COMMIT`, undefined, signal);
        for (const pid of pids) orphans.delete(pid);
        if (rows.length > 0) log?.warn({ pids: rows.map((r) => r.pid) }, 'ended our own abandoned postgres sessions');
      } catch (e) {
        await exec(c, `${STATEMENT_TAG} ROLLBACK`, undefined, undefined, HOUSEKEEPING_TIMEOUT_MS).catch(() => discard(c, 'rollback failed'));
        throw e;
      }
    } catch (e) {
      log?.warn({ error: classifyPgError(e, password).message }, 'could not end our abandoned postgres sessions; trying again next time');
    }
  }

  /** Everything after the lock is ours; resolves/rejects only once the session is clean again. */
  async function session<T>(
    fn: (db: PgSession) => Promise<T>,
    signal: AbortSignal,
    timedOut: () => boolean,
    failuresAtEnqueue: number,
    progress: { began: boolean },
  ): Promise<T> {
    if (closed) throw new PostgresSourceError('closed', 'error');
    // Queued behind an attempt that failed: its failure is ours too (the real kind, even if it opened the breaker).
    if (lastConnectFailure && connectFailures > failuresAtEnqueue) throw lastConnectFailure;
    checkBreaker();
    let c = conn && !conn.broken ? conn : undefined;
    if (!c) {
      try {
        c = await connect(signal);
      } catch (e) {
        const err = signal.aborted
          ? timedOut()
            ? new PostgresSourceError(`could not connect within ${config.timeoutMs} ms`, 'timeout')
            : undefined
          : classifyPgError(e, password);
        if (!err) throw e;
        lastConnectFailure = err;
        connectFailures += 1;
        recordFailure(err);
        log?.warn({ kind: err.kind, sqlstate: err.sqlstate, error: err.message }, 'postgres connect failed');
        throw err;
      }
      if (closed) {
        await endConn(c);
        throw new PostgresSourceError('closed', 'error');
      }
      conn = c;
      if (orphans.size > 0) await reapOrphans(c, signal);
    }
    const cc = c;
    let began = false;
    try {
      // One simple-protocol message (no values): a pooler lends us a server for all of it, and the pid tells who that is.
      let row: { pid: number } | undefined;
      try {
        [row] = await exec<{ pid: number }>(cc, begin, undefined, signal);
      } catch (e) {
        // 25P02: the session is still inside a failed transaction block (a cancel that landed on an
        // earlier BEGIN message after its answer was given up on). Roll it back and begin once more.
        if (cc.broken || (e as { code?: string }).code !== IN_FAILED_SQL_TRANSACTION) throw e;
        await exec(cc, `${STATEMENT_TAG} ROLLBACK`, undefined, undefined, HOUSEKEEPING_TIMEOUT_MS);
        log?.warn('postgres session was left in a failed transaction; rolled back and began again');
        [row] = await exec<{ pid: number }>(cc, begin, undefined, signal);
      }
      began = true;
      progress.began = true;
      noteBackend(cc, typeof row?.pid === 'number' ? row.pid : null);
      const seen: PgEndpoint = { ...endpoint };
      const result = await fn({ query: <R>(text: string, values?: unknown[]) => exec<R>(cc, text, values, signal), endpoint: seen });
      await exec(cc, `${STATEMENT_TAG} COMMIT`, undefined, signal);
      recordSuccess();
      return result;
    } catch (e) {
      // Also before BEGIN answered: a cancel can land on the BEGIN message and leave its
      // transaction block open and failed (ROLLBACK outside a transaction is only a warning).
      // Not so behind a pooler: unanswered there, we were queued for a server and hold none.
      if (!cc.broken && (began || !endpoint.pooler)) {
        try {
          await exec(cc, `${STATEMENT_TAG} ROLLBACK`, undefined, undefined, HOUSEKEEPING_TIMEOUT_MS);
        } catch {
          discard(cc, 'rollback failed');
        }
      }
      if (signal.aborted && !timedOut()) throw abortError(signal);
      const err = signal.aborted ? timeoutError(began) : classifyPgError(e, password);
      if (err.pooler?.kind === 'pgbouncer') notePooler(err.pooler, `it answered with PgBouncer's own wording: "${err.message.slice(0, 120)}"`);
      if (err.kind !== 'error' || cc.broken) recordFailure(err);
      throw err;
    }
  }

  return {
    name: config.name,

    async run<T>(fn: (db: PgSession) => Promise<T>, callerSignal: AbortSignal): Promise<T> {
      if (callerSignal.aborted) throw abortError(callerSignal);
      const budget = AbortSignal.timeout(config.timeoutMs);
      const signal = AbortSignal.any([callerSignal, budget]);
      const timedOut = () => budget.aborted && !callerSignal.aborted;
      const failuresAtEnqueue = connectFailures;
      checkBreaker();
      try {
        await mutex.acquire(signal);
      } catch (e) {
        if (timedOut()) throw new PostgresSourceError(`waited ${config.timeoutMs} ms for the connection (other runs hold it)`, 'busy');
        throw e;
      }
      clearTimeout(idleTimer);
      const progress = { began: false };
      const work = session(fn, signal, timedOut, failuresAtEnqueue, progress).finally(() => {
        scheduleIdleClose();
        mutex.release();
      });
      // The caller is released at its abort; `work` keeps the lock until the session is clean.
      work.catch(() => {});
      return new Promise<T>((resolve, reject) => {
        const onAbort = () => {
          reject(timedOut() ? timeoutError(progress.began) : abortError(callerSignal));
        };
        if (signal.aborted) onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        work.then(
          (v) => {
            signal.removeEventListener('abort', onAbort);
            resolve(v);
          },
          (e) => {
            signal.removeEventListener('abort', onAbort);
            reject(e);
          },
        );
      });
    },

    state() {
      return { connected: !!conn && !conn.broken, breaker: breakerState(), consecutiveFailures: failures, waiting: mutex.waiting, endpoint: { ...endpoint } };
    },

    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(idleTimer);
      const timeout = AbortSignal.timeout(HOUSEKEEPING_TIMEOUT_MS * 3);
      try {
        await mutex.acquire(timeout);
      } catch {
        if (conn) discard(conn, 'shutdown');
        return;
      }
      try {
        if (conn) await endConn(conn);
      } finally {
        mutex.release();
      }
    },
  };
}
