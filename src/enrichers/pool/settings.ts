import { z } from 'zod';
import { labelMatcherSchema, labelNameSchema, metricNameSchema } from '../../sources/promql';
import { PRESETS } from './layouts';
import { mappingSchema } from './mapping';

/** Points a trend query aims for over the window (30 min at 15 s steps). */
export const TREND_POINTS = 120;
/** Smallest step of the trend query: a typical scrape interval, so each step sees a new sample. */
export const MIN_STEP_SECONDS = 15;

/** `enrichers.pool` and a route's options for it. Parsing `{}` gives the defaults: discover the layout. */
export const settingsSchema = z.strictObject({
  /**
   * Which pool metrics to read: `auto` finds the layout in Prometheus (one lookup of the known
   * names); a preset reads that library's series (src/enrichers/pool/layouts.ts).
   */
  preset: z.enum(['auto', ...PRESETS]).default('auto'),
  /** PromQL per quantity (src/enrichers/pool/mapping.ts): replaces the layout's; with `auto` and `inUse` set, read alone. */
  mapping: mappingSchema.optional(),
  /** Labels naming one pool within an instance; default: the layout's (HikariCP `pool`, Go `db_name`, ...). */
  poolLabels: z.array(labelNameSchema).optional(),
  /** The runbook layout's gauge, one series per state. */
  metric: metricNameSchema.default('db_connection_pool_size'),
  /** The runbook layout's state label. */
  stateLabel: labelNameSchema.default('state'),
  /** The state label's values for active, idle and total (the pool's max) connections. */
  states: z
    .strictObject({ active: z.string().min(1).default('active'), idle: z.string().min(1).default('idle'), total: z.string().min(1).default('total') })
    .prefault({}),
  /** Extra matchers for every query, e.g. `{name: job, value: api}`. */
  matchers: z.array(labelMatcherSchema).default([]),
  /** Alert labels copied into every query (e.g. service, namespace), escaped. */
  copyLabels: z.array(labelNameSchema).default([]),
  /** Labels that name an instance, first present wins. */
  instanceLabels: z.array(labelNameSchema).default(['pod', 'instance']),
  windowMinutes: z
    .number()
    .positive()
    .max(24 * 60)
    .default(30),
  /** The last part of the window the slope of connections in use is fitted over. */
  trendMinutes: z.number().positive().default(10),
  /** Step of the trend query; default: the window / 120, at least 15 s. */
  stepSeconds: z.number().positive().optional(),
  /** Saturation: fewer available connections than this. */
  availableThreshold: z.number().nonnegative().default(2),
  /** A slope within ±this (connections per minute) is "flat". */
  flatSlopePerMinute: z.number().nonnegative().default(0.1),
  /** `mapping.holdSeconds` for the runbook layout and a hand-written mapping (kept from before presets); `mapping.holdSeconds` wins. */
  holdTimeQuery: z.string().min(1).nullable().default(null),
  /** `mapping.timeouts` (waits or acquire timeouts per second) for the runbook layout and a hand-written mapping; `mapping.timeouts` wins. */
  waitingQuery: z.string().min(1).nullable().default(null),
  /** The enricher's own timeout; default: the pipeline's. */
  timeoutMs: z.number().int().positive().optional(),
});
export type PoolSettings = z.infer<typeof settingsSchema>;
