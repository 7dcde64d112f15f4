import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { grafanaDiagnosticFields } from '../core/grafana';
import { activeAlerts, alertnameOf, earliestStart, type AlertGroup } from '../core/alert';
import type { Enricher } from '../core/enricher';
import type { Cause, Diagnostic, Enrichment, NotificationOutcome, Trigger } from '../core/diagnostic';
import type { Notifier } from '../core/notifier';
import type { Redactor } from '../logger';
import { redactDeep } from '../logger';
import type { Metrics } from '../metrics';
import { keepLease } from '../store/lease';
import type { AdmitRequest, AdmitResult, Claimed, RunRecord, StateStore } from '../store/types';
import type { PipelineConfig } from './config';
import { runEnrichers, errorMessage } from './enrich';
import { notificationKey, rerunKey } from './idempotency';
import { withRetry } from '../core/retry';
import { pickRoute, type RouteMatcher } from './alert-routes';

/** A route ready to run: its matcher, its enricher instances and the names of its notifiers. */
export interface CompiledRoute extends RouteMatcher {
  enrichers: Enricher[];
  notifiers: string[];
}

export interface PipelineDeps {
  config: PipelineConfig;
  /** The state store, shared with the other replicas when it is PostgreSQL. */
  store: StateStore;
  routes: CompiledRoute[];
  /** Used when no route matches: no enrichers, the default notifiers. */
  fallback: CompiledRoute;
  notifiers: ReadonlyMap<string, Notifier>;
  diagnose: (enrichments: readonly Enrichment[], group: AlertGroup) => Cause[];
  metrics: Metrics;
  logger: Logger;
  redact: Redactor;
  now?: () => number;
}

/** A run that crashed the process this many times is finished as failed instead of resumed again. */
const MAX_RUN_ATTEMPTS = 3;
/** Requests written in one transaction at most (group commit): a storm's batch stays short. */
const MAX_ADMIT_BATCH = 256;
/** How often `wait` looks in the store for a run another replica may be finishing. */
const WAIT_POLL_MS = 500;

/** The labels a group is routed by: its common labels, else its first alert's. */
export function routingLabels(group: AlertGroup): Record<string, string> {
  return Object.keys(group.commonLabels).length > 0 ? group.commonLabels : (group.alerts[0]?.labels ?? {});
}

/**
 * The pipeline: admits notifications durably (deduplicated, coalesced), then runs them in the
 * background: enrichers in parallel under their timeouts and the run's budget, the diagnosis,
 * then the notifiers with bounded retries. Runs are claimed from the store's queue with a lease
 * (renewed while they work), so replicas sharing a store split the work: at most
 * `maxConcurrentRuns` at once per replica and one run at a time per alert group across all of
 * them. A run whose replica died is claimed again once its lease lapses; runs left by a shutdown
 * go on at the next start, or on another replica at once (their leases are released).
 */
export class Pipeline {
  private readonly active = new Map<string, Promise<void>>();
  private readonly busyGroups = new Set<string>();
  private readonly events = new EventEmitter();
  private readonly shutdown = new AbortController();
  private readonly batch: Array<{ req: AdmitRequest; resolve: (r: AdmitResult) => void; reject: (e: unknown) => void }> = [];
  private flushing = false;
  private flushQueued = false;
  private pumping = false;
  private pumpAgain = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private accepting = true;
  private readonly now: () => number;

  constructor(private readonly deps: PipelineDeps) {
    this.now = deps.now ?? Date.now;
    this.events.setMaxListeners(0);
  }

