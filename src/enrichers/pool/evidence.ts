import { z } from 'zod';

/**
 * The `pool` enricher's evidence: one entry per pool (its identity and its instances), the
 * saturated pools named, and the numbers of the pools the page is about (the saturated ones, else
 * all) for the diagnosis rules. Counts are connections or requests; rates per second; times ISO-8601.
 * A number is null where it was not measured; a limit is null where there is none or it is unknown
 * (`limitStatus` says which).
 */

const n = z.number().nullable();
export const limitStatusSchema = z.enum(['set', 'unlimited', 'absent', 'ambiguous']);
export const saturationSignalSchema = z.enum(['available', 'waiting', 'timeouts']);
export const trendSchema = z.enum(['climbing', 'flat', 'falling', 'unknown']);

/** The numbers of one pool (or one pool on one instance) at the reading time. */
const poolNumbers = {
  /** Connections checked out. */
  inUse: n,
  idle: n,
  /** The most connections the pool may open, where `limitStatus` is `set`. */
  limit: n,
  /** `set`; `unlimited` (the limit series says 0: no limit); `absent` (no limit series); `ambiguous` (several values for one pool). */
  limitStatus: limitStatusSchema,
  /** limit - inUse, never below 0. */
  available: n,
  /** inUse / limit, 0..1. */
  utilization: n,
  /** Requests (threads, goroutines, clients) waiting for a connection. */
  waiting: n,
  /** Acquisitions that gave up waiting, per second (over the preset's rate window). */
  timeoutsPerSecond: n,
  /** Mean seconds a connection is held per checkout. */
  holdSeconds: n,
  /** true where a signal says so, false where a measure says not, null where nothing tells. */
  saturated: z.boolean().nullable(),
  signals: z.array(saturationSignalSchema),
  /** The first step of the window where fewer than the threshold were available or requests waited. */
  saturatedSince: z.string().nullable(),
};

export const poolInstanceEvidenceSchema = z.object({ instance: z.string(), ...poolNumbers });
export type PoolInstanceEvidence = z.infer<typeof poolInstanceEvidenceSchema>;

export const poolEntrySchema = z.object({
  /** For people: the pool's name labels' values (`HikariPool-1`, `app/app`), else its service's name. */
  name: z.string(),
  /** The pool's identity labels without the instance labels. */
  labels: z.record(z.string(), z.string()),
  /** Totals over its instances (limit and available only where every instance has a limit). */
  ...poolNumbers,
  instances: z.array(poolInstanceEvidenceSchema),
  /** Instances where it is saturated. */
  saturatedInstances: z.array(z.string()),
  /** Connections in use (summed over instances), per minute, over the trend part of the window. */
  slopePerMinute: n,
  trend: trendSchema,
});
export type PoolEntry = z.infer<typeof poolEntrySchema>;

export const poolEvidenceSchema = z.object({
  /** What was read: a layout (src/enrichers/pool/layouts.ts), `mapping` for a hand-written one, null where nothing was found. */
  layout: z.object({ id: z.string(), preset: z.string(), title: z.string() }).nullable(),
  /** The layouts discovery found (ids), and the names it looked for where it found none. */
  present: z.array(z.string()),
  windowMinutes: z.number(),
  /** When the numbers were read (the alert's start within the window, else the run's time). */
  at: z.string(),
  pools: z.array(poolEntrySchema),
  /** Names of the saturated pools. */
  saturatedPools: z.array(z.string()),
  /** Any pool saturated (true), every pool measured and none saturated (false), nothing to tell (null). */
  saturated: z.boolean().nullable(),
  /** Numbers of the pools the page is about (the saturated ones, else all), for the rules: */
  active: n,
  idle: n,
  /** The limit summed over those pools' instances; null where any has none. */
  total: n,
  available: n,
  utilization: n,
  perInstance: z.array(z.object({ instance: z.string(), active: n, idle: n, total: n, available: n, utilization: n })),
  saturatedSince: z.string().nullable(),
  activeSlopePerMinute: n,
  activeTrend: trendSchema,
  meanHoldSeconds: n,
  /** Requests waiting for a connection. */
  waiting: n,
  timeoutsPerSecond: n,
  /** Kept for readers of earlier evidence: the same as timeoutsPerSecond. */
  waitingClients: n,
});
export type PoolEvidenceV2 = z.infer<typeof poolEvidenceSchema>;
