import type { Alert, AlertGroup } from '../../src/core/alert';

/** An AlertGroup of firing alerts with these labels (fingerprints derived from the index), for enricher tests. */
export function alertGroup(
  alerts: Array<{ labels: Record<string, string>; startsAt?: string; fingerprint?: string }>,
  extra: Partial<AlertGroup> = {},
): AlertGroup {
  const list: Alert[] = alerts.map((a, i) => ({
    status: 'firing',
    labels: a.labels,
    annotations: {},
    startsAt: a.startsAt ?? new Date().toISOString(),
    endsAt: '0001-01-01T00:00:00Z',
    generatorURL: '',
    fingerprint: a.fingerprint ?? `f${String(i).padStart(15, '0')}`,
  }));
  const common: Record<string, string> = {};
  const first = list[0]?.labels ?? {};
  for (const [k, v] of Object.entries(first)) if (list.every((a) => a.labels[k] === v)) common[k] = v;
  return {
    groupKey: `{}:{alertname="${first.alertname ?? 'x'}"}`,
    status: 'firing',
    receiver: 'pagefirst',
    groupLabels: { alertname: first.alertname ?? 'x' },
    commonLabels: common,
    commonAnnotations: {},
    externalURL: 'http://alertmanager.example',
    truncatedAlerts: 0,
    alerts: list,
    ...extra,
  };
}