  /**
   * Writes the run (or finds its duplicate) durably, then has it claimed. Requests arriving while
   * a write is in flight are written together in the next transaction (group commit) before any
   * of them resolves. Rejects with StoreError when the store cannot be written, and Error when
   * shutting down.
   */
  admit(group: AlertGroup, trigger: Trigger, opts: { notify?: boolean } = {}): Promise<AdmitResult> {
    if (!this.accepting) return Promise.reject(new Error('shutting down'));
    const now = this.now();
    const isWebhook = trigger === 'webhook';
    const cooldown = isWebhook ? this.deps.config.cooldownMs : this.deps.config.rerunCooldownMs;
    const req: AdmitRequest = {
      runId: randomUUID(),
      idempotencyKey: (isWebhook ? notificationKey(group) : rerunKey(group)) + (opts.notify === false ? ':dry' : ''),
      keyExpiresAt: now + cooldown,
      group,
      alertname: alertnameOf(group),
      trigger,
      notify: opts.notify !== false,
      now,
      ...(isWebhook ? { groupCooldownUntil: now + cooldown } : {}),
    };
    return new Promise((resolve, reject) => {
      this.batch.push({ req, resolve, reject });
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushing || this.flushQueued || this.batch.length === 0) return;
    this.flushQueued = true;
    setImmediate(() => {
      this.flushQueued = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    const batch = this.batch.splice(0, MAX_ADMIT_BATCH);
    try {
      let results: AdmitResult[];
      try {
        results = await this.deps.store.admitBatch(batch.map((b) => b.req));
      } catch (e) {
        for (const b of batch) b.reject(e);
        return;
      }
      let created = false;
      batch.forEach((b, i) => {
        const result = results[i]!;
        const { group, trigger } = b.req;
        if (result.duplicate) this.deps.metrics.duplicates.inc({ trigger });
        else created = true;
        // a storm repeats notifications thousands of times: duplicates are logged at debug only
        const level = result.duplicate ? 'debug' : 'info';
        if (this.deps.logger.isLevelEnabled(level)) {
          this.deps.logger[level](
            { runId: result.id, groupKey: group.groupKey, trigger, duplicate: result.duplicate, coalesced: result.coalesced },
            'notification admitted',
          );
        }
        b.resolve(result);
      });
      // after the callers had their answers (the 202 goes out before any work starts)
      if (created) setImmediate(() => this.pump());
    } finally {
      this.flushing = false;
      this.scheduleFlush();
    }
  }

  /**
   * Resolves with the run's Diagnostic once it is done (here or on another replica); rejects when
   * `signal` aborts or the run is unknown.
   */
  wait(runId: string, signal?: AbortSignal): Promise<Diagnostic> {
    return new Promise((resolve, reject) => {
      let settled = false;
      let checking = false;
      const check = () => {
        if (settled || checking) return;
        checking = true;
        this.deps.store.getRun(runId).then(
          (run) => {
            checking = false;
            if (!run) finish(() => reject(new Error(`unknown run ${runId}`)));
            else if (run.state === 'done' && run.diagnostic) finish(() => resolve(run.diagnostic!));
          },
          () => (checking = false), // the store is unavailable for now: the next check tries again
        );
      };
      const timer = setInterval(check, WAIT_POLL_MS);
      const onAbort = () => finish(() => reject(signal?.reason ?? new Error('aborted')));
      const finish = (f: () => void) => {
        if (settled) return;
        settled = true;
        clearInterval(timer);
        this.events.off(runId, check);
        signal?.removeEventListener('abort', onAbort);
        f();
      };
      this.events.on(runId, check);
      signal?.addEventListener('abort', onAbort, { once: true });
      check();
    });
  }

  /**
   * Starts claiming: runs the store holds unfinished (after a crash or shutdown, here or on a
   * replica that died) now, and then every `pollMs` whatever other replicas admitted or left.
   * Resolves with how many runs were unfinished.
   */
  async resume(): Promise<number> {
    let unfinished = 0;
    try {
      unfinished = (await this.deps.store.unfinishedRuns()).length;
    } catch (e) {
      this.deps.metrics.storeErrors.inc({ operation: 'read' });
      this.deps.logger.error({ err: errorMessage(e) }, 'cannot list unfinished runs; claiming them when the store answers');
    }
    if (unfinished > 0) this.deps.logger.info({ runs: unfinished }, 'resuming unfinished runs');
    if (!this.pollTimer && this.accepting) {
      this.pollTimer = setInterval(() => this.poll(), this.deps.config.pollMs);
      this.pollTimer.unref();
    }
    this.pump();
    return unfinished;
  }

  /** Runs executing now. */
  get inFlight(): number {
    return this.active.size;
  }

  /**
   * Stops admitting and claiming, lets runs in flight finish for up to `graceMs`, then aborts the
   * rest and gives their leases up; queued and aborted runs stay in the store for the next start
   * or another replica. Resolves when nothing runs.
   */
  async drain(graceMs: number): Promise<{ finished: number; interrupted: number }> {
    this.accepting = false;
    clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    const running = [...this.active.values()];
    const all = Promise.allSettled(running);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([all.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs)))]);
    clearTimeout(timer);
    const interrupted = timedOut ? this.active.size : 0;
    if (timedOut) {
      this.shutdown.abort(new Error('shutting down'));
      await all;
    }
    return { finished: running.length - interrupted, interrupted };
  }

