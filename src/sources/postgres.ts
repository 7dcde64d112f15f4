import net from 'node:net';
import { Client } from 'pg';
import type { Logger } from 'pino';
import type { PostgresSource } from './config';

/**
 * The connection guard for one monitored database. It must never make an exhausted database
 * worse, so:
 * - at most ONE connection per database, ever: concurrent runs queue on a mutex (the wait is
 *   bounded by the caller's signal and the source's `timeoutMs`), opened lazily with pg's
 *   `Client` (never a Pool), closed again after `idleCloseMs` without use;
 * - `application_name`, `statement_timeout`, `lock_timeout` and
 *   `idle_in_transaction_session_timeout` are startup parameters of the session, the connect has
 *   `connectionTimeoutMillis`, and every diagnostic query runs inside `BEGIN READ ONLY`;
 * - an abort sends a protocol CancelRequest for the running query (a cancel packet occupies no
 *   connection slot) and keeps the session; if the cancel does not land within
 *   CANCEL_GRACE_MS the socket is destroyed and no new connection is opened until the orphaned
 *   backend has surely ended (statement_timeout + QUARANTINE_MARGIN_MS), so two backends of
 *   ours never coexist;
 * - a circuit breaker: after `breakerThreshold` failures in a row (connect failures, timeouts,
 *   lost connections; not SQL errors, not the caller's own abort) nothing is tried for
 *   `breakerCooldownMs`; then one trial decides;
 * - callers that were already queued when a connect attempt failed get that failure instead of
 *   a new attempt (one refused attempt answers every concurrent run).
 */

/** How a database could not be queried; mirrors PgDatabaseEvidence['failure']['kind']. */
export type PgFailureKind = 'too_many_clients' | 'auth' | 'unreachable' | 'timeout' | 'circuit_open' | 'error';

/** A failure of the monitored database or of our access to it. Its message never holds the password. */
export class PostgresSourceError extends Error {
  constructor(
    message: string,
    readonly kind: PgFailureKind,
    readonly sqlstate?: string,
  ) {
    super(message);
    this.name = kind === 'timeout' ? 'TimeoutError' : 'PostgresSourceError';
  }
}

/** What a diagnostic function gets: one query at a time on the guarded, read-only session. */
export interface PgSession {
  /** Runs one statement; rejects with a PostgresSourceError (SQL errors keep kind `error` and their sqlstate). */
  query<R = Record<string, unknown>>(text: string, values?: unknown[]): Promise<R[]>;
}

export interface PostgresGuardState {
  connected: boolean;
  breaker: 'closed' | 'open' | 'half-open';
  consecutiveFailures: number;
  /** Callers waiting for the connection. */
  waiting: number;
}

