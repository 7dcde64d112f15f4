import { z } from 'zod';
import { labelNameSchema } from '../../core/labels';
import { regexSourceSchema } from '../../core/zod';

/** `enrichers.logs` settings (a route's `options` too). */
export const logsSettingsSchema = z.strictObject({
  /** A JavaScript/RE2-compatible pattern (no inline flags): events whose message or error matches are kept. */
  filter: regexSourceSchema.default('connection|pool|database'),
  caseInsensitive: z.boolean().default(true),
  /**
   * Also keep events that a row of the signature table recognises although the filter misses
   * them ("sorry, too many clients already", "context deadline exceeded").
   */
  matchSignals: z.boolean().default(true),
  /** An alert label whose value picks one configured log source by name; null: always all. */
  sourceLabel: labelNameSchema.nullable().default('service'),
  /**
   * Events older than this many minutes before the alert started (its earliest active alert's
   * startsAt) are left out, as are those more than CLOCK_SKEW_MS after the run.
   */
  windowMinutes: z.number().positive().max(1_440).default(30),
  /** Newest matching events shown whole. */
  newestLines: z.number().int().min(0).max(50).default(10),
  /** Groups of events by shape kept (most frequent first). */
  maxGroups: z.number().int().min(1).max(100).default(20),
  /** Cap on each line shown, characters. */
  lineMax: z.number().int().min(80).max(10_000).default(500),
  /** The enricher's own timeout; default: the pipeline's. */
  timeoutMs: z.number().int().positive().optional(),
});
export type LogsSettings = z.infer<typeof logsSettingsSchema>;
