import type { AlertGroup } from '../../src/core/alert';
import type { Enricher } from '../../src/core/enricher';
import type { Notifier } from '../../src/core/notifier';
import { createMetrics } from '../../src/metrics';
import { Pipeline, type CompiledRoute } from '../../src/pipeline/pipeline';
import { pipelineConfigSchema, type PipelineConfig } from '../../src/pipeline/config';
import { toAlertGroup, webhookPayloadSchema } from '../../src/alertmanager/payload';
import { SqliteStore } from '../../src/store/sqlite';
import { Store } from '../../src/store/store';
import type { StateStore } from '../../src/store/types';
import { diagnose } from '../../src/diagnosis';
import { capturingLogger } from './capture';
import { firingPayload } from './fixtures';

/** A pipeline over an in-memory (or given) SQLite store, or over `stateStore` when given, with the given enrichers and notifiers on one catch-all route. */
export function testPipeline(
  opts: { enrichers?: Enricher[]; notifiers?: Notifier[]; config?: Partial<PipelineConfig>; store?: Store; stateStore?: StateStore; secrets?: string[] } = {},
) {
  const store = opts.store ?? new Store(':memory:');
  const log = capturingLogger(opts.secrets ?? []);
  const notifiers = opts.notifiers ?? [];
  const route: CompiledRoute = { index: 0, matches: () => true, enrichers: opts.enrichers ?? [], notifiers: notifiers.map((n) => n.name) };
  const metrics = createMetrics();
  const config = { ...pipelineConfigSchema.parse({}), ...opts.config };
  const pipeline = new Pipeline({
    config,
    store: opts.stateStore ?? new SqliteStore(store),
    routes: [route],
    fallback: { ...route, index: -1 },
    notifiers: new Map(notifiers.map((n) => [n.name, n])),
    diagnose,
    metrics,
    logger: log.logger,
    redact: log.redact,
  });
  return { pipeline, store, metrics, log };
}

/** The fixture as an AlertGroup, optionally changed first. */
export function fixtureGroup(mutate: (p: any) => void = () => {}): AlertGroup {
  const p = firingPayload();
  mutate(p);
  return toAlertGroup(webhookPayloadSchema(10_000).parse(p));
}

/** A notifier that records what it was given and can be told to fail. */
export function recordingNotifier(name = 'recorder', behaviour: (attempt: number) => void = () => {}) {
  const calls: Array<{ id: string; attempt: number; causes: number }> = [];
  const notifier: Notifier = {
    name,
    async notify(d, ctx) {
      calls.push({ id: d.id, attempt: ctx.attempt, causes: d.causes.length });
      behaviour(ctx.attempt);
      return `delivered ${d.id}`;
    },
  };
  return { notifier, calls };
}
