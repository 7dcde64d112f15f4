import { randomUUID } from 'node:crypto';
import { Pool, type PoolClient, type QueryResultRow } from 'pg';
import type { Diagnostic, NotificationStatus } from '../core/diagnostic';
import { migrate } from './pg-migrations';
import { runRecordOf, type RunRow } from './run-row';
import { StoreError, StoreUnavailableError, type AdmitRequest, type AdmitResult, type Claimed, type RunRecord, type RunState, type StateStore } from './types';

export interface PostgresStoreOptions {
  /** `postgres://user:pass@host:5432/db` (libpq URL; `?sslmode=...` etc. as node-postgres reads them). */
  url: string;
  /** Connections at most (the pool is shared by intake, runs and Slack). */
  poolSize: number;
  /** Deadline to get a connection: a new one, or a free one from a busy pool. */
  connectTimeoutMs: number;
  /** `statement_timeout` (and `lock_timeout`) of every statement; the client gives up a little after. */
  statementTimeoutMs: number;
  /** Deadline of the schema migrations at start, including the wait for another replica's. */
  migrationTimeoutMs?: number;
  /** `application_name` of the store's sessions (default `pagefirst-state`). */
  applicationName?: string;
}

/**
 * SQLSTATE classes and codes that mean "the database cannot be reached or cannot serve now": the
 * caller answers 503 and a retry later may succeed. Codes from PostgreSQL's errcodes
 * (https://www.postgresql.org/docs/current/errcodes-appendix.html): class 08 connection
 * exception, 53 insufficient resources (53300 too_many_connections), 57P01 admin_shutdown,
 * 57P02 crash_shutdown, 57P03 cannot_connect_now, 57014 query_canceled (our statement_timeout),
 * 55P03 lock_not_available (our lock_timeout), 25006 read_only_sql_transaction (a standby after failover).
 */
const UNAVAILABLE_CODES = new Set(['57P01', '57P02', '57P03', '57014', '55P03', '25006']);
const UNAVAILABLE_CLASSES = ['08', '53'];
/**
 * Messages of node-postgres and pg-pool for a connection that failed or dropped (they carry no
 * SQLSTATE): pg-pool's 'timeout exceeded when trying to connect' (node_modules/pg-pool/index.js),
 * pg's 'Connection terminated unexpectedly', 'Connection terminated due to connection timeout',
 * 'Query read timeout' (node_modules/pg/lib/client.js), and Node's socket errors by code.
 */
const UNAVAILABLE_MESSAGES =
  /timeout exceeded when trying to connect|Connection terminated|Query read timeout|Client has encountered a connection error|not queryable/i;
const UNAVAILABLE_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

/** True when `e` says the database cannot be reached or cannot serve now. */
export function isUnavailable(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown };
  const code = typeof err?.code === 'string' ? err.code : '';
  if (UNAVAILABLE_CODES.has(code) || UNAVAILABLE_CLASSES.some((c) => code.startsWith(c)) || UNAVAILABLE_ERRNOS.has(code)) return true;
  return typeof err?.message === 'string' && UNAVAILABLE_MESSAGES.test(err.message);
}

/** The URL without its password, for logs and errors. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '';
    u.search = '';
    return u.toString();
  } catch {
    return 'the configured state.url';
  }
}

type Queryable = Pick<PoolClient, 'query'>;

/** Runs claimed per claimNext query: the next ones when the oldest's group is held meanwhile. */
const CLAIM_CANDIDATES = 16;
/** Lease and send-slot rows idle this long are deleted by purge. */
const STALE_ROW_MS = 86_400_000;
/** A group's admission lock: concurrent admissions of one group, on any replica, go one at a time. */
const GROUP_LOCK = `hashtextextended('pagefirst:group:' || k, 0)`;