export interface PostgresGuard {
  readonly name: string;
  /**
   * Runs `fn` on the database's single connection inside one
   * `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY` transaction (a consistent snapshot of the
   * statistics views), then commits. Bounded by `signal` and by the source's `timeoutMs`
   * (queueing included). Throws PostgresSourceError (kind too_many_clients / auth / unreachable
   * / timeout / circuit_open / error), or the signal's reason when the caller aborted; after an
   * abort the caller is released at once while the guard cancels the query and cleans up.
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
/** Time for a cancelled or orphaned backend to notice and exit, beyond its statement_timeout. */
export const QUARANTINE_MARGIN_MS = 500;
/** Bound on ROLLBACK/COMMIT/END, which must not wait on the caller's (maybe aborted) signal. */
const HOUSEKEEPING_TIMEOUT_MS = 1_000;
/** Connection parameters we set ourselves; the same keys in the URL would override ours in pg, so they are removed. */
const OWN_PARAMS = ['application_name', 'statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout', 'connect_timeout', 'options'];
/** Prefix of the guard's own statements, so they can be told apart in pg_stat_statements. */
export const STATEMENT_TAG = '/* pagefirst */';
/** PostgreSQL's protocol code of a CancelRequest (protocol.sgml). */
const CANCEL_REQUEST_CODE = 80877102;

/** The password inside a postgres:// URL, decoded, or undefined. */
export function passwordOfUrl(url: string): string | undefined {
  try {
    const p = new URL(url).password;
    return p ? decodeURIComponent(p) : undefined;
  } catch {
    const m = /^postgres(?:ql)?:\/\/[^:/@]*:([^@]*)@/.exec(url);
    return m?.[1] || undefined;
  }
}

/** Removes every form of `password` from `text`. */
export function scrubPassword(text: string, password: string | undefined): string {
  if (!password) return text;
  let out = text;
  for (const form of new Set([password, encodeURIComponent(password)])) out = out.split(form).join('[REDACTED]');
  return out;
}

/**
 * Classifies a pg / socket error: SQLSTATE 53300 or its wordings → too_many_clients,
 * 28P01/28000 → auth, refused / unknown host / unreachable / starting up → unreachable,
 * statement or lock timeout / connect timeout → timeout, anything else → error. The message
 * is cut to one line and scrubbed of `password`.
 */
export function classifyPgError(e: unknown, password?: string): PostgresSourceError {
  if (e instanceof PostgresSourceError) return e;
  const err = (e ?? {}) as { code?: string; message?: string; errno?: string };
  const code = typeof err.code === 'string' ? err.code : undefined;
  const raw = scrubPassword(String(err.message ?? e).split('\n')[0]!, password).slice(0, 300);
  const sqlstate = code && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  if (code === '53300' || /too many clients|remaining connection slots are reserved|too many connections/i.test(raw)) {
    return new PostgresSourceError(raw, 'too_many_clients', sqlstate ?? '53300');
  }
  if (code === '28P01' || code === '28000') return new PostgresSourceError(raw, 'auth', code);
  if (code === '57014' || code === '55P03') return new PostgresSourceError(raw, 'timeout', code);
  if (code && ['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOENT', 'EACCES'].includes(code)) {
    return new PostgresSourceError(`${code}: could not connect`, 'unreachable');
  }
  if (code === '57P03' || code === '57P01' || code === '57P02') return new PostgresSourceError(raw, 'unreachable', code);
  if (code === 'ETIMEDOUT' || /timeout expired|connection timeout|timed out/i.test(raw)) return new PostgresSourceError(raw || 'timeout', 'timeout', sqlstate);
  return new PostgresSourceError(raw || 'unknown error', 'error', sqlstate);
}

/** A FIFO mutex whose waiters leave the queue when their signal aborts. */
class Mutex {
  private locked = false;
  private readonly waiters: Array<{ grant: () => void }> = [];

  get waiting(): number {
    return this.waiters.length;
  }
  get isLocked(): boolean {
    return this.locked;
  }

  tryAcquire(): boolean {
    if (this.locked) return false;
    this.locked = true;
    return true;
  }

