import { z } from 'zod';

/** `slack`: the Slack app. Without a token, diagnostics go to the console notifier. */
export const slackConfigSchema = z.strictObject({
  token: z.string().regex(/^xox[a-z]-/, 'must be a Slack token (xoxb-...)').optional(),
  apiUrl: z.url().default('https://slack.com/api/'),
  /** Where Alertmanager's Slack receiver posts pages; we reply in their threads. */
  alertsChannel: z.string().min(1).optional(),
  /** Where the incident summary goes. */
  incidentChannel: z.string().min(1).optional(),
  /** Verifies requests from Slack to /slack/*. */
  signingSecret: z.string().min(8).optional(),
  timeoutMs: z.number().int().positive().default(5_000),
});
export type SlackConfig = z.infer<typeof slackConfigSchema>;
