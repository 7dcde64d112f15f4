import { z } from 'zod';
import { labelNameSchema } from '../core/labels';
import { serverConfigSchema } from '../http/config';
import { linksConfigSchema } from '../notifiers/links';
import { stateConfigSchema } from '../store/config';
import { pipelineConfigSchema } from '../pipeline/config';
import { sourcesConfigSchema } from '../sources/config';
import { slackConfigSchema } from '../slack/config';
import { DEFAULT_ENRICHERS, ENRICHER_SETTINGS, settingsSchemaOf } from '../enrichers/settings';
import { NOTIFIER_NAMES } from '../notifiers/names';

const routeEnricherSchema = z.union([z.string().min(1), z.strictObject({ name: z.string().min(1), options: z.record(z.string(), z.unknown()).default({}) })]);

/** `routes[]`: label matchers that pick the enrichers and notifiers for an alert. First match wins. */
export const routeSchema = z.strictObject({
  /** Exact label values; all must match. */
  match: z.record(labelNameSchema, z.string()).default({}),
  /** RE2-style regular expressions anchored at both ends; all must match. */
  matchRe: z.record(labelNameSchema, z.string()).default({}),
  enrichers: z.array(routeEnricherSchema).default([...DEFAULT_ENRICHERS]),
  /** Defaults to slack when a Slack token is configured, else console. */
  notifiers: z.array(z.string().min(1)).optional(),
});

const enricherSettingsSchema = z.strictObject(Object.fromEntries(Object.entries(ENRICHER_SETTINGS).map(([name, schema]) => [name, schema.optional()])));

const logConfigSchema = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** The whole configuration file: each part's schema is owned by its unit and composed here. */
export const configSchema = z
  .strictObject({
    server: serverConfigSchema.default(serverConfigSchema.parse({})),
    state: stateConfigSchema.default(stateConfigSchema.parse({})),
    pipeline: pipelineConfigSchema.default(pipelineConfigSchema.parse({})),
    sources: sourcesConfigSchema.default(sourcesConfigSchema.parse({})),
    slack: slackConfigSchema.optional(),
    links: linksConfigSchema.default({}),
    enrichers: enricherSettingsSchema.default({}),
    routes: z.array(routeSchema).default([{ match: { alertname: 'db_pool_exhausted' }, matchRe: {}, enrichers: [...DEFAULT_ENRICHERS] }]),
    log: logConfigSchema.default({ level: 'info' }),
  })
  .superRefine((cfg, ctx) => {
    if (cfg.slack?.token && !cfg.slack.alertsChannel && !cfg.slack.incidentChannel) {
      ctx.addIssue({
        code: 'custom',
        path: ['slack'],
        message: 'with slack.token, set slack.alertsChannel or slack.incidentChannel (a channel id, C…, or name, #alerts)',
      });
    }
    cfg.routes.forEach((route, ri) => {
      for (const [label, re] of Object.entries(route.matchRe)) {
        try {
          new RegExp(`^(?:${re})$`);
        } catch (e) {
          ctx.addIssue({ code: 'custom', path: ['routes', ri, 'matchRe', label], message: `invalid regular expression: ${(e as Error).message}` });
        }
      }
      route.enrichers.forEach((entry, ei) => {
        const name = typeof entry === 'string' ? entry : entry.name;
        const settingsSchema = settingsSchemaOf(name);
        if (!settingsSchema) {
          ctx.addIssue({
            code: 'custom',
            path: ['routes', ri, 'enrichers', ei],
            message: `unknown enricher "${name}" (known: ${Object.keys(ENRICHER_SETTINGS).join(', ')})`,
          });
          return;
        }
        if (typeof entry !== 'string') {
          const merged = { ...((cfg.enrichers as Record<string, object | undefined>)[name] ?? {}), ...entry.options };
          const r = settingsSchema.safeParse(merged);
          if (!r.success) {
            for (const i of r.error.issues)
              ctx.addIssue({
                code: 'custom',
                path: ['routes', ri, 'enrichers', ei, 'options', ...i.path.map((p) => (typeof p === 'symbol' ? String(p) : p))],
                message: i.message,
              });
          }
        }
      });
      (route.notifiers ?? []).forEach((n, ni) => {
        if (!(NOTIFIER_NAMES as readonly string[]).includes(n)) {
          ctx.addIssue({ code: 'custom', path: ['routes', ri, 'notifiers', ni], message: `unknown notifier "${n}" (known: ${NOTIFIER_NAMES.join(', ')})` });
        } else if (n === 'slack' && !cfg.slack?.token) {
          ctx.addIssue({ code: 'custom', path: ['routes', ri, 'notifiers', ni], message: 'the slack notifier needs slack.token' });
        }
      });
    });
  });

/** The parsed, defaulted configuration. Frozen after loading; passed down, never read globally. */
export type Config = z.infer<typeof configSchema>;
export type RouteConfig = z.infer<typeof routeSchema>;
