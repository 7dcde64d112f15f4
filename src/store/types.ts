import type { AlertGroup } from '../core/alert';
import type { Diagnostic, NotificationStatus, Trigger } from '../core/diagnostic';
import type { AlertHistory, HistoryRun } from './history';

/** Where a run is: written `queued` before the 202, `done` after its notifiers finish. */
export type RunState = 'queued' | 'enriching' | 'notifying' | 'done';

export interface RunRecord {
  id: string;
  groupKey: string;
  alertname: string;
  trigger: Trigger;
  state: RunState;
  notify: boolean;
  group: AlertGroup;
  diagnostic: Diagnostic | null;
  /** Claims so far, this one included when the record came from a claim. */
  attempts: number;
  /** Epoch ms. */
  createdAt: number;
}

export interface AdmitRequest {
  runId: string;
  idempotencyKey: string;
  /** The key stops being a duplicate after this (epoch ms). */
  keyExpiresAt: number;
  group: AlertGroup;
  alertname: string;
  trigger: Trigger;
  notify: boolean;
  /** Epoch ms. */
  now: number;
  /** When set, newer notifications of this group and status join this run until then (epoch ms). */
  groupCooldownUntil?: number;
}

export interface AdmitResult {
  id: string;
  duplicate: boolean;
  /** Joined a queued run of the same group and status instead of creating one. */
  coalesced: boolean;
  /**
   * Until then (epoch ms) this request again is a duplicate of `id`: for a duplicate, the expiry
   * of the live key it matched (set by the request that stored it); otherwise this request's own
   * `keyExpiresAt`. For a re-run it is the end of the re-run cool-down: asked after it, a new run.
   */
  keyExpiresAt: number;
}

/**
 * A claim on a run: held by one worker (a replica's pipeline) until `releaseLease`, or until it
 * lapses `leaseMs` after the last `claim`/`renewLease` (a worker that died). `token` is unique
 * per claim, so a renewal by a worker whose lease lapsed and was taken over fails.
 */
export interface Lease {
  runId: string;
  groupKey: string;
  token: string;
}

/** A claimed run: its record (attempts counted) and the lease to renew and release. */
export interface Claimed {
  run: RunRecord;
  lease: Lease;
}

/**
 * The durable state of the receiver, shared by every replica that points at it: runs and their
 * diagnostics, idempotency keys, group cool-downs, notifier state (Slack threads, the steps a run
 * has done, Slack event ids) and the queue of runs with their leases.
 *
 * Two implementations pass the same contract (test/store/contract.ts): SQLite, embedded, for one
 * process (`state.path`), and PostgreSQL, shared by several replicas (`state.url`).
 *
 * Every method rejects with StoreError when the store cannot be used, with
 * StoreUnavailableError (a StoreError) when it cannot be reached at all, at once or within the
 * store's connect and statement timeouts: callers answer 503 and lose nothing.
 */
export interface StateStore extends AlertHistory {
  /** `sqlite` or `postgres`. */
  readonly kind: 'sqlite' | 'postgres';
  /** Where it is, for logs and errors (a path, or the URL without its password). */
  readonly where: string;

  /**
   * Records notifications in one transaction (group commit), in order, atomically across every
   * replica sharing the store:
   * 1. A live idempotency key (the same notification again) is a duplicate of its run.
   * 2. With a group cool-down (`groupCooldownUntil`), a newer notification of the same group and
   *    status within the cool-down of that group's last run joins it: a queued run takes the newer
   *    input (coalesced), a started one absorbs it; either way `duplicate: true` and no new run.
   * 3. A queued run of the same group, status and trigger absorbs it (coalesced, not a duplicate).
   * 4. Otherwise a new queued run is written.
   * The key is stored in cases 2-4, so a retry of this notification is a duplicate.
   * Nothing of the batch is written when it rejects.
   */
  admitBatch(reqs: readonly AdmitRequest[]): Promise<AdmitResult[]>;
  /** `admitBatch` for one request. */
  admit(req: AdmitRequest): Promise<AdmitResult>;

  /** The run, or undefined. */
  getRun(id: string): Promise<RunRecord | undefined>;

  /**
   * Claims the oldest unfinished run that nobody holds and whose alert group has no run held
   * (runs of one group go one at a time, across replicas), leaving out `skipGroups`. The claim
   * counts an attempt and moves a queued run to `enriching` (a `notifying` run stays so). The lease
   * lapses `leaseMs` after the claim unless renewed. Undefined when nothing is claimable.
   */
  claimNext(leaseMs: number, skipGroups?: ReadonlySet<string>): Promise<Claimed | undefined>;
  /** Extends the lease by `leaseMs` from now; false when it lapsed and someone else claimed the run (stop working on it). */
  renewLease(lease: Lease, leaseMs: number): Promise<boolean>;
  /** Gives the lease up (the run finished, or stops here for another worker to resume). */
  releaseLease(lease: Lease): Promise<void>;

  /** Sets a run's state, storing the diagnostic when given. */
  setState(id: string, state: RunState, diagnostic?: Diagnostic, now?: number): Promise<void>;
  /** Runs not yet done (id and group), oldest first. */
  unfinishedRuns(): Promise<Array<{ id: string; groupKey: string }>>;
  /** The newest finished diagnostic of the same group before the given run, for "what changed". */
  previousDiagnostic(groupKey: string, run: { id: string; createdAt: number }): Promise<Diagnostic | undefined>;
  /** Runs for `alertname` created in [since, before), newest first, at most 100. */
  runsOf(alertname: string, since: Date, before: Date): Promise<HistoryRun[]>;
  /** The group key Alertmanager last sent this alert fingerprint under, for manual re-runs to reach the same thread. */
  groupKeyOf(fingerprint: string): Promise<string | undefined>;

  /** Notifier outcomes recorded for a run so far (a resumed run skips those already sent). */
  notifications(runId: string): Promise<Map<string, { status: NotificationStatus; detail: string }>>;
  recordNotification(runId: string, notifier: string, status: NotificationStatus, detail: string, now?: number): Promise<void>;

  /** A notifier's own durable state (for Slack: the thread of an alert group, the steps of a run). */
  getNotifierState<T>(notifier: string, key: string): Promise<T | undefined>;
  setNotifierState(notifier: string, key: string, value: unknown, now?: number): Promise<void>;
  /**
   * Stores `value` only when nothing is stored under the key, and returns what is stored
   * afterwards: of two callers racing (two replicas), both get the first one's value.
   */
  initNotifierState<T>(notifier: string, key: string, value: T, now?: number): Promise<T>;

  /**
   * Reserves the next send slot of `channel`, at most one per `intervalMs` across every process
   * sharing the store; resolves with how long to wait for it (ms, 0 when it is now).
   */
  reserveSendSlot(channel: string, intervalMs: number): Promise<number>;

  /** Deletes finished runs, notifier state and expired keys older than the retention. */
  purge(retentionMs: number, now?: number): Promise<{ runs: number; keys: number }>;
  /** Rejects with StoreError when the store cannot be written now (for /readyz). */
  checkWritable(): Promise<void>;
  /** Closes it; further calls reject. */
  close(): Promise<void>;
}

/** The store could not be opened or used; the message says which store and what to do. */
export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}

/**
 * The store cannot be reached (database down, refused, timed out, pool exhausted for longer than
 * its connect timeout). Nothing was written; a retry later may succeed.
 */
export class StoreUnavailableError extends StoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}
