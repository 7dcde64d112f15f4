import { z } from 'zod';

/** The embedded store's file when neither `state.path` nor `state.url` is set. */
export const DEFAULT_STATE_PATH = './state.sqlite';

/**
 * `state`: where the receiver keeps its runs, keys, threads and queue. Either `path`, the
 * embedded SQLite file (the default, for one process), or `url`, a PostgreSQL database shared by
 * several replicas; not both.
 */
export const stateConfigSchema = z
  .strictObject({
    /** File path, or ":memory:" (nothing survives a restart). Default DEFAULT_STATE_PATH unless `url` is set. */
    path: z.string().min(1).optional(),
    /** `postgres://user:pass@host:5432/db`: the shared store (a database of its own, never the monitored one). */
    url: z
      .string()
      .regex(/^postgres(ql)?:\/\/[^/]/, 'must be a postgres:// or postgresql:// URL')
      .optional(),
    /** Runs, diagnostics and keys older than this are deleted. */
    retentionDays: z.number().positive().default(14),
    /** With `url`: connections to the state database at most, per replica. */
    poolSize: z.number().int().min(2).max(50).default(5),
    /** With `url`: deadline to get a connection (a new one, or a free one from a busy pool). */
    connectTimeoutMs: z.number().int().positive().default(2_000),
    /** With `url`: `statement_timeout` and `lock_timeout` of every statement on the state database. */
    statementTimeoutMs: z.number().int().positive().default(5_000),
  })
  .superRefine((v, ctx) => {
    if (v.path !== undefined && v.url !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'set either state.path (the embedded SQLite file) or state.url (a shared PostgreSQL), not both' });
    }
  })
  .transform((v) => ({ ...v, path: v.path ?? DEFAULT_STATE_PATH }));
export type StateConfig = z.infer<typeof stateConfigSchema>;
