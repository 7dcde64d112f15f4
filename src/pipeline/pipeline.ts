import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { activeAlerts, alertnameOf, earliestStart, type AlertGroup } from '../core/alert';
import type { Enricher } from '../core/enricher';
import type { Cause, Diagnostic, Enrichment, NotificationOutcome, Trigger } from '../core/diagnostic';
import type { Notifier } from '../core/notifier';
import type { Redactor } from '../logger';
import { redactDeep } from '../logger';
import type { Metrics } from '../metrics';
import type { AdmitRequest, AdmitResult, RunRecord, Store } from '../store/store';
import type { PipelineConfig } from './config';
import { runEnrichers, errorMessage } from './enrich';
import { notificationKey, rerunKey } from './idempotency';
import { withRetry } from './retry';
import { pickRoute, type RouteMatcher } from './routes';

/** A route ready to run: its matcher, its enricher instances and the names of its notifiers. */
export interface CompiledRoute extends RouteMatcher {
  enrichers: Enricher[];
  notifiers: string[];
}

export interface PipelineDeps {
  config: PipelineConfig;
  store: Store;
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

/** The labels a group is routed by: its common labels, else its first alert's. */
export function routingLabels(group: AlertGroup): Record<string, string> {
  return Object.keys(group.commonLabels).length > 0 ? group.commonLabels : (group.alerts[0]?.labels ?? {});
}

/**
 * The pipeline: admits notifications durably (deduplicated, coalesced), then runs them in the
 * background: enrichers in parallel under their timeouts and the run's budget, the diagnosis,
 * then the notifiers with bounded retries. At most `maxConcurrentRuns` at once and one at a
 * time per alert group. Runs left unfinished (crash, shutdown) resume with `resume()`.
 */
export class Pipeline {
  private readonly queue: Array<{ id: string; groupKey: string }> = [];
  private readonly queued = new Set<string>();
  private readonly active = new Map<string, Promise<void>>();
  private readonly busyGroups = new Set<string>();
  private readonly events = new EventEmitter();
  private readonly shutdown = new AbortController();
  private readonly batch: Array<{ req: AdmitRequest; resolve: (r: AdmitResult) => void; reject: (e: unknown) => void }> = [];
  private accepting = true;
  private readonly now: () => number;

  constructor(private readonly deps: PipelineDeps) {
    this.now = deps.now ?? Date.now;
    this.events.setMaxListeners(0);
  }

