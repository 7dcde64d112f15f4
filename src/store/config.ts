import { z } from 'zod';

/** `state`: the embedded SQLite store. */
export const stateConfigSchema = z.strictObject({
  /** File path, or ":memory:" (nothing survives a restart). */
  path: z.string().min(1).default('./state.sqlite'),
  /** Runs, diagnostics and keys older than this are deleted. */
  retentionDays: z.number().positive().default(14),
});
export type StateConfig = z.infer<typeof stateConfigSchema>;
