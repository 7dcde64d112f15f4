import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The receiver's own metrics, on a registry of their own (no global state). */
export interface Metrics {
  registry: Registry;
  webhooks: Counter<'outcome'>;
  duplicates: Counter<'trigger'>;
  runs: Counter<'trigger' | 'outcome'>;
  runDuration: Histogram<'trigger'>;
  enricherDuration: Histogram<'enricher' | 'outcome'>;
  notifications: Counter<'notifier' | 'outcome'>;
  runsInFlight: Gauge;
  runsQueued: Gauge;
  storeErrors: Counter<'operation'>;
}

/** Creates the metrics on a fresh registry, with Node's default process metrics. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pagefirst_' });
  const r = [registry];
  return {
    registry,
    webhooks: new Counter({
      name: 'pagefirst_webhooks_received_total',
      help: 'Webhook requests by outcome (accepted, duplicate, invalid, unauthorized, too_large, error).',
      labelNames: ['outcome'],
      registers: r,
    }),
    duplicates: new Counter({
      name: 'pagefirst_duplicates_total',
      help: 'Notifications recognised as duplicates and not run again.',
      labelNames: ['trigger'],
      registers: r,
    }),
    runs: new Counter({
      name: 'pagefirst_runs_total',
      help: 'Finished runs by trigger and outcome (ok, notify_failed).',
      labelNames: ['trigger', 'outcome'],
      registers: r,
    }),
    runDuration: new Histogram({
      name: 'pagefirst_run_duration_seconds',
      help: 'From a run starting to its notifiers finishing.',
      labelNames: ['trigger'],
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120],
      registers: r,
    }),
    enricherDuration: new Histogram({
      name: 'pagefirst_enricher_duration_seconds',
      help: 'Enricher duration by enricher and outcome (ok, error, timeout, skipped).',
      labelNames: ['enricher', 'outcome'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20],
      registers: r,
    }),
    notifications: new Counter({
      name: 'pagefirst_notifications_total',
      help: 'Notifier outcomes (sent, failed, skipped).',
      labelNames: ['notifier', 'outcome'],
      registers: r,
    }),
    runsInFlight: new Gauge({ name: 'pagefirst_runs_in_flight', help: 'Runs executing now.', registers: r }),
    runsQueued: new Gauge({ name: 'pagefirst_runs_queued', help: 'Runs accepted and waiting to execute.', registers: r }),
    storeErrors: new Counter({ name: 'pagefirst_store_errors_total', help: 'State store operations that failed.', labelNames: ['operation'], registers: r }),
  };
}