  /**
   * Writes the run (or finds its duplicate) durably, then schedules it. Requests arriving in the
   * same event-loop turn are written in one transaction (group commit) before any of them
   * resolves. Rejects with StoreError when the store cannot be written, and Error when shutting down.
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
      if (this.batch.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.batch.splice(0);
    let results: AdmitResult[];
    try {
      results = this.deps.store.admitBatch(batch.map((b) => b.req));
    } catch (e) {
      for (const b of batch) b.reject(e);
      return;
    }
    batch.forEach((b, i) => {
      const result = results[i]!;
      const { group, trigger } = b.req;
      if (result.duplicate) this.deps.metrics.duplicates.inc({ trigger });
      else this.schedule(result.id, group.groupKey);
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
  }

  /** Resolves with the run's Diagnostic once it is done; rejects when `signal` aborts or the run is unknown. */
  wait(runId: string, signal?: AbortSignal): Promise<Diagnostic> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const run = this.deps.store.getRun(runId);
        if (!run) return finish(() => reject(new Error(`unknown run ${runId}`)));
        if (run.state === 'done' && run.diagnostic) return finish(() => resolve(run.diagnostic!));
      };
      const onAbort = () => finish(() => reject(signal?.reason ?? new Error('aborted')));
      const finish = (f: () => void) => {
        this.events.off(runId, check);
        signal?.removeEventListener('abort', onAbort);
        f();
      };
      this.events.on(runId, check);
      signal?.addEventListener('abort', onAbort, { once: true });
      check();
    });
  }

  /** Schedules every run the store holds unfinished (after a crash or shutdown); returns how many. */
  resume(): number {
    const runs = this.deps.store.unfinishedRuns();
    for (const r of runs) this.schedule(r.id, r.groupKey);
    if (runs.length > 0) this.deps.logger.info({ runs: runs.length }, 'resuming unfinished runs');
    return runs.length;
  }

  /** Runs executing now. */
  get inFlight(): number {
    return this.active.size;
  }

  /**
   * Stops admitting, lets runs in flight finish for up to `graceMs`, then aborts the rest; queued
   * and aborted runs stay in the store for the next start. Resolves when nothing runs.
   */
  async drain(graceMs: number): Promise<{ finished: number; interrupted: number }> {
    this.accepting = false;
    this.queue.length = 0;
    this.queued.clear();
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

  private schedule(id: string, groupKey: string): void {
    if (this.queued.has(id) || this.active.has(id) || !this.accepting) return;
    this.queued.add(id);
    this.queue.push({ id, groupKey });
    this.deps.metrics.runsQueued.set(this.queue.length);
    setImmediate(() => this.pump());
  }

  /** Starts queued runs, oldest first, while there is room and their group is not running; reads a run from the store only to start it. */
  private pump(): void {
    for (let i = 0; i < this.queue.length && this.active.size < this.deps.config.maxConcurrentRuns;) {
      const { id, groupKey } = this.queue[i]!;
      if (this.busyGroups.has(groupKey)) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.queued.delete(id);
      const run = this.safeGetRun(id);
      if (!run || run.state === 'done') continue;
      this.busyGroups.add(groupKey);
      const p = this.execute(run)
        .catch((e) => {
          this.deps.metrics.storeErrors.inc({ operation: 'run' });
          this.deps.logger.error({ runId: id, err: errorMessage(e) }, 'run failed; it stays in the store and resumes at the next start');
        })
        .finally(() => {
          this.active.delete(id);
          this.busyGroups.delete(groupKey);
          this.deps.metrics.runsInFlight.set(this.active.size);
          this.events.emit(id);
          this.pump();
        });
      this.active.set(id, p);
      this.deps.metrics.runsInFlight.set(this.active.size);
    }
    this.deps.metrics.runsQueued.set(this.queue.length);
  }

  private safeGetRun(id: string): RunRecord | undefined {
    try {
      return this.deps.store.getRun(id);
    } catch (e) {
      this.deps.metrics.storeErrors.inc({ operation: 'read' });
      this.deps.logger.error({ runId: id, err: errorMessage(e) }, 'cannot read run');
      return undefined;
    }
  }

  private async execute(run: RunRecord): Promise<void> {
    const { store, metrics } = this.deps;
    const logger = this.deps.logger.child({ runId: run.id, groupKey: run.groupKey });
    if (!store.claim(run.id, this.now())) return;
    const attempts = run.attempts + 1;
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
          signal: this.shutdown.signal,
          onOutcome: (enricher, outcome, ms) => metrics.enricherDuration.observe({ enricher, outcome }, ms / 1000),
        },
      );
      if (this.shutdown.signal.aborted) return logger.warn('run interrupted by shutdown during enrichment; it resumes at the next start');
      let causes: Cause[] = [];
      try {
        causes = this.deps.diagnose(enrichments, run.group);
      } catch (e) {
        logger.error({ err: errorMessage(e) }, 'diagnosis failed; the diagnostic goes out without causes');
      }
      diagnostic = this.diagnosticOf(run, route, started, enrichments, causes);
      store.setState(run.id, 'notifying', diagnostic, this.now());
    }

    const notifications = await this.notifyAll(run, route, diagnostic, logger);
    if (!notifications) return logger.warn('run interrupted by shutdown while notifying; it resumes at the next start');
    const final: Diagnostic = { ...diagnostic, notifications };
    store.setState(run.id, 'done', final, this.now());
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
      },
      route: { index: route.index, enrichers: route.enrichers.map((e) => e.name), notifiers: route.notifiers },
    };
    return redactDeep(d, this.deps.redact);
  }

  /** Runs each notifier with retries; undefined when shutdown interrupted it (nothing recorded as failed). */
  private async notifyAll(run: RunRecord, route: CompiledRoute, diagnostic: Diagnostic, logger: Logger): Promise<NotificationOutcome[] | undefined> {
    const { store, metrics } = this.deps;
    if (!run.notify) {
      return route.notifiers.map((n) => ({ notifier: n, status: 'skipped' as const, detail: 'dry run (notify=false)' }));
    }
    const done = store.notifications(run.id);
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
            signal: this.shutdown.signal,
            onRetry: (n, err, waitMs) => nlog.warn({ attempt: n, err: this.deps.redact(errorMessage(err)), waitMs }, 'notifier failed; retrying'),
          },
        );
        if (!result.ok && this.shutdown.signal.aborted) return undefined;
        const outcome: NotificationOutcome = result.ok
          ? { notifier: name, status: 'sent', detail: this.deps.redact(result.value) }
          : {
              notifier: name,
              status: 'failed',
              detail: this.deps.redact(`${result.final ? 'final' : 'gave up'} after ${result.attempts} attempt(s): ${errorMessage(result.error)}`),
            };
        store.recordNotification(run.id, name, outcome.status, outcome.detail, this.now());
        metrics.notifications.inc({ notifier: name, outcome: outcome.status });
        if (!result.ok) nlog.error({ attempts: result.attempts, final: result.final, err: outcome.detail }, 'notifier failed');
        return outcome;
      }),
    );
    if (outcomes.some((o) => o === undefined)) return undefined;
    return outcomes as NotificationOutcome[];
  }
}
