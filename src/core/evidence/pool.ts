import { z } from 'zod';

/**
 * `pool`: the application's connection pools, from Prometheus (src/enrichers/pool/): one entry per
 * pool (its identity and its instances), the saturated pools named, and the numbers of the pools
 * the page is about (the saturated ones, else all) for the rules. Counts are connections or
 * requests, rates per second, times ISO-8601. A number is null where it was not measured; a limit
 * is null where there is none or it is unknown (`limitStatus` says which). Fields added with the
 * per-pool evidence have defaults, so evidence written before them still reads.
 */

const n = z.number().nullable();
export const limitStatusSchema = z.enum(['set', 'unlimited', 'absent', 'ambiguous']);
export const saturationSignalSchema = z.enum(['available', 'waiting', 'timeouts']);
export const poolTrendSchema = z.enum(['climbing', 'flat', 'falling', 'unknown']);

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

/** One pool on one instance. */
export const poolInstanceEvidenceSchema = z.object({ instance: z.string(), ...poolNumbers });
export type PoolInstanceEvidence = z.infer<typeof poolInstanceEvidenceSchema>;

/** One pool: its identity, totals over its instances (limit and available only where every instance has a limit), its instances. */
export const poolEntrySchema = z.object({
  /** For people: the pool's name labels' values (`HikariPool-1`, `app/app`), else its service's name. */
  name: z.string(),
  /** The pool's identity labels without the instance labels. */
  labels: z.record(z.string(), z.string()),
  ...poolNumbers,
  instances: z.array(poolInstanceEvidenceSchema),
  /** Instances where it is saturated. */
  saturatedInstances: z.array(z.string()),
  /** Connections in use (summed over instances), per minute, over the trend part of the window. */
  slopePerMinute: n,
  trend: poolTrendSchema,
});
export type PoolEntry = z.infer<typeof poolEntrySchema>;

/** One instance's pool at the time of the alert (the rules' view of the pools a page is about). */
export const poolInstanceSchema = z.object({
  instance: z.string(),
  active: n,
  idle: n,
  total: n,
  available: n,
  utilization: n,
});

export const poolEvidenceSchema = z.object({
  /** What was read: a layout (src/enrichers/pool/layouts.ts), `mapping` for a hand-written one; null where nothing was found. */
  layout: z.object({ id: z.string(), preset: z.string(), title: z.string() }).nullable().default(null),
  /** The layouts discovery found (ids). */
  present: z.array(z.string()).default([]),
  /** When the numbers were read (the alert's start within the window, else the run's time). */
  at: z.string().nullable().default(null),
  pools: z.array(poolEntrySchema).default([]),
  /** Names of the saturated pools. */
  saturatedPools: z.array(z.string()).default([]),
  /** Any pool saturated (true), every pool measured and none saturated (false), nothing to tell (null). */
  saturated: z.boolean().nullable().default(null),
  /** The numbers below are those of the pools the page is about (the saturated ones, else all). Connections in use. */
  active: n,
  idle: n,
  /** The limit summed over those pools' instances; null where any has none. */
  total: n,
  /** total - active */
  available: n,
  /** active / total, 0..1 */
  utilization: n,
  perInstance: z.array(poolInstanceSchema),
  /** Trend over the window (default 30 min). */
  windowMinutes: z.number(),
  /** When saturation began within the window (the earliest instance), or null if it never did. */
  saturatedSince: z.string().nullable(),
  /** Change of connections in use per minute over the last part of the window (least squares). */
  activeSlopePerMinute: n,
  activeTrend: poolTrendSchema,
  /** Mean time a connection is held, seconds, where the backend exposes it (null otherwise). */
  meanHoldSeconds: n,
  /** Requests waiting for a connection, where exposed. */
  waiting: n.default(null),
  /** Acquire timeouts per second, where exposed. */
  timeoutsPerSecond: n.default(null),
  /** Pool waits or acquire timeouts per second, where exposed (the name from before `timeoutsPerSecond`; the same number). */
  waitingClients: n,
});
export type PoolEvidence = z.infer<typeof poolEvidenceSchema>;
/** Pool evidence as written (the fields with defaults may be left out). */
export type PoolEvidenceInput = z.input<typeof poolEvidenceSchema>;
