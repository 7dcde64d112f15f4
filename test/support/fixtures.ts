import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The real Alertmanager payload in test/fixtures (copied from a real Alertmanager) (a fresh copy each call). */
export function firingPayload(): any {
  return JSON.parse(readFileSync(join(__dirname, '../fixtures/alertmanager/firing.json'), 'utf8'));
}

/** The fixture turned into a resolve of the same alert. */
export function resolvedPayload(): any {
  const p = firingPayload();
  p.status = 'resolved';
  p.alerts[0].status = 'resolved';
  p.alerts[0].endsAt = '2026-11-27T06:40:16.301Z';
  return p;
}
