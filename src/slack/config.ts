import { z } from 'zod';

/**
 * A channel as configured: its id (`C0123456789`; `G…` for older private channels) or its name
 * (`#alerts` or `alerts`, as people write them in Alertmanager's slack_configs). Names are looked
 * up at start (src/slack/channels.ts). Slack's names are lowercase, without spaces, at most 80
 * characters (Slack help: "Create a channel"); we compare them case-insensitively.
 */
export const channelRefSchema = z
  .string()
  .trim()
  .min(1)
  .regex(/^#?[^\s#,]{1,80}$/, 'must be a channel id (C0123456789) or name (#alerts): no spaces or commas, at most 80 characters');

/** `slack`: the Slack app. Without a token, diagnostics go to the console notifier. */
export const slackConfigSchema = z
  .strictObject({
    token: z
      .string()
      .regex(/^xox[a-z]-/, 'must be a Slack token (xoxb-...)')
      .optional(),
    apiUrl: z.url().default('https://slack.com/api/'),
    /** Where Alertmanager's Slack receiver posts pages; we reply in their threads. */
    alertsChannel: channelRefSchema.optional(),
    /** Where the incident summary goes. */
    incidentChannel: channelRefSchema.optional(),
    /** Verifies requests from Slack to /slack/*; without it those endpoints are not served (404). */
    signingSecret: z.string().min(8).optional(),
    /** Channels where the Slack entry points (button, shortcut, mention) may start runs; default: alertsChannel and incidentChannel. */
    allowedChannels: z.array(channelRefSchema).optional(),
    /** When set, only these Slack user ids may start runs from Slack. */
    allowedUsers: z.array(z.string().min(1)).optional(),
    /**
     * Deadline of looking up the configured channel names at start (every page of
     * conversations.list, Tier 2: 20+ calls a minute, with its Retry-After waits). Past it the
     * receiver starts anyway and looks them up again when it first needs them.
     */
    channelLookupTimeoutMs: z.number().int().positive().default(30_000),
    /** Timeout of one HTTP request to Slack (the library's default is none). */
    timeoutMs: z.number().int().positive().default(5_000),
    /** Retries of one call inside the Slack client (network errors, 5xx); the pipeline's retry stage retries the whole delivery. */
    retries: z.number().int().min(0).max(5).default(2),
    /** How long to look for the page Alertmanager posted in `alertsChannel` before posting our own thread parent. */
    threadSearchWaitMs: z.number().int().nonnegative().default(5_000),
    /** Pause between two searches for the page. */
    threadSearchPollMs: z.number().int().positive().default(1_000),
    /** The page is searched from this long before the alert's start (clock skew, group_wait). */
    threadSearchLookbackMs: z
      .number()
      .int()
      .nonnegative()
      .default(5 * 60_000),
    /** Minimum gap between two messages to one channel (Slack: about one message per second per channel). */
    channelIntervalMs: z.number().int().nonnegative().default(1_000),
    /** Upload a chart of the pool's connections into the thread. */
    chart: z.boolean().default(true),
    /** Rendering the chart is abandoned after this long; the message goes out without it. */
    chartTimeoutMs: z.number().int().positive().default(10_000),
  })
  .superRefine((c, ctx) => {
    if (c.signingSecret && !c.token)
      ctx.addIssue({ code: 'custom', path: ['signingSecret'], message: 'the Slack entry points answer through the Slack API: set slack.token too' });
  });
export type SlackConfig = z.infer<typeof slackConfigSchema>;
