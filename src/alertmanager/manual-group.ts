import type { AlertGroup } from '../core/alert';
import { fingerprintOf } from './fingerprint';
import { wellFormedLabels } from './payload';

/** Where a manual run learns the Alertmanager group an alert was last seen in (the store). */
export interface GroupKeys {
  /** The group key of the last notification that carried this alert fingerprint, if any; rejects when the store cannot be read. */
  groupKeyOf(fingerprint: string): Promise<string | undefined>;
}

/** A one-alert group for a manual run; it joins the alert's Alertmanager group (and thread) where one was seen. Rejects as `store` does. */
export async function manualGroup(
  rawLabels: Record<string, string>,
  rawAnnotations: Record<string, string>,
  startsAt: string,
  store: GroupKeys,
): Promise<AlertGroup> {
  const labels = wellFormedLabels(rawLabels);
  const annotations = wellFormedLabels(rawAnnotations);
  const fingerprint = fingerprintOf(labels);
  const key = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',');
  return {
    groupKey: (await store.groupKeyOf(fingerprint)) ?? `manual:{${key}}`,
    status: 'firing',
    receiver: 'manual',
    groupLabels: { alertname: labels.alertname! },
    commonLabels: labels,
    commonAnnotations: annotations,
    externalURL: '',
    truncatedAlerts: 0,
    alerts: [{ status: 'firing', labels, annotations, startsAt, endsAt: '0001-01-01T00:00:00Z', generatorURL: '', fingerprint }],
  };
}
