import { z } from 'zod';

const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** `enrichers.logs` settings (a route's `options` too). */
export const logsSettingsSchema = z.strictObject({
  /** A JavaScript/RE2-compatible pattern (no inline flags): lines that match are kept. */
  filter: z
    .string()
    .min(1)
    .default('connection|pool|database')
    .refine((p) => {
      try {
        new RegExp(p);
        return true;
      } catch {
        return false;
      }
    }, 'must be a valid regular expression'),
  caseInsensitive: z.boolean().default(true),
  /**
   * Also keep lines naming a runbook signal the filter misses ("sorry, too many clients
   * already", "connect ECONNREFUSED", "could not connect"): SIGNAL_PATTERN, case-insensitive.
   */
  matchSignals: z.boolean().default(true),
  /** An alert label whose value picks one configured log source by name; null: always all. */
  sourceLabel: z.string().regex(labelName, 'must be a label name').nullable().default('service'),
  /** Newest matching lines shown whole. */
  newestLines: z.number().int().min(0).max(50).default(10),
  /** Groups kept (most frequent first). */
  maxGroups: z.number().int().min(1).max(100).default(20),
  /** Cap on each line shown whole, characters. */
  lineMax: z.number().int().min(80).max(10_000).default(500),
  /** The enricher's own timeout; default: the pipeline's. */
  timeoutMs: z.number().int().positive().optional(),
});
export type LogsSettings = z.infer<typeof logsSettingsSchema>;
