import firing from '../fixtures/alertmanager/firing.json';
import { webhookPayloadSchema, type WebhookPayload } from '../../src/alertmanager/payload';

/** The real Alertmanager payload in test/fixtures (copied from a real Alertmanager); a fresh copy each call. */
export function firingPayload(): any {
  return structuredClone(firing);
}

/** The fixture turned into a resolve of the same alert. */
export function resolvedPayload(): any {
  const p = firingPayload();
  p.status = 'resolved';
  p.alerts[0].status = 'resolved';
  p.alerts[0].endsAt = '2026-11-27T06:40:16.301Z';
  return p;
}

/**
 * The fixture read through the webhook schema (src/alertmanager/payload.ts), for code that edits it
 * as a typed payload (the bench): a fresh copy each call, with the schema's defaults filled in.
 */
export function firingWebhook(): WebhookPayload {
  return webhookPayloadSchema(Number.MAX_SAFE_INTEGER).parse(structuredClone(firing));
}
