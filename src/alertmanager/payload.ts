import { z } from 'zod';
import type { AlertGroup } from '../core/alert';

const labelSet = z.record(z.string(), z.string());

/** One alert of a version-4 webhook payload; unknown fields pass through. */
export const alertSchema = z.looseObject({
  status: z.enum(['firing', 'resolved']),
  labels: labelSet,
  annotations: labelSet.default({}),
  startsAt: z.iso.datetime({ offset: true }),
  endsAt: z.string().default('0001-01-01T00:00:00Z'),
  generatorURL: z.string().default(''),
  fingerprint: z.string().regex(/^[0-9a-f]{1,64}$/i, 'must be a hex fingerprint'),
});

/**
 * The Alertmanager webhook payload, version "4" (docs/reference/alertmanager.md). Unknown fields from newer
 * Alertmanagers (notification_reason, routeLabels, ...) are accepted, not rejected.
 */
export function webhookPayloadSchema(maxAlerts: number) {
  return z.looseObject({
    version: z.literal('4', {
      error: 'must be "4" (Alertmanager webhook payload version); Grafana\'s contact point body is recognised by its orgId, state, title and message fields',
    }),
    groupKey: z.string().min(1),
    truncatedAlerts: z.number().int().nonnegative().default(0),
    status: z.enum(['firing', 'resolved']),
    receiver: z.string().default(''),
    groupLabels: labelSet.default({}),
    commonLabels: labelSet.default({}),
    commonAnnotations: labelSet.default({}),
    externalURL: z.string().default(''),
    alerts: z
      .array(alertSchema)
      .min(1, 'must hold at least one alert')
      .max(maxAlerts, `too many alerts for one notification (limit server.maxAlerts = ${maxAlerts}); set max_alerts in the webhook_config`),
  });
}

export type WebhookPayload = z.infer<ReturnType<typeof webhookPayloadSchema>>;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** `s` with lone UTF-16 surrogates (valid JSON, invalid text: URL encoding throws on them) replaced by U+FFFD. */
export function wellFormed(s: string): string {
  return s.replace(LONE_SURROGATE, '\uFFFD');
}

/** A label set with every name and value well-formed. */
export function wellFormedLabels(labels: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) out[wellFormed(k)] = wellFormed(v);
  return out;
}

/** The pipeline's view of a validated payload (drops unknown fields; every string well-formed). */
export function toAlertGroup(p: WebhookPayload): AlertGroup {
  return {
    groupKey: wellFormed(p.groupKey),
    status: p.status,
    receiver: wellFormed(p.receiver),
    groupLabels: wellFormedLabels(p.groupLabels),
    commonLabels: wellFormedLabels(p.commonLabels),
    commonAnnotations: wellFormedLabels(p.commonAnnotations),
    externalURL: wellFormed(p.externalURL),
    truncatedAlerts: p.truncatedAlerts,
    alerts: p.alerts.map((a) => ({
      status: a.status,
      labels: wellFormedLabels(a.labels),
      annotations: wellFormedLabels(a.annotations),
      startsAt: a.startsAt,
      endsAt: wellFormed(a.endsAt),
      generatorURL: wellFormed(a.generatorURL),
      fingerprint: a.fingerprint.toLowerCase(),
    })),
  };
}

/** A zod error as the contract's `issues`: `[{path: "alerts.0.labels", message}]`. */
export function issuesOf(error: z.ZodError): Array<{ path: string; message: string }> {
  return error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
}
