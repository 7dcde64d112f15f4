import { z } from 'zod';

/** `enrichers.pgbouncer` settings (a route's `options` too). */
export const pgbouncerSettingsSchema = z.strictObject({
  /** Rows of waiting clients by application per pool. */
  topN: z.number().int().min(1).max(50).default(5),
  /** The enricher's own timeout; default: the pipeline's. */
  timeoutMs: z.number().int().positive().optional(),
});
export type PgBouncerSettings = z.infer<typeof pgbouncerSettingsSchema>;