/**
 * The shared store (`state.url`) on PostgreSQL, for several replicas: the same contract as the
 * SQLite store (test/store/contract.ts), with the atomicity across processes coming from the
 * database: admissions of one alert group serialised by a transaction-scoped advisory lock,
 * idempotency keys as primary keys, one queued run per group by a unique index, leases as rows
 * claimed with INSERT ... ON CONFLICT and runs picked with FOR UPDATE SKIP LOCKED.
 *
 * Every statement runs under `statement_timeout` and `lock_timeout` (set at connect) and a client
 * read timeout; getting a connection under `connectTimeoutMs`. When the database is down or too
 * slow, calls reject with StoreUnavailableError at once or within those deadlines.
 *
 * Why the queue is our own lease rather than pg-boss (12.38.0, checked in its published dist/ and
 * github.com/timgit/pg-boss src/plans.ts, src/types.ts): pg-boss has what a lease needs (heartbeats
 * fenced to the claim, job.signal aborted when the claim is gone, the `singleton` policy's unique
 * index for one active job per key), but here the run row already is the unit of work: its key,
 * its coalescing (a queued run takes newer input until it is claimed, decided under one row lock)
 * and its Slack step records hang off it, and a job would be a second record of where the run is,
 * to keep in step with it across crashes. The SQLite default needs the same queue in one process,
 * and pg-boss 12.38.0 runs on PostgreSQL only, so it would have meant two schedulers and queue
 * cases the contract tests could not share. Its `groupConcurrency: 1` is a NOT EXISTS probe under
 * READ COMMITTED (fetchNextJob), so two replicas fetching at once can both start one group; its
 * heartbeats are >= 10 s and lapsed ones are failed by the supervisor (every 60 s by default),
 * where a lease here lapses on the database clock and is taken at the next claim. From pg-boss we
 * kept the shape: SKIP LOCKED, the database clock, and renewals fenced by a per-claim token
 * (src/store/lease.ts aborts the run's work when its lease is gone).
 */
export class PostgresStore implements StateStore {
  readonly kind = 'postgres' as const;
  readonly where: string;
  private closed = false;
  private readonly listened = new WeakSet<PoolClient>();

  private constructor(
    private readonly pool: Pool,
    where: string,
  ) {
    this.where = where;
  }

  /**
   * Connects, migrates the schema (once, under a lock, whichever replica comes first) and returns
   * the store. Rejects with StoreError for a newer schema or an unusable database, and
   * StoreUnavailableError when it cannot be reached.
   */
  static async open(opts: PostgresStoreOptions): Promise<PostgresStore> {
    const where = describeUrl(opts.url);
    const pool = new Pool({
      connectionString: opts.url,
      max: opts.poolSize,
      connectionTimeoutMillis: opts.connectTimeoutMs,
      idleTimeoutMillis: 30_000,
      statement_timeout: opts.statementTimeoutMs,
      lock_timeout: opts.statementTimeoutMs,
      idle_in_transaction_session_timeout: Math.max(opts.statementTimeoutMs * 2, 10_000),
      // the client's own deadline, for a server that stopped answering altogether
      query_timeout: opts.statementTimeoutMs + 1_000,
      application_name: opts.applicationName ?? 'pagefirst-state',
      keepAlive: true,
    });
    // An idle connection that dies (database restarted) must not crash the process; the next checkout reconnects.
    pool.on('error', () => {});
    const store = new PostgresStore(pool, where);
    try {
      const client = await store.connect('open');
      try {
        await migrate(client, where, opts.migrationTimeoutMs ?? Math.max(30_000, opts.statementTimeoutMs));
      } finally {
        client.release();
      }
    } catch (e) {
      await pool.end().catch(() => {});
      throw store.wrap('open', e);
    }
    return store;
  }

  /** The error a caller sees: StoreUnavailableError when the database is unreachable or too slow, else StoreError. */
  private wrap(what: string, e: unknown): StoreError {
    if (e instanceof StoreError) return e;
    const message = (e as Error)?.message ?? String(e);
    if (isUnavailable(e)) return new StoreUnavailableError(`the state database ${this.where} is unavailable (${what}): ${message}`, { cause: e });
    return new StoreError(`cannot ${what} in the state database ${this.where}: ${message}`, { cause: e });
  }

