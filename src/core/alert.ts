/** The normalised input of a run: one Alertmanager notification, or a manual/Slack request built like one. */

export interface Alert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

/** An alert group as the pipeline sees it; the shape of a version-4 webhook payload's known fields. */
export interface AlertGroup {
  groupKey: string;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  truncatedAlerts: number;
  alerts: Alert[];
}

/** The alert name of a group: from the common labels, else the first alert, else "unknown". */
export function alertnameOf(group: AlertGroup): string {
  return group.commonLabels.alertname ?? group.alerts[0]?.labels.alertname ?? 'unknown';
}

/** The earliest startsAt among the group's alerts (ISO string), or undefined for an empty group. */
export function earliestStart(group: AlertGroup): string | undefined {
  let best: string | undefined;
  for (const a of group.alerts) if (best === undefined || Date.parse(a.startsAt) < Date.parse(best)) best = a.startsAt;
  return best;
}
