import { randomUUID } from 'node:crypto';
import type { Diagnostic, NotificationStatus } from '../core/diagnostic';
import { Store } from './store';
import { StoreError, type AdmitRequest, type AdmitResult, type Claimed, type Lease, type RunRecord, type RunState, type StateStore } from './types';

/**
 * The embedded store (`state.path`) behind the StateStore interface: the SQLite `Store` (one
 * process owns the file), with the queue's leases and the channels' send slots in memory, since
 * no other process can claim its runs. A restart starts with no leases: every unfinished run is
 * claimable again at once, as the resume after a crash has always done.
 */
export class SqliteStore implements StateStore {
  readonly kind = 'sqlite' as const;
  readonly where: string;
  private readonly leases = new Map<string, { runId: string; token: string; until: number }>();
  private readonly slots = new Map<string, number>();
  private closed = false;

  /** Opens (creating if missing) the file; throws StoreError as `Store` does. `now` is for leases and send slots. */
  constructor(
    readonly db: Store,
    private readonly now: () => number = Date.now,
  ) {
    this.where = db.path;
  }

  /** Opens the SQLite file at `path` (":memory:" allowed); throws StoreError when it is unusable. */
  static open(path: string): SqliteStore {
    return new SqliteStore(new Store(path));
  }

  /** Runs `f` on the open store; any failure becomes a StoreError naming the file. */
  private use<T>(what: string, f: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError(`the state store ${this.where} is closed`));
    try {
      return Promise.resolve(f());
    } catch (e) {
      return Promise.reject(
        e instanceof StoreError ? e : new StoreError(`cannot ${what} in the state store ${this.where}: ${(e as Error).message}`, { cause: e }),
      );
    }
  }

  admitBatch(reqs: readonly AdmitRequest[]): Promise<AdmitResult[]> {
    return this.use('admit', () => this.db.admitBatch(reqs));
  }

  admit(req: AdmitRequest): Promise<AdmitResult> {
    return this.use('admit', () => this.db.admit(req));
  }

  getRun(id: string): Promise<RunRecord | undefined> {
    return this.use('read a run', () => this.db.getRun(id));
  }

  claimNext(leaseMs: number, skipGroups?: ReadonlySet<string>): Promise<Claimed | undefined> {
    return this.use('claim a run', () => {
      const t = this.now();
      for (const { id, groupKey } of this.db.unfinishedRuns()) {
        if (skipGroups?.has(groupKey)) continue;
        const held = this.leases.get(groupKey);
        if (held && held.until > t) continue;
        if (!this.db.claim(id, t)) continue;
        const run = this.db.getRun(id);
        if (!run) continue;
        const lease: Lease = { runId: id, groupKey, token: randomUUID() };
        this.leases.set(groupKey, { runId: id, token: lease.token, until: t + leaseMs });
        return { run, lease };
      }
      return undefined;
    });
  }

  renewLease(lease: Lease, leaseMs: number): Promise<boolean> {
    return this.use('renew a lease', () => {
      const held = this.leases.get(lease.groupKey);
      if (held?.token !== lease.token) return false;
      held.until = this.now() + leaseMs;
      return true;
    });
  }

  releaseLease(lease: Lease): Promise<void> {
    return this.use('release a lease', () => {
      if (this.leases.get(lease.groupKey)?.token === lease.token) this.leases.delete(lease.groupKey);
    });
  }

  setState(id: string, state: RunState, diagnostic?: Diagnostic, now?: number): Promise<void> {
    return this.use('write a run', () => this.db.setState(id, state, diagnostic, now));
  }

  unfinishedRuns(): Promise<Array<{ id: string; groupKey: string }>> {
    return this.use('list unfinished runs', () => this.db.unfinishedRuns());
  }

  previousDiagnostic(groupKey: string, run: { id: string; createdAt: number }): Promise<Diagnostic | undefined> {
    return this.use('read a diagnostic', () => this.db.previousDiagnostic(groupKey, run));
  }

  runsOf(alertname: string, since: Date, before: Date): Promise<Array<{ id: string; startedAt: string; status: string }>> {
    return this.use('read the run history', () => this.db.runsOf(alertname, since, before));
  }

  groupKeyOf(fingerprint: string): Promise<string | undefined> {
    return this.use('read an alert group', () => this.db.groupKeyOf(fingerprint));
  }

  notifications(runId: string): Promise<Map<string, { status: NotificationStatus; detail: string }>> {
    return this.use('read notifications', () => this.db.notifications(runId));
  }

  recordNotification(runId: string, notifier: string, status: NotificationStatus, detail: string, now?: number): Promise<void> {
    return this.use('record a notification', () => this.db.recordNotification(runId, notifier, status, detail, now));
  }

  getNotifierState<T>(notifier: string, key: string): Promise<T | undefined> {
    return this.use('read notifier state', () => this.db.getNotifierState<T>(notifier, key));
  }

  setNotifierState(notifier: string, key: string, value: unknown, now?: number): Promise<void> {
    return this.use('write notifier state', () => this.db.setNotifierState(notifier, key, value, now));
  }

  initNotifierState<T>(notifier: string, key: string, value: T, now?: number): Promise<T> {
    return this.use('write notifier state', () => this.db.initNotifierState<T>(notifier, key, value, now));
  }

  reserveSendSlot(channel: string, intervalMs: number): Promise<number> {
    return this.use('reserve a send slot', () => {
      const t = this.now();
      for (const [c, at] of this.slots) if (at < t) this.slots.delete(c);
      const at = Math.max(t, this.slots.get(channel) ?? 0);
      this.slots.set(channel, at + intervalMs);
      return at - t;
    });
  }

  purge(retentionMs: number, now?: number): Promise<{ runs: number; keys: number }> {
    return this.use('purge', () => this.db.purge(retentionMs, now));
  }

  checkWritable(): Promise<void> {
    return this.use('check', () => this.db.checkWritable());
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.db.close();
    }
    return Promise.resolve();
  }
}
