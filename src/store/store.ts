import Database from 'better-sqlite3';
import type { Diagnostic, NotificationStatus } from '../core/diagnostic';
import type { AlertHistory } from './history';
import { Checkpointer } from './checkpointer';
import { runRecordOf, type RunRow } from './run-row';
import { StoreError, type AdmitRequest, type AdmitResult, type RunRecord, type RunState } from './types';

export type { AdmitRequest, AdmitResult, RunRecord, RunState } from './types';
export { StoreError } from './types';

const SCHEMA_VERSION = 1;
/** SQLite's own default: a commit that finds this many WAL pages checkpoints them itself. */
const DEFAULT_CHECKPOINT_PAGES = 1_000;
/** With the checkpointer running, commits checkpoint only past this (about 40 MB): a backstop. */
const BACKSTOP_CHECKPOINT_PAGES = 10_000;
/** A WAL file that grew in a storm is cut back to this once it has been checkpointed. */
const WAL_SIZE_LIMIT_BYTES = 16 * 1024 * 1024;

const MIGRATION = `
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY,
  group_key TEXT NOT NULL,
  alertname TEXT NOT NULL,
  status TEXT NOT NULL,
  trigger TEXT NOT NULL,
  state TEXT NOT NULL,
  notify INTEGER NOT NULL,
  input TEXT NOT NULL,
  diagnostic TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_state ON runs(state, created_at);
CREATE INDEX IF NOT EXISTS runs_group ON runs(group_key, created_at);
CREATE INDEX IF NOT EXISTS runs_alertname ON runs(alertname, created_at);
CREATE TABLE IF NOT EXISTS idempotency (
  key TEXT PRIMARY KEY,
  run_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_expiry ON idempotency(expires_at);
CREATE TABLE IF NOT EXISTS notifications (
  run_id TEXT NOT NULL,
  notifier TEXT NOT NULL,
  status TEXT NOT NULL,
  detail TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (run_id, notifier)
);
CREATE TABLE IF NOT EXISTS alert_groups (
  fingerprint TEXT PRIMARY KEY,
  group_key TEXT NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_cooldown (
  group_key TEXT NOT NULL,
  trigger TEXT NOT NULL,
  status TEXT NOT NULL,
  run_id TEXT NOT NULL,
  until INTEGER NOT NULL,
  PRIMARY KEY (group_key, trigger)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS notifier_state (
  notifier TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (notifier, key)
);
`;

/**
 * The durable embedded store (SQLite): runs, diagnostics, notification state and idempotency
 * keys. All methods are synchronous and atomic; they throw StoreError when the file is unusable.
 */
export class Store implements AlertHistory {
  private readonly db: Database.Database;
  private readonly stmts;
  private checkpointer: Checkpointer | undefined;

