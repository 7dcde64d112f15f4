import { z } from 'zod';

/** `links`: base URLs used to build links in messages. */
export const linksConfigSchema = z.strictObject({
  grafana: z.url().optional(),
  /** A Grafana dashboard path or full URL for the "Database Health" dashboard. */
  grafanaDashboard: z.string().optional(),
  runbook: z.url().optional(),
  prometheus: z.url().optional(),
  alertmanager: z.url().optional(),
});
export type LinksConfig = z.infer<typeof linksConfigSchema>;
