/**
 * What `POST /webhook` (and a whole payload at `POST /enrich`) accepts: Alertmanager's webhook
 * payload (version "4") or Grafana's webhook contact point body, told apart by its fields
 * (alertmanager/grafana.ts), never by `version`.
 */
import type { AlertGroup } from '../core/alert';
import { requiredMessage } from '../core/zod';
import { grafanaPayloadSchema, grafanaToAlertGroup, isGrafanaBody } from './grafana';
import { issuesOf, toAlertGroup, webhookPayloadSchema } from './payload';

export type WebhookBodyResult = { ok: true; group: AlertGroup } | { ok: false; issues: Array<{ path: string; message: string }> };

/** A parser of webhook bodies for a `server.maxAlerts` limit; the schemas are built once. */
export function webhookBodyParser(maxAlerts: number): (body: unknown) => WebhookBodyResult {
  const alertmanager = webhookPayloadSchema(maxAlerts);
  const grafana = grafanaPayloadSchema(maxAlerts);
  return (body) => {
    if (isGrafanaBody(body)) {
      const p = grafana.safeParse(body, { error: requiredMessage });
      return p.success ? { ok: true, group: grafanaToAlertGroup(p.data) } : { ok: false, issues: issuesOf(p.error) };
    }
    const p = alertmanager.safeParse(body, { error: requiredMessage });
    return p.success ? { ok: true, group: toAlertGroup(p.data) } : { ok: false, issues: issuesOf(p.error) };
  };
}
