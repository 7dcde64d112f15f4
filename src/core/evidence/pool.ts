import { z } from 'zod';

/** One instance's pool at the time of the alert. */
export const poolInstanceSchema = z.object({
  instance: z.string(),
  active: z.number().nullable(),
  idle: z.number().nullable(),
  total: z.number().nullable(),
  available: z.number().nullable(),
  utilization: z.number().nullable(),
});

/** `pool`: the application's connection pool, from Prometheus. */
export const poolEvidenceSchema = z.object({
  /** Sum over instances at the time of the alert. */
  active: z.number().nullable(),
  idle: z.number().nullable(),
  total: z.number().nullable(),
  /** total - active */
  available: z.number().nullable(),
  /** active / total, 0..1 */
  utilization: z.number().nullable(),
  perInstance: z.array(poolInstanceSchema),
  /** Trend over the window (default 30 min). */
  windowMinutes: z.number(),
  /** When available first dropped below the threshold within the window, or null if it never did. */
  saturatedSince: z.string().nullable(),
  /** Change of active connections per minute over the last part of the window (least squares). */
  activeSlopePerMinute: z.number().nullable(),
  activeTrend: z.enum(['climbing', 'flat', 'falling', 'unknown']),
  /** Mean time a connection is held, seconds, where the backend exposes it (null otherwise). */
  meanHoldSeconds: z.number().nullable(),
  /** Pool wait/acquire timeouts per second, where exposed (null otherwise). */
  waitingClients: z.number().nullable(),
});
export type PoolEvidence = z.infer<typeof poolEvidenceSchema>;
