import type { AlertGroup } from '../core/alert';
import { fingerprintOf } from './fingerprint';
import { wellFormedLabels } from './payload';

/** Where a manual run learns the Alertmanager group an alert was last seen in (the store). */
export interface GroupKeys {
  /** The group key of the last notification that carried this alert fingerprint, if any. */
  groupKeyOf(fingerprint: string): string | undefined;
}

/** A one-alert group for a manual run; it joins the alert's Alertmanager group (and thread) where one was seen. */
export function manualGroup(rawLabels: Record<string, string>, rawAnnotations: Record<string, string>, startsAt: string, store: GroupKeys): AlertGroup {
  const labels = wellFormedLabels(rawLabels);
  const annotations = wellFormedLabels(rawAnnotations);
  const fingerprint = fingerprintOf(labels);
  const key = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',');
  return {
    groupKey: store.groupKeyOf(fingerprint) ?? `manual:{${key}}`,
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
