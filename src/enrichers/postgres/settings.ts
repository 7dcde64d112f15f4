import { z } from 'zod';
import { labelNameSchema } from '../../core/labels';

/** `enrichers.postgres` settings (a route's `options` too). */
export const postgresSettingsSchema = z.strictObject({
  /** Show query text as it is instead of normalised (literals replaced). */
  rawQueries: z.boolean().default(false),
  /** Rows in each list (long-running, oldest transactions, idle in transaction, blockers, statements). */
  topN: z.number().int().min(1).max(50).default(5),
  /** Cap on each query text, characters. */
  queryTextMax: z.number().int().min(40).max(10_000).default(300),
  /** An alert label whose value picks one configured database by name; null: always all. */
  databaseLabel: labelNameSchema.nullable().default('database'),
  /** The enricher's own timeout; default: the pipeline's. */
  timeoutMs: z.number().int().positive().optional(),
});
export type PostgresSettings = z.infer<typeof postgresSettingsSchema>;
