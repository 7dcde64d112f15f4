import { z } from 'zod';

/** `pipeline`: budgets, cool-downs and retry bounds of a run. */
export const pipelineConfigSchema = z.strictObject({
  /** Overall budget for all enrichers of a run. */
  budgetMs: z.number().int().positive().default(20_000),
  /** An enricher's timeout unless its source sets its own. */
  enricherTimeoutMs: z.number().int().positive().default(10_000),
  /**
   * A repeat of the same notification within this window is a duplicate (Alertmanager retries,
   * HA peers, repeats), and a group runs at most once per window and status: newer notifications
   * of a group join its last run (Alertmanager's group_interval defaults to 5 minutes too).
   */
  cooldownMs: z
    .number()
    .int()
    .nonnegative()
    .default(5 * 60_000),
  /** Manual and Slack re-runs of the same alert within this window coalesce into one run. */
  rerunCooldownMs: z.number().int().nonnegative().default(30_000),
  /** Runs executing at once; the rest wait in the store's queue. */
  maxConcurrentRuns: z.number().int().positive().default(4),
  notify: z
    .strictObject({
      /** All attempts of one notifier in one run must end within this. */
      budgetMs: z.number().int().positive().default(120_000),
      maxAttempts: z.number().int().positive().default(10),
      initialBackoffMs: z.number().int().positive().default(500),
      maxBackoffMs: z.number().int().positive().default(15_000),
    })
    .default({ budgetMs: 120_000, maxAttempts: 10, initialBackoffMs: 500, maxBackoffMs: 15_000 }),
  /**
   * A run's claim on the store's queue lasts this long unless renewed (every third of it while the
   * run works): a replica that dies has its runs taken over this long after its last renewal.
   */
  leaseMs: z.number().int().min(1_000).default(15_000),
  /** How often the pipeline looks for runs to claim that another replica admitted or left. */
  pollMs: z.number().int().min(50).default(1_000),
  /** On SIGTERM, runs in flight get this long to finish; the rest resume at the next start. */
  shutdownGraceMs: z.number().int().nonnegative().default(10_000),
});
export type PipelineConfig = z.infer<typeof pipelineConfigSchema>;
