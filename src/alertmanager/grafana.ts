/**
 * Grafana's webhook contact point body (Grafana 9+ unified alerting, Grafana-managed alerts):
 * Alertmanager's webhook fields plus Grafana's own. Checked at the source, grafana/alerting:
 * - `receivers/webhook/v1/webhook.go` (`webhookMessage`): the body is `templates.ExtendedData`
 *   plus `version` (always "1"), `groupKey`, `truncatedAlerts`, `orgId`, `title`, `state`
 *   (`receivers/util.go`: "alerting" while any alert fires, else "ok") and `message`; none of
 *   them omitted when empty;
 * - `templates/template_data.go` (`ExtendedAlert`): per alert the Alertmanager fields plus
 *   `silenceURL`, `dashboardURL`, `panelURL` (empty strings when the rule has no dashboard or
 *   panel), `values` (refId → float64 of the rule's queries and expressions, `null` when the rule
 *   stored none), `valueString`, and, omitted when empty, `imageURL`, `embeddedImage`, `orgId`,
 *   `enrichments`. Firing alerts carry `endsAt: 0001-01-01T00:00:00Z` as Alertmanager's do.
 * Grafana's documentation shows the same body: grafana.com/docs/grafana/latest/alerting/
 * configure-notifications/manage-contact-points/integrations/webhook-notifier/ ("Webhook JSON
 * payload"; it marks title, state, message, dashboardURL and panelURL "will be deprecated soon").
 *
 * Such a body is recognised by its fields, never by `version`: Grafana's own top-level fields
 * (`orgId`, `state`, `title`, `message`) or its per-alert links and values. What helps on call
 * (the dashboard and panel, the values that fired, the silence link, the screenshot) is kept on
 * the alert group; the rest (`message`, `embeddedImage`, `enrichments`) is dropped.
 */
import { z } from 'zod';
import type { AlertGroup, GrafanaAlertExtras } from '../core/alert';
import { alertSchema, toAlertGroup, webhookPayloadSchema, wellFormed } from './payload';

/** Top-level fields only Grafana's body has (webhook.go `webhookMessage`). */
const GRAFANA_TOP_FIELDS = ['orgId', 'state', 'title', 'message'] as const;
/** Per-alert fields only Grafana's body has (template_data.go `ExtendedAlert`). */
const GRAFANA_ALERT_FIELDS = ['silenceURL', 'dashboardURL', 'panelURL', 'values', 'valueString', 'imageURL'] as const;
/** Values kept per alert: a rule has a handful of queries and expressions (refIds A, B, C…). */
export const MAX_GRAFANA_VALUES = 20;
/** `valueString` is cut to this many characters (Grafana builds it from every series of the rule). */
export const MAX_VALUE_STRING = 1_000;
/** A link longer than this is dropped (Slack refuses button URLs over 3,000 characters; Block Kit reference). */
export const MAX_LINK_LENGTH = 2_000;

/**
 * True when `body` is Grafana's webhook contact point body: an object with an `alerts` array and
 * Grafana's own top-level fields or per-alert fields. Never decided by `version`.
 */
export function isGrafanaBody(body: unknown): boolean {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return false;
  const b = body as Record<string, unknown>;
  if (!Array.isArray(b.alerts)) return false;
  const top = GRAFANA_TOP_FIELDS.filter((k) => k in b).length;
  // Grafana sends all four; two of them is not Alertmanager (which has none).
  if (top >= 2) return true;
  return b.alerts.some((a) => a !== null && typeof a === 'object' && GRAFANA_ALERT_FIELDS.some((k) => k in (a as object)));
}

const optionalUrl = z.string().optional();

/** One alert of Grafana's body: Alertmanager's alert plus Grafana's links and values. */
export const grafanaAlertSchema = alertSchema.extend({
  silenceURL: optionalUrl,
  dashboardURL: optionalUrl,
  panelURL: optionalUrl,
  imageURL: optionalUrl,
  values: z.record(z.string(), z.number()).nullable().optional(),
  valueString: z.string().optional(),
  orgId: z.number().int().optional(),
});

/** Grafana's webhook contact point body; `version` is Grafana's own ("1") and not checked. */
export function grafanaPayloadSchema(maxAlerts: number) {
  return webhookPayloadSchema(maxAlerts).extend({
    version: z.string(),
    orgId: z.number().int().optional(),
    state: z.string().optional(),
    title: z.string().optional(),
    message: z.string().optional(),
    alerts: z
      .array(grafanaAlertSchema)
      .min(1, 'must hold at least one alert')
      .max(maxAlerts, `too many alerts for one notification (limit server.maxAlerts = ${maxAlerts}); set Max Alerts in the contact point`),
  });
}
export type GrafanaPayload = z.infer<ReturnType<typeof grafanaPayloadSchema>>;

/** `s` when it is an http(s) URL of reasonable length, else undefined. */
function httpUrl(s: string | undefined): string | undefined {
  if (!s || s.length > MAX_LINK_LENGTH) return undefined;
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:' ? wellFormed(s) : undefined;
  } catch {
    return undefined;
  }
}

/** What Grafana adds to one alert that helps on call; undefined when it adds nothing. */
function extrasOf(a: z.infer<typeof grafanaAlertSchema>): GrafanaAlertExtras | undefined {
  const values = Object.entries(a.values ?? {})
    .filter(([, v]) => Number.isFinite(v))
    .slice(0, MAX_GRAFANA_VALUES);
  const extras: GrafanaAlertExtras = {
    ...(httpUrl(a.dashboardURL) ? { dashboardURL: httpUrl(a.dashboardURL)! } : {}),
    ...(httpUrl(a.panelURL) ? { panelURL: httpUrl(a.panelURL)! } : {}),
    ...(httpUrl(a.silenceURL) ? { silenceURL: httpUrl(a.silenceURL)! } : {}),
    ...(httpUrl(a.imageURL) ? { imageURL: httpUrl(a.imageURL)! } : {}),
    ...(values.length > 0 ? { values: Object.fromEntries(values.map(([k, v]) => [wellFormed(k), v])) } : {}),
    ...(a.valueString ? { valueString: wellFormed(a.valueString.slice(0, MAX_VALUE_STRING)) } : {}),
  };
  return Object.keys(extras).length > 0 ? extras : undefined;
}

/** The pipeline's view of a validated Grafana body: Alertmanager's fields, `sender: 'grafana'`, and Grafana's extras per alert. */
export function grafanaToAlertGroup(p: GrafanaPayload): AlertGroup {
  const group = toAlertGroup({ ...p, version: '4' });
  group.sender = 'grafana';
  if (p.orgId !== undefined) group.orgId = p.orgId;
  p.alerts.forEach((a, i) => {
    const extras = extrasOf(a);
    if (extras) group.alerts[i]!.grafana = extras;
  });
  return group;
}