  private async connect(what: string): Promise<PoolClient> {
    if (this.closed) throw new StoreError(`the state store ${this.where} is closed`);
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw this.wrap(what, e);
    }
    // A checked-out client whose server goes away (restart, failover: 57P01) emits 'error', which
    // the pool listens to only while the client is idle: unhandled, it would end the process. The
    // statement in flight rejects on its own, and tx() drops the connection.
    if (!this.listened.has(client)) {
      this.listened.add(client);
      client.on('error', () => {});
    }
    return client;
  }

  /** One statement on any pooled connection. */
  private async q<R extends QueryResultRow>(what: string, text: string, values: unknown[] = []): Promise<R[]> {
    if (this.closed) throw new StoreError(`the state store ${this.where} is closed`);
    try {
      return (await this.pool.query<R>(text, values)).rows;
    } catch (e) {
      throw this.wrap(what, e);
    }
  }

  /** `f` in one transaction; rolled back (and the connection dropped when it is broken) on any error. */
  private async tx<T>(what: string, f: (c: Queryable) => Promise<T>): Promise<T> {
    const client = await this.connect(what);
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const r = await f(client);
      await client.query('COMMIT');
      return r;
    } catch (e) {
      await client.query('ROLLBACK').catch((re: Error) => (broken = re));
      if (isUnavailable(e)) broken ??= e as Error;
      throw this.wrap(what, e);
    } finally {
      client.release(broken);
    }
  }

  async admitBatch(reqs: readonly AdmitRequest[]): Promise<AdmitResult[]> {
    if (reqs.length === 0) return [];
    return this.tx('admit', async (c) => {
      // Lock every group of the batch first, in one order (by lock key), so two batches never deadlock.
      const groups = [...new Set(reqs.map((r) => r.group.groupKey))];
      await c.query(`SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT ${GROUP_LOCK} AS h FROM unnest($1::text[]) AS k ORDER BY h) AS locks`, [groups]);
      const fingerprints = new Map<string, { groupKey: string; now: number }>();
      const results: AdmitResult[] = [];
      for (const r of reqs) results.push(await this.admitOne(c, r, fingerprints));
      if (fingerprints.size > 0) {
        // written once per batch, sorted: rows shared between groups are always locked in one order
        const fps = [...fingerprints.keys()].sort();
        await c.query(
          `INSERT INTO alert_groups AS a (fingerprint, group_key, updated_at)
           SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
           ON CONFLICT (fingerprint) DO UPDATE SET group_key = excluded.group_key, updated_at = excluded.updated_at
           WHERE a.group_key <> excluded.group_key OR a.updated_at < excluded.updated_at - 3600000`,
          [fps, fps.map((f) => fingerprints.get(f)!.groupKey), fps.map((f) => fingerprints.get(f)!.now)],
        );
      }
      return results;
    });
  }

  admit(req: AdmitRequest): Promise<AdmitResult> {
    return this.admitBatch([req]).then((r) => r[0]!);
  }

  /** The rules of `admitBatch`, under the group's lock; the same steps as the SQLite store's admitOne. */
  private async admitOne(c: Queryable, req: AdmitRequest, fingerprints: Map<string, { groupKey: string; now: number }>): Promise<AdmitResult> {
    const hit = (
      await c.query<{ run_id: string; expires_at: string }>('SELECT run_id, expires_at FROM idempotency WHERE key = $1 AND expires_at > $2', [
        req.idempotencyKey,
        req.now,
      ])
    ).rows[0];
    if (hit) return { id: hit.run_id, duplicate: true, coalesced: false, keyExpiresAt: Number(hit.expires_at) };
    const { group } = req;
    const keyExpiresAt = req.keyExpiresAt;
    if (req.trigger === 'webhook') for (const a of group.alerts) fingerprints.set(a.fingerprint, { groupKey: group.groupKey, now: req.now });
    const input = JSON.stringify(group);
    const putKey = (runId: string) =>
      c.query(
        'INSERT INTO idempotency (key, run_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET run_id = excluded.run_id, expires_at = excluded.expires_at',
        [req.idempotencyKey, runId, req.keyExpiresAt],
      );
    if (req.groupCooldownUntil !== undefined) {
      const last = (
        await c.query<{ status: string; run_id: string; until: string }>(
          'SELECT status, run_id, until FROM group_cooldown WHERE group_key = $1 AND trigger = $2',
          [group.groupKey, req.trigger],
        )
      ).rows[0];
      if (last && last.status === group.status && Number(last.until) > req.now) {
        const coalesced =
          ((await c.query("UPDATE runs SET input = $1, updated_at = $2 WHERE id = $3 AND state = 'queued'", [input, req.now, last.run_id])).rowCount ?? 0) ===
          1;
        await putKey(last.run_id);
        return { id: last.run_id, duplicate: true, coalesced, keyExpiresAt };
      }
    }
    // A claim may move the queued run on meanwhile (it does not take the group's admission lock):
    // the state check in the UPDATE sees that, and the notification then makes a new run.
    const joined = (
      await c.query<{ id: string }>(
        `UPDATE runs SET input = $1, notify = notify OR $2, updated_at = $3
         WHERE id = (SELECT id FROM runs WHERE group_key = $4 AND status = $5 AND trigger = $6 AND state = 'queued' ORDER BY created_at DESC LIMIT 1) AND state = 'queued'
         RETURNING id`,
        [input, req.notify, req.now, group.groupKey, group.status, req.trigger],
      )
    ).rows[0];
    if (joined) {
      await putKey(joined.id);
      return { id: joined.id, duplicate: false, coalesced: true, keyExpiresAt };
    }
    await c.query(
      "INSERT INTO runs (id, group_key, alertname, status, trigger, state, notify, input, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, $8, $8)",
      [req.runId, group.groupKey, req.alertname, group.status, req.trigger, req.notify, input, req.now],
    );
    await putKey(req.runId);
    if (req.groupCooldownUntil !== undefined) {
      await c.query(
        'INSERT INTO group_cooldown (group_key, trigger, status, run_id, until) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (group_key, trigger) DO UPDATE SET status = excluded.status, run_id = excluded.run_id, until = excluded.until',
        [group.groupKey, req.trigger, group.status, req.runId, req.groupCooldownUntil],
      );
    }
    return { id: req.runId, duplicate: false, coalesced: false, keyExpiresAt };
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    const row = (await this.q<RunRow>('read a run', 'SELECT * FROM runs WHERE id = $1', [id]))[0];
    return row ? runRecordOf(row) : undefined;
  }

  async claimNext(leaseMs: number, skipGroups?: ReadonlySet<string>): Promise<Claimed | undefined> {
    return this.tx('claim a run', async (c) => {
      // Oldest first, skipping runs another replica is claiming right now (their rows are locked).
      const candidates = (
        await c.query<{ id: string; group_key: string }>(
          `SELECT r.id, r.group_key FROM runs r
           WHERE r.state <> 'done' AND NOT (r.group_key = ANY($1::text[]))
             AND NOT EXISTS (SELECT 1 FROM run_leases l WHERE l.group_key = r.group_key AND l.until > clock_timestamp())
           ORDER BY r.created_at LIMIT ${CLAIM_CANDIDATES}
           FOR UPDATE OF r SKIP LOCKED`,
          [[...(skipGroups ?? [])]],
        )
      ).rows;
      const tried = new Set<string>();
      for (const cand of candidates) {
        if (tried.has(cand.group_key)) continue;
        tried.add(cand.group_key);
        const token = randomUUID();
        // The group's lease: taken when free or lapsed. Of two replicas racing, the second waits
        // for the first's row and then finds it live: one run per group at a time.
        const got = await c.query(
          `INSERT INTO run_leases AS l (group_key, run_id, token, until) VALUES ($1, $2, $3, clock_timestamp() + $4 * interval '1 millisecond')
           ON CONFLICT (group_key) DO UPDATE SET run_id = excluded.run_id, token = excluded.token, until = excluded.until
           WHERE l.until <= clock_timestamp()
           RETURNING 1`,
          [cand.group_key, cand.id, token, leaseMs],
        );
        if (got.rowCount !== 1) continue;
        const row = (
          await c.query<RunRow>(
            `UPDATE runs SET state = CASE WHEN state = 'notifying' THEN state ELSE 'enriching' END, attempts = attempts + 1, updated_at = $2
             WHERE id = $1 AND state <> 'done' RETURNING *`,
            [cand.id, Date.now()],
          )
        ).rows[0];
        if (!row) continue;
        return { run: runRecordOf(row), lease: { runId: cand.id, groupKey: cand.group_key, token } };
      }
      return undefined;
    });
  }

  async renewLease(lease: { groupKey: string; token: string }, leaseMs: number): Promise<boolean> {
    const rows = await this.q(
      'renew a lease',
      `UPDATE run_leases SET until = clock_timestamp() + $3 * interval '1 millisecond' WHERE group_key = $1 AND token = $2 RETURNING 1`,
      [lease.groupKey, lease.token, leaseMs],
    );
    return rows.length === 1;
  }

  async releaseLease(lease: { groupKey: string; token: string }): Promise<void> {
    await this.q('release a lease', 'DELETE FROM run_leases WHERE group_key = $1 AND token = $2', [lease.groupKey, lease.token]);
  }

  async setState(id: string, state: RunState, diagnostic?: Diagnostic, now = Date.now()): Promise<void> {
    await this.q('write a run', 'UPDATE runs SET state = $1, diagnostic = COALESCE($2, diagnostic), updated_at = $3 WHERE id = $4', [
      state,
      diagnostic ? JSON.stringify(diagnostic) : null,
      now,
      id,
    ]);
  }

  async unfinishedRuns(): Promise<Array<{ id: string; groupKey: string }>> {
    const rows = await this.q<{ id: string; group_key: string }>(
      'list unfinished runs',
      "SELECT id, group_key FROM runs WHERE state <> 'done' ORDER BY created_at",
    );
    return rows.map((r) => ({ id: r.id, groupKey: r.group_key }));
  }

  async previousDiagnostic(groupKey: string, run: { id: string; createdAt: number }): Promise<Diagnostic | undefined> {
    const row = (
      await this.q<{ diagnostic: string }>(
        'read a diagnostic',
        "SELECT diagnostic FROM runs WHERE group_key = $1 AND state = 'done' AND created_at <= $2 AND id <> $3 AND diagnostic IS NOT NULL ORDER BY created_at DESC LIMIT 1",
        [groupKey, run.createdAt, run.id],
      )
    )[0];
    return row ? (JSON.parse(row.diagnostic) as Diagnostic) : undefined;
  }

  async runsOf(alertname: string, since: Date, before: Date): Promise<Array<{ id: string; startedAt: string; status: string }>> {
    const rows = await this.q<{ id: string; created_at: string; status: string }>(
      'read the run history',
      'SELECT id, created_at, status FROM runs WHERE alertname = $1 AND created_at >= $2 AND created_at < $3 ORDER BY created_at DESC LIMIT 100',
      [alertname, since.getTime(), before.getTime()],
    );
    return rows.map((r) => ({ id: r.id, startedAt: new Date(Number(r.created_at)).toISOString(), status: r.status }));
  }

  async groupKeyOf(fingerprint: string): Promise<string | undefined> {
    return (await this.q<{ group_key: string }>('read an alert group', 'SELECT group_key FROM alert_groups WHERE fingerprint = $1', [fingerprint]))[0]
      ?.group_key;
  }

  async notifications(runId: string): Promise<Map<string, { status: NotificationStatus; detail: string }>> {
    const rows = await this.q<{ notifier: string; status: string; detail: string }>(
      'read notifications',
      'SELECT notifier, status, detail FROM notifications WHERE run_id = $1',
      [runId],
    );
    return new Map(rows.map((r) => [r.notifier, { status: r.status as NotificationStatus, detail: r.detail }]));
  }

  async recordNotification(runId: string, notifier: string, status: NotificationStatus, detail: string, now = Date.now()): Promise<void> {
    await this.q(
      'record a notification',
      'INSERT INTO notifications (run_id, notifier, status, detail, updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (run_id, notifier) DO UPDATE SET status = excluded.status, detail = excluded.detail, updated_at = excluded.updated_at',
      [runId, notifier, status, detail, now],
    );
  }

  async getNotifierState<T>(notifier: string, key: string): Promise<T | undefined> {
    const row = (
      await this.q<{ value: string }>('read notifier state', 'SELECT value FROM notifier_state WHERE notifier = $1 AND key = $2', [notifier, key])
    )[0];
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  async setNotifierState(notifier: string, key: string, value: unknown, now = Date.now()): Promise<void> {
    await this.q(
      'write notifier state',
      'INSERT INTO notifier_state (notifier, key, value, updated_at) VALUES ($1, $2, $3, $4) ON CONFLICT (notifier, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
      [notifier, key, JSON.stringify(value), now],
    );
  }

  async initNotifierState<T>(notifier: string, key: string, value: T, now = Date.now()): Promise<T> {
    const inserted = await this.q(
      'write notifier state',
      'INSERT INTO notifier_state (notifier, key, value, updated_at) VALUES ($1, $2, $3, $4) ON CONFLICT (notifier, key) DO NOTHING RETURNING 1',
      [notifier, key, JSON.stringify(value), now],
    );
    if (inserted.length === 1) return value;
    // A separate statement: under READ COMMITTED it sees the row of the replica that won the race,
    // which the INSERT's own snapshot may not.
    const stored = await this.getNotifierState<T>(notifier, key);
    if (stored === undefined) throw new StoreError(`notifier state ${notifier}/${key} vanished while being written (purged?); try again`);
    return stored;
  }

  async reserveSendSlot(channel: string, intervalMs: number): Promise<number> {
    const row = (
      await this.q<{ wait_ms: number }>(
        'reserve a send slot',
        `INSERT INTO send_slots AS s (channel, next_at) VALUES ($1, clock_timestamp() + $2 * interval '1 millisecond')
         ON CONFLICT (channel) DO UPDATE SET next_at = greatest(s.next_at, clock_timestamp()) + $2 * interval '1 millisecond'
         RETURNING greatest(0, extract(epoch FROM s.next_at - clock_timestamp()) * 1000 - $2)::float8 AS wait_ms`,
        [channel, intervalMs],
      )
    )[0];
    return Math.ceil(row?.wait_ms ?? 0);
  }

  async purge(retentionMs: number, now = Date.now()): Promise<{ runs: number; keys: number }> {
    return this.tx('purge', async (c) => {
      const runs = (await c.query("DELETE FROM runs WHERE state = 'done' AND updated_at < $1", [now - retentionMs])).rowCount ?? 0;
      await c.query('DELETE FROM notifications n WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = n.run_id)');
      await c.query('DELETE FROM notifier_state WHERE updated_at < $1', [now - retentionMs]);
      await c.query('DELETE FROM alert_groups WHERE updated_at < $1', [now - retentionMs]);
      const keys = (await c.query('DELETE FROM idempotency WHERE expires_at <= $1', [now])).rowCount ?? 0;
      await c.query('DELETE FROM group_cooldown WHERE until <= $1', [now]);
      await c.query(`DELETE FROM run_leases WHERE until < clock_timestamp() - $1 * interval '1 millisecond'`, [STALE_ROW_MS]);
      await c.query(`DELETE FROM send_slots WHERE next_at < clock_timestamp() - $1 * interval '1 millisecond'`, [STALE_ROW_MS]);
      return { runs, keys };
    });
  }

  async checkWritable(): Promise<void> {
    const row = (
      await this.q<{ recovery: boolean; ro: string }>('check', "SELECT pg_is_in_recovery() AS recovery, current_setting('transaction_read_only') AS ro")
    )[0];
    if (row?.recovery || row?.ro === 'on')
      throw new StoreError(`the state database ${this.where} is read-only (a standby, or default_transaction_read_only): point state.url at the primary`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
