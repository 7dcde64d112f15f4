import { z } from 'zod';

/** `server`: where and how the HTTP server listens. */
export const serverConfigSchema = z.strictObject({
  host: z.string().min(1).optional(),
  port: z.number().int().min(0).max(65535).default(8080),
  /** Larger bodies get 413 (docs/contract.md: default 1 MiB). */
  bodyLimitBytes: z
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  /** More alerts in one notification get 400; Alertmanager's `max_alerts` caps what it sends. */
  maxAlerts: z.number().int().positive().default(1000),
  auth: z.strictObject({ token: z.string().min(16, 'must be at least 16 characters').optional() }).default({}),
  /** Whole-request deadline (slow-loris bound), Node's `requestTimeout`. */
  requestTimeoutMs: z.number().int().positive().default(10_000),
  /** Headers must arrive within this (Node's `headersTimeout`). */
  headersTimeoutMs: z.number().int().positive().default(5_000),
  keepAliveTimeoutMs: z.number().int().positive().default(5_000),
  /** Requests per minute per client on /enrich and the Slack endpoints. */
  rateLimitPerMinute: z.number().int().positive().default(60),
});
export type ServerConfig = z.infer<typeof serverConfigSchema>;