  acquire(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (!this.locked) {
      this.locked = true;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next.grant();
    else this.locked = false;
  }
}

interface Conn {
  client: Client;
  broken: boolean;
}

/** Strips our own parameters from the URL so pg cannot let them override ours; leaves unparsable URLs alone. */
function cleanUrl(url: string): string {
  try {
    const u = new URL(url);
    for (const k of OWN_PARAMS) u.searchParams.delete(k);
    return u.toString();
  } catch {
    return url;
  }
}

/** Sends a CancelRequest for `client`'s running query on a new socket (no session, no slot); never throws. */
function sendCancel(client: Client): Promise<void> {
  const c = client as unknown as { processID: number | null; secretKey: number | null; host: string; port: number };
  if (c.processID == null || c.secretKey == null) return Promise.resolve();
  return new Promise((resolve) => {
    const sock = c.host?.startsWith('/') ? net.connect(`${c.host}/.s.PGSQL.${c.port}`) : net.connect(c.port, c.host);
    const done = () => {
      sock.destroy();
      resolve();
    };
    sock.setTimeout(CANCEL_GRACE_MS, done);
    sock.on('error', done);
    sock.on('close', done);
    sock.on('connect', () => {
      const buf = Buffer.alloc(16);
      buf.writeInt32BE(16, 0);
      buf.writeInt32BE(CANCEL_REQUEST_CODE, 4);
      buf.writeInt32BE(c.processID!, 8);
      buf.writeInt32BE(c.secretKey! | 0, 12);
      sock.end(buf);
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
    throw new PostgresSourceError(`not tried: circuit open after ${failures} failures in a row, retry in ${Math.ceil(retryIn / 1000)} s${last}`, 'circuit_open', lastFailure?.sqlstate);
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
    const client = new Client({
      connectionString: url,
      application_name: appName,
      connectionTimeoutMillis: config.timeoutMs,
      statement_timeout: config.statementTimeoutMs,
      lock_timeout: config.lockTimeoutMs,
      // A session of ours left idle inside a transaction is ended by the server itself.
      idle_in_transaction_session_timeout: Math.max(config.statementTimeoutMs * 2, 5_000),
    });
    const c: Conn = { client, broken: false };
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
      throw classifyPgError(e, password);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    log?.debug('postgres connected');
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
        const pid = (c.client as unknown as { processID?: number }).processID;
        if (pid) orphans.add(pid);
        discard(c, 'cancel did not land');
      }, CANCEL_GRACE_MS);
    };
    signal?.addEventListener('abort', stop, { once: true });
    if (timeoutMs !== undefined) hard = setTimeout(stop, timeoutMs);
    try {
      const res = await c.client.query<R & object>({ text, values });
      return res.rows as R[];
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
   * that a new connection never leaves two of ours behind. Matches on pid and our
   * application_name; a role may end its own backends. Failures are logged and retried next time.
   */
  async function reapOrphans(c: Conn, signal: AbortSignal): Promise<void> {
    const pids = [...orphans];
    try {
      const rows = await exec<{ pid: number; ended: boolean }>(
        c,
        `${STATEMENT_TAG} SELECT pid, pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE pid = ANY($1::int[]) AND application_name = $2`,
        [pids, appName],
        signal,
      );
      for (const pid of pids) orphans.delete(pid);
      if (rows.length > 0) log?.warn({ pids: rows.map((r) => r.pid) }, 'ended our own abandoned postgres sessions');
    } catch (e) {
      log?.warn({ error: classifyPgError(e, password).message }, 'could not end our abandoned postgres sessions; trying again next time');
    }
  }

  /** Everything after the lock is ours; resolves/rejects only once the session is clean again. */
  async function session<T>(fn: (db: PgSession) => Promise<T>, signal: AbortSignal, timedOut: () => boolean, failuresAtEnqueue: number): Promise<T> {
    if (closed) throw new PostgresSourceError('closed', 'error');
    // Queued behind an attempt that failed: its failure is ours too (the real kind, even if it opened the breaker).
    if (lastConnectFailure && connectFailures > failuresAtEnqueue) throw lastConnectFailure;
    checkBreaker();
    let c = conn && !conn.broken ? conn : undefined;
    if (!c) {
      try {
        c = await connect(signal);
      } catch (e) {
        const err = signal.aborted ? (timedOut() ? new PostgresSourceError(`could not connect within ${config.timeoutMs} ms`, 'timeout') : undefined) : classifyPgError(e, password);
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
      await exec(cc, `${STATEMENT_TAG} BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`, undefined, signal);
      began = true;
      const result = await fn({ query: <R>(text: string, values?: unknown[]) => exec<R>(cc, text, values, signal) });
      await exec(cc, `${STATEMENT_TAG} COMMIT`, undefined, signal);
      recordSuccess();
      return result;
    } catch (e) {
      if (began && !cc.broken) {
        try {
          await exec(cc, `${STATEMENT_TAG} ROLLBACK`, undefined, undefined, HOUSEKEEPING_TIMEOUT_MS);
        } catch {
          discard(cc, 'rollback failed');
        }
      }
      if (signal.aborted && !timedOut()) throw abortError(signal);
      const err = signal.aborted ? new PostgresSourceError(`no answer within ${config.timeoutMs} ms`, 'timeout') : classifyPgError(e, password);
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
        if (timedOut()) throw new PostgresSourceError(`waited ${config.timeoutMs} ms for the connection (other runs hold it)`, 'timeout');
        throw e;
      }
      clearTimeout(idleTimer);
      const work = session(fn, signal, timedOut, failuresAtEnqueue).finally(() => {
        scheduleIdleClose();
        mutex.release();
      });
      // The caller is released at its abort; `work` keeps the lock until the session is clean.
      work.catch(() => {});
      return new Promise<T>((resolve, reject) => {
        const onAbort = () => {
          reject(timedOut() ? new PostgresSourceError(`no answer within ${config.timeoutMs} ms`, 'timeout') : abortError(callerSignal));
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
      return { connected: !!conn && !conn.broken, breaker: breakerState(), consecutiveFailures: failures, waiting: mutex.waiting };
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