  private poll(): void {
    this.pump();
    this.deps.store.unfinishedRuns().then(
      (runs) => this.deps.metrics.runsQueued.set(Math.max(0, runs.length - this.active.size)),
      () => this.deps.metrics.storeErrors.inc({ operation: 'read' }),
    );
  }

  /** Claims runs while there is room (groups running here left out; the store keeps one per group across replicas). */
  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    void (async () => {
      try {
        do {
          this.pumpAgain = false;
          while (this.accepting && this.active.size < this.deps.config.maxConcurrentRuns) {
            let claimed: Claimed | undefined;
            try {
              claimed = await this.deps.store.claimNext(this.deps.config.leaseMs, this.busyGroups);
            } catch (e) {
              this.deps.metrics.storeErrors.inc({ operation: 'claim' });
              this.deps.logger.error({ err: errorMessage(e) }, 'cannot claim runs; trying again at the next poll');
              return;
            }
            if (!claimed) break;
            this.start(claimed);
          }
        } while (this.pumpAgain && this.accepting);
      } finally {
        this.pumping = false;
      }
    })();
  }

  private start({ run, lease }: Claimed): void {
    const { id, groupKey } = run;
    this.busyGroups.add(groupKey);
    const kept = keepLease(this.deps.store, lease, this.deps.config.leaseMs, this.now);
    const p = this.execute(run, kept.signal)
      .catch((e) => {
        this.deps.metrics.storeErrors.inc({ operation: 'run' });
        this.deps.logger.error({ runId: id, err: errorMessage(e) }, 'run failed; it stays in the store and is claimed again');
      })
      .finally(async () => {
        await kept.release();
        this.active.delete(id);
        this.busyGroups.delete(groupKey);
        this.deps.metrics.runsInFlight.set(this.active.size);
        this.events.emit(id);
        this.pump();
      });
    this.active.set(id, p);
    this.deps.metrics.runsInFlight.set(this.active.size);
  }

  /** Runs a claimed run; stops where `leaseLost` aborts (another replica has it now) or shutdown does. */
  private async execute(run: RunRecord, leaseLost: AbortSignal): Promise<void> {
    const { store, metrics } = this.deps;
    const logger = this.deps.logger.child({ runId: run.id, groupKey: run.groupKey });
    const signal = AbortSignal.any([this.shutdown.signal, leaseLost]);
    const stopped = (where: string) =>
      leaseLost.aborted
        ? logger.warn({ err: errorMessage(leaseLost.reason) }, `run stopped ${where}: its lease is lost and another replica resumes it`)
        : logger.warn(`run interrupted by shutdown ${where}; it resumes at the next start or on another replica`);
    const attempts = run.attempts;
    const started = this.now();
    const route = pickRoute(this.deps.routes, routingLabels(run.group)) ?? this.deps.fallback;
    logger.info({ trigger: run.trigger, route: route.index, attempt: attempts }, 'run started');

    let diagnostic = run.state === 'notifying' && run.diagnostic ? run.diagnostic : undefined;
    if (!diagnostic && attempts > MAX_RUN_ATTEMPTS) {
      logger.error({ attempts }, 'run interrupted too many times; finishing it without enrichment');
      diagnostic = this.diagnosticOf(run, route, started, [], []);
    }
    if (!diagnostic) {
      const enrichments = await runEnrichers(
        route.enrichers,
        { group: run.group, logger, now: new Date(started) },
        {
          budgetMs: this.deps.config.budgetMs,
          defaultTimeoutMs: this.deps.config.enricherTimeoutMs,
          signal,
          onOutcome: (enricher, outcome, ms) => metrics.enricherDuration.observe({ enricher, outcome }, ms / 1000),
        },
      );
      if (signal.aborted) return stopped('during enrichment');
      let causes: Cause[] = [];
      try {
        causes = this.deps.diagnose(enrichments, run.group);
      } catch (e) {
        logger.error({ err: errorMessage(e) }, 'diagnosis failed; the diagnostic goes out without causes');
      }
      diagnostic = this.diagnosticOf(run, route, started, enrichments, causes);
      await store.setState(run.id, 'notifying', diagnostic, this.now());
    }

    const notifications = await this.notifyAll(run, route, diagnostic, logger, signal);
    if (!notifications) return stopped('while notifying');
    const final: Diagnostic = { ...diagnostic, notifications };
    await store.setState(run.id, 'done', final, this.now());
    const failed = notifications.some((n) => n.status === 'failed');
    metrics.runs.inc({ trigger: run.trigger, outcome: failed ? 'notify_failed' : 'ok' });
    metrics.runDuration.observe({ trigger: run.trigger }, (this.now() - started) / 1000);
    logger.info(
      { durationMs: this.now() - started, causes: final.causes.map((c) => c.id), notifications: notifications.map((n) => `${n.notifier}:${n.status}`) },
      'run finished',
    );
  }

  private diagnosticOf(run: RunRecord, route: CompiledRoute, started: number, enrichments: Enrichment[], causes: Cause[]): Diagnostic {
    const finished = this.now();
    const g = run.group;
    // A resolved alert inside a firing group is another episode: neither its labels nor its start describe this one.
    const first = activeAlerts(g)[0];
    const d: Diagnostic = {
      id: run.id,
      alertname: alertnameOf(g),
      status: g.status,
      groupKey: g.groupKey,
      fingerprints: g.alerts.map((a) => a.fingerprint),
      trigger: run.trigger,
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date(finished).toISOString(),
      durationMs: finished - started,
      enrichments,
      causes,
      notifications: [],
      alert: {
        labels: { ...(first?.labels ?? {}), ...g.commonLabels },
        annotations: { ...(first?.annotations ?? {}), ...g.commonAnnotations },
        startsAt: earliestStart(g) ?? new Date(started).toISOString(),
        ...(g.status === 'resolved' && first ? { endsAt: first.endsAt } : {}),
        ...(first?.generatorURL ? { generatorURL: first.generatorURL } : {}),
        ...(g.externalURL ? { externalURL: g.externalURL } : {}),
        ...grafanaDiagnosticFields(g),
      },
      route: { index: route.index, enrichers: route.enrichers.map((e) => e.name), notifiers: route.notifiers },
      ...(g.truncatedAlerts > 0 ? { truncatedAlerts: g.truncatedAlerts } : {}),
    };
    return redactDeep(d, this.deps.redact);
  }

  /** Runs each notifier with retries; undefined when `stop` (shutdown, lost lease) interrupted it (nothing recorded as failed). */
  private async notifyAll(
    run: RunRecord,
    route: CompiledRoute,
    diagnostic: Diagnostic,
    logger: Logger,
    stop: AbortSignal,
  ): Promise<NotificationOutcome[] | undefined> {
    const { store, metrics } = this.deps;
    if (!run.notify) {
      return route.notifiers.map((n) => ({ notifier: n, status: 'skipped' as const, detail: 'dry run (notify=false)' }));
    }
    const done = await store.notifications(run.id);
    const outcomes = await Promise.all(
      route.notifiers.map(async (name): Promise<NotificationOutcome | undefined> => {
        const previous = done.get(name);
        if (previous && previous.status !== 'failed') return { notifier: name, ...previous };
        const notifier = this.deps.notifiers.get(name);
        if (!notifier) return { notifier: name, status: 'skipped', detail: 'notifier not configured' };
        const nlog = logger.child({ notifier: name });
        const result = await withRetry(
          (attempt, signal) => notifier.notify(diagnostic, { group: run.group, signal, logger: nlog, attempt }),
          this.deps.config.notify,
          {
            signal: stop,
            onRetry: (n, err, waitMs) => nlog.warn({ attempt: n, err: this.deps.redact(errorMessage(err)), waitMs }, 'notifier failed; retrying'),
          },
        );
        if (!result.ok && stop.aborted) return undefined;
        const outcome: NotificationOutcome = result.ok
          ? { notifier: name, status: 'sent', detail: this.deps.redact(result.value) }
          : {
              notifier: name,
              status: 'failed',
              detail: this.deps.redact(`${result.final ? 'final' : 'gave up'} after ${result.attempts} attempt(s): ${errorMessage(result.error)}`),
            };
        await store.recordNotification(run.id, name, outcome.status, outcome.detail, this.now());
        metrics.notifications.inc({ notifier: name, outcome: outcome.status });
        if (!result.ok) nlog.error({ attempts: result.attempts, final: result.final, err: outcome.detail }, 'notifier failed');
        return outcome;
      }),
    );
    if (outcomes.some((o) => o === undefined)) return undefined;
    return outcomes as NotificationOutcome[];
  }
}
