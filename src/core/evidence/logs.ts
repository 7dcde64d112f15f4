import { z } from 'zod';

/** Which runbook signal a log shape is: used by the rules. */
export const LOG_SIGNALS = ['too_many_clients', 'pool_timeout', 'connection_refused', 'connection_error', 'other'] as const;

/** Matching lines of one shape. */
export const logGroupSchema = z.object({
  /** The line with numbers, ids, quoted strings and addresses replaced. */
  shape: z.string(),
  count: z.number().nonnegative(),
  firstSeen: z.string().nullable(),
  lastSeen: z.string().nullable(),
  signal: z.enum(LOG_SIGNALS),
});
export type LogGroup = z.infer<typeof logGroupSchema>;

/** `logs`: matching lines from the backend's logs. */
export const logsEvidenceSchema = z.object({
  sources: z.array(
    z.object({
      name: z.string(),
      kind: z.enum(['docker', 'file', 'loki', 'kubernetes']),
      scanned: z.number(),
      matched: z.number(),
      error: z.string().nullable(),
      problems: z.array(z.string()).optional(),
    }),
  ),
  matched: z.number(),
  groups: z.array(logGroupSchema),
  /** Count of matched lines per signal. */
  signals: z.object({
    too_many_clients: z.number().nonnegative(),
    pool_timeout: z.number().nonnegative(),
    connection_refused: z.number().nonnegative(),
    connection_error: z.number().nonnegative(),
    other: z.number().nonnegative(),
  }),
});
export type LogsEvidence = z.infer<typeof logsEvidenceSchema>;