  /** Opens (creating if missing) the store at `path`. Throws StoreError for an unreadable or corrupt file, never overwriting it. */
  constructor(readonly path: string) {
    let opened: Database.Database | undefined;
    try {
      this.db = opened = new Database(path, { timeout: 5_000 });
      // Read-only checks first: switching to WAL rewrites the file header, so a file we refuse
      // (newer schema, corrupt) must be refused before that.
      const version = this.db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) throw new Error(`it was written by a newer version (schema ${version}, this one knows ${SCHEMA_VERSION})`);
      const check = this.db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new Error(`integrity check failed: ${String(check)}`);
      if (path !== ':memory:') this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('foreign_keys = ON');
      this.db.exec(MIGRATION);
      this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
      if (path !== ':memory:') this.db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
    } catch (e) {
      try {
        opened?.close();
      } catch {
        // already unusable
      }
      throw new StoreError(
        `cannot open the state store ${path}: ${(e as Error).message}. Nothing was changed; move the file aside to start with an empty store, or fix its permissions.`,
        { cause: e },
      );
    }
    if (path !== ':memory:') this.startCheckpointer(path);
    const db = this.db;
    this.stmts = {
      keyGet: db.prepare<[string, number], { run_id: string; expires_at: number }>(
        'SELECT run_id, expires_at FROM idempotency WHERE key = ? AND expires_at > ?',
      ),
      keyPut: db.prepare('INSERT OR REPLACE INTO idempotency (key, run_id, expires_at) VALUES (?, ?, ?)'),
      queuedOfGroup: db.prepare<[string, string, string], { id: string }>(
        "SELECT id FROM runs WHERE group_key = ? AND status = ? AND trigger = ? AND state = 'queued' ORDER BY created_at DESC LIMIT 1",
      ),
      runInsert: db.prepare(
        "INSERT INTO runs (id, group_key, alertname, status, trigger, state, notify, input, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)",
      ),
      runInputUpdate: db.prepare('UPDATE runs SET input = ?, notify = MAX(notify, ?), updated_at = ? WHERE id = ?'),
      runInputUpdateIfQueued: db.prepare("UPDATE runs SET input = ?, updated_at = ? WHERE id = ? AND state = 'queued'"),
      cooldownGet: db.prepare<[string, string], { status: string; run_id: string; until: number }>(
        'SELECT status, run_id, until FROM group_cooldown WHERE group_key = ? AND trigger = ?',
      ),
      cooldownPut: db.prepare('INSERT OR REPLACE INTO group_cooldown (group_key, trigger, status, run_id, until) VALUES (?, ?, ?, ?, ?)'),
      purgeCooldown: db.prepare('DELETE FROM group_cooldown WHERE until <= ?'),
      runGet: db.prepare<[string], RunRow>('SELECT * FROM runs WHERE id = ?'),
      runState: db.prepare('UPDATE runs SET state = ?, diagnostic = COALESCE(?, diagnostic), updated_at = ? WHERE id = ?'),
      runClaim: db.prepare(
        "UPDATE runs SET state = CASE WHEN state = 'notifying' THEN state ELSE 'enriching' END, attempts = attempts + 1, updated_at = ? WHERE id = ? AND state != 'done'",
      ),
      unfinished: db.prepare<[], { id: string; group_key: string }>("SELECT id, group_key FROM runs WHERE state != 'done' ORDER BY created_at"),
      previousDone: db.prepare<[string, number, string], { diagnostic: string }>(
        "SELECT diagnostic FROM runs WHERE group_key = ? AND state = 'done' AND created_at <= ? AND id != ? AND diagnostic IS NOT NULL ORDER BY created_at DESC LIMIT 1",
      ),
      history: db.prepare<[string, number, number], { id: string; created_at: number; status: string }>(
        'SELECT id, created_at, status FROM runs WHERE alertname = ? AND created_at >= ? AND created_at < ? ORDER BY created_at DESC LIMIT 100',
      ),
      notifGet: db.prepare<[string], { notifier: string; status: string; detail: string }>(
        'SELECT notifier, status, detail FROM notifications WHERE run_id = ?',
      ),
      notifPut: db.prepare('INSERT OR REPLACE INTO notifications (run_id, notifier, status, detail, updated_at) VALUES (?, ?, ?, ?, ?)'),
      stateGet: db.prepare<[string, string], { value: string }>('SELECT value FROM notifier_state WHERE notifier = ? AND key = ?'),
      statePut: db.prepare('INSERT OR REPLACE INTO notifier_state (notifier, key, value, updated_at) VALUES (?, ?, ?, ?)'),
      stateInsert: db.prepare('INSERT OR IGNORE INTO notifier_state (notifier, key, value, updated_at) VALUES (?, ?, ?, ?)'),
      // written only when the group changed or the row is an hour old: most notifications repeat it
      groupPut: db.prepare(
        'INSERT INTO alert_groups (fingerprint, group_key, updated_at) VALUES (?, ?, ?) ON CONFLICT (fingerprint) DO UPDATE SET group_key = excluded.group_key, updated_at = excluded.updated_at WHERE group_key != excluded.group_key OR updated_at < excluded.updated_at - 3600000',
      ),
      groupGet: db.prepare<[string], { group_key: string }>('SELECT group_key FROM alert_groups WHERE fingerprint = ?'),
      purgeGroups: db.prepare('DELETE FROM alert_groups WHERE updated_at < ?'),
      purgeRuns: db.prepare("DELETE FROM runs WHERE state = 'done' AND updated_at < ?"),
      purgeNotifs: db.prepare('DELETE FROM notifications WHERE run_id NOT IN (SELECT id FROM runs)'),
      purgeKeys: db.prepare('DELETE FROM idempotency WHERE expires_at <= ?'),
      purgeState: db.prepare('DELETE FROM notifier_state WHERE updated_at < ?'),
    };
  }

  /**
   * Records notifications in one transaction (group commit), in order; see `admitOne` for the
   * rules. Throws StoreError when the store cannot be written (then nothing of the batch is).
   */
  admitBatch(reqs: readonly AdmitRequest[]): AdmitResult[] {
    try {
      return this.db.transaction(() => reqs.map((r) => this.admitOne(r))).immediate();
    } catch (e) {
      throw new StoreError(`cannot write to the state store ${this.path}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** `admitBatch` for one request. */
  admit(req: AdmitRequest): AdmitResult {
    return this.admitBatch([req])[0]!;
  }

  /**
   * 1. A live idempotency key (the same notification again) is a duplicate of its run.
   * 2. With a group cool-down (`groupCooldownUntil`), a newer notification of the same group and
   *    status within the cool-down of that group's last run joins it: a queued run takes the
   *    newer input (coalesced), a started one absorbs it; either way `duplicate: true` and no new run.
   * 3. A queued run of the same group, status and trigger absorbs it (coalesced, not a duplicate).
   * 4. Otherwise a new queued run is written.
   * The key is stored in cases 2-4, so a retry of this notification is a duplicate.
   */
  private admitOne(req: AdmitRequest): AdmitResult {
    const hit = this.stmts.keyGet.get(req.idempotencyKey, req.now);
    if (hit) return { id: hit.run_id, duplicate: true, coalesced: false, keyExpiresAt: hit.expires_at };
    const { group } = req;
    const keyExpiresAt = req.keyExpiresAt;
    if (req.trigger === 'webhook') for (const a of group.alerts) this.stmts.groupPut.run(a.fingerprint, group.groupKey, req.now);
    const input = JSON.stringify(group);
    if (req.groupCooldownUntil !== undefined) {
      const last = this.stmts.cooldownGet.get(group.groupKey, req.trigger);
      if (last && last.status === group.status && last.until > req.now) {
        const coalesced = this.stmts.runInputUpdateIfQueued.run(input, req.now, last.run_id).changes === 1;
        this.stmts.keyPut.run(req.idempotencyKey, last.run_id, req.keyExpiresAt);
        return { id: last.run_id, duplicate: true, coalesced, keyExpiresAt };
      }
    }
    const queued = this.stmts.queuedOfGroup.get(group.groupKey, group.status, req.trigger);
    if (queued) {
      this.stmts.runInputUpdate.run(input, req.notify ? 1 : 0, req.now, queued.id);
      this.stmts.keyPut.run(req.idempotencyKey, queued.id, req.keyExpiresAt);
      return { id: queued.id, duplicate: false, coalesced: true, keyExpiresAt };
    }
    this.stmts.runInsert.run(req.runId, group.groupKey, req.alertname, group.status, req.trigger, req.notify ? 1 : 0, input, req.now, req.now);
    this.stmts.keyPut.run(req.idempotencyKey, req.runId, req.keyExpiresAt);
    if (req.groupCooldownUntil !== undefined) this.stmts.cooldownPut.run(group.groupKey, req.trigger, group.status, req.runId, req.groupCooldownUntil);
    return { id: req.runId, duplicate: false, coalesced: false, keyExpiresAt };
  }

  /** The run, or undefined. */
  getRun(id: string): RunRecord | undefined {
    const row = this.stmts.runGet.get(id);
    return row ? runRecordOf(row) : undefined;
  }

  /** Moves a queued (or interrupted) run to `enriching` and counts the attempt; false if it is not claimable. */
  claim(id: string, now = Date.now()): boolean {
    return this.stmts.runClaim.run(now, id).changes === 1;
  }

  /** Sets a run's state, storing the diagnostic when given. */
  setState(id: string, state: RunState, diagnostic?: Diagnostic, now = Date.now()): void {
    this.stmts.runState.run(state, diagnostic ? JSON.stringify(diagnostic) : null, now, id);
  }

  /** Runs not yet done (id and group), oldest first: what a restart resumes. */
  unfinishedRuns(): Array<{ id: string; groupKey: string }> {
    return this.stmts.unfinished.all().map((r) => ({ id: r.id, groupKey: r.group_key }));
  }

  /** Ids of runs not yet done, oldest first. */
  unfinishedRunIds(): string[] {
    return this.unfinishedRuns().map((r) => r.id);
  }

  /** The newest finished diagnostic of the same group before the given run, for "what changed". */
  previousDiagnostic(groupKey: string, run: { id: string; createdAt: number }): Diagnostic | undefined {
    const row = this.stmts.previousDone.get(groupKey, run.createdAt, run.id);
    return row ? (JSON.parse(row.diagnostic) as Diagnostic) : undefined;
  }

  /** AlertHistory: runs of `alertname` created in [since, before). */
  runsOf(alertname: string, since: Date, before: Date): Array<{ id: string; startedAt: string; status: string }> {
    return this.stmts.history
      .all(alertname, since.getTime(), before.getTime())
      .map((r) => ({ id: r.id, startedAt: new Date(r.created_at).toISOString(), status: r.status }));
  }

  /** The group key Alertmanager last sent this alert fingerprint under, for manual re-runs to reach the same thread. */
  groupKeyOf(fingerprint: string): string | undefined {
    return this.stmts.groupGet.get(fingerprint)?.group_key;
  }

  /** Notifier outcomes recorded for a run so far (a resumed run skips those already sent). */
  notifications(runId: string): Map<string, { status: NotificationStatus; detail: string }> {
    return new Map(this.stmts.notifGet.all(runId).map((r) => [r.notifier, { status: r.status as NotificationStatus, detail: r.detail }]));
  }

  recordNotification(runId: string, notifier: string, status: NotificationStatus, detail: string, now = Date.now()): void {
    this.stmts.notifPut.run(runId, notifier, status, detail, now);
  }

  /** A notifier's own durable state (for Slack: the thread of an alert group). */
  getNotifierState<T>(notifier: string, key: string): T | undefined {
    const row = this.stmts.stateGet.get(notifier, key);
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  setNotifierState(notifier: string, key: string, value: unknown, now = Date.now()): void {
    this.stmts.statePut.run(notifier, key, JSON.stringify(value), now);
  }

  /** Stores `value` only when nothing is stored under the key; returns what is stored afterwards. */
  initNotifierState<T>(notifier: string, key: string, value: T, now = Date.now()): T {
    this.stmts.stateInsert.run(notifier, key, JSON.stringify(value), now);
    return this.getNotifierState<T>(notifier, key)!;
  }

  /** Deletes finished runs, notifier state and expired keys older than the retention. */
  purge(retentionMs: number, now = Date.now()): { runs: number; keys: number } {
    return this.db.transaction(() => {
      const runs = this.stmts.purgeRuns.run(now - retentionMs).changes;
      this.stmts.purgeNotifs.run();
      this.stmts.purgeState.run(now - retentionMs);
      this.stmts.purgeGroups.run(now - retentionMs);
      const keys = this.stmts.purgeKeys.run(now).changes;
      this.stmts.purgeCooldown.run(now);
      return { runs, keys };
    })();
  }

  /** Throws StoreError when the store cannot be written (for /readyz). */
  checkWritable(): void {
    try {
      this.db.prepare('BEGIN IMMEDIATE').run();
      this.db.prepare('ROLLBACK').run();
    } catch (e) {
      throw new StoreError(`state store ${this.path} is not writable: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * Hands WAL checkpoints to a worker thread, so commits checkpoint only as a backstop. Where the
   * worker cannot start, or dies, commits checkpoint as SQLite does by default.
   */
  private startCheckpointer(path: string): void {
    const ownCheckpoints = () => {
      if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${DEFAULT_CHECKPOINT_PAGES}`);
    };
    try {
      this.checkpointer = new Checkpointer(path, { idleMs: 1_000, busyMs: 50, onExit: ownCheckpoints });
    } catch {
      return;
    }
    this.db.pragma(`wal_autocheckpoint = ${BACKSTOP_CHECKPOINT_PAGES}`);
  }

  close(): void {
    this.checkpointer?.stop();
    if (this.db.open) this.db.close();
  }
}
