import { createHash } from 'node:crypto';
import type { AlertGroup } from '../core/alert';

/**
 * The key of a webhook notification: a hash of groupKey, status and the sorted
 * fingerprint+startsAt pairs (docs/reference/alertmanager.md). Retries, HA peers and repeats of the same
 * notification share it; a new alert in the group, a restart of one, or a resolve changes it.
 * Independent of JSON field order, whitespace and unknown fields.
 */
export function notificationKey(group: AlertGroup): string {
  const pairs = group.alerts.map((a) => `${a.fingerprint}@${Date.parse(a.startsAt)}:${a.status}`).sort();
  return digest(['webhook', group.groupKey, group.status, ...pairs]);
}

/** The key of a manual or Slack re-run: the same alert asked again shares it, whoever asks. */
export function rerunKey(group: AlertGroup): string {
  const fps = group.alerts.map((a) => a.fingerprint).sort();
  return digest(['rerun', group.groupKey, group.status, ...fps]);
}

function digest(parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(`${p.length}:${p}`);
  return h.digest('hex');
}
