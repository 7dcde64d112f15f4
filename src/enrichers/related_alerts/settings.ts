import { z } from 'zod';
import { labelNameSchema } from '../../sources/promql';

/** The runbook's related alerts. */
export const RUNBOOK_RELATED_ALERTS = ['p99_latency_high', 'error_rate_high', 'cache_hit_rate_low'] as const;

/** `enrichers.related_alerts` and a route's options for it. Parsing `{}` gives the runbook's defaults. */
export const settingsSchema = z.strictObject({
  alertnames: z.array(z.string().min(1)).default([...RUNBOOK_RELATED_ALERTS]),
  /** Labels a related alert must share with this one (e.g. service); default: none. */
  matchLabels: z.array(labelNameSchema).default([]),
  /** How far back "fired before" looks. */
  historyHours: z
    .number()
    .positive()
    .max(24 * 30)
    .default(24),
  timeoutMs: z.number().int().positive().optional(),
});
export type RelatedAlertsSettings = z.infer<typeof settingsSchema>;
