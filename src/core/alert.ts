/** The normalised input of a run: one Alertmanager notification, or a manual/Slack request built like one. */

export interface Alert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
  /** What Grafana's webhook contact point adds to the alert (Grafana-managed alerts only; see alertmanager/grafana.ts). */
  grafana?: GrafanaAlertExtras;
}

/** Grafana's links and values for one alert, as kept (http(s) links only, capped; grafana/alerting templates ExtendedAlert). */
export interface GrafanaAlertExtras {
  /** The rule's dashboard with Grafana's time range (an hour before the start). */
  dashboardURL?: string;
  /** The rule's panel on that dashboard (`viewPanel`). */
  panelURL?: string;
  /** A new Grafana silence prefilled with the alert's matchers. */
  silenceURL?: string;
  /** A screenshot of the panel, where Grafana's image rendering is on. */
  imageURL?: string;
  /** The values that fired: refId of each query and expression of the rule → its value. */
  values?: Record<string, number>;
  /** Grafana's older text of the same values ("[ var='B' labels={…} value=44.2 ]"). */
  valueString?: string;
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
  /** Who sent it: absent for Alertmanager (and manual runs), `grafana` for Grafana's webhook contact point. */
  sender?: 'grafana';
  /** Grafana's organization id (Grafana only). */
  orgId?: number;
}

/** The alert name of a group: from the common labels, else the first alert, else "unknown". */
export function alertnameOf(group: AlertGroup): string {
  return group.commonLabels.alertname ?? group.alerts[0]?.labels.alertname ?? 'unknown';
}

/**
 * The alerts a run is about: the firing ones where the group has any, else all of them (a resolved
 * group). An alert already resolved inside a firing group (Alertmanager sends it until the group's
 * next notification) is history: its start time and label values describe another episode.
 */
export function activeAlerts(group: Pick<AlertGroup, 'alerts'>): Alert[] {
  const firing = group.alerts.filter((a) => a.status === 'firing');
  return firing.length > 0 ? firing : group.alerts;
}

/**
 * The earliest startsAt among the group's active alerts (see activeAlerts), as written; undefined
 * for an empty group. Compared as instants (payloads carry offsets such as `+01:00`).
 */
export function earliestStart(group: Pick<AlertGroup, 'alerts'>): string | undefined {
  let best: string | undefined;
  for (const a of activeAlerts(group)) if (best === undefined || Date.parse(a.startsAt) < Date.parse(best)) best = a.startsAt;
  return best;
}

/**
 * The one value every alert of the group has for `label`, where that is known: the value of a
 * label Alertmanager grouped by (shared by all alerts of the group, sent or not); else, where no
 * alert was left out (`truncatedAlerts` 0), the value every active alert (see activeAlerts) has.
 * undefined where the alerts differ or lack it, or where some were left out and may differ.
 * (commonLabels is no substitute: Alertmanager computes it over the alerts it sent, resolved
 * ones included: prometheus/alertmanager notify/webhook/webhook.go truncates before GetTemplateData.)
 */
export function sharedLabelValue(group: Pick<AlertGroup, 'alerts' | 'groupLabels' | 'truncatedAlerts'>, label: string): string | undefined {
  const grouped = group.groupLabels[label];
  if (grouped) return grouped;
  if (group.truncatedAlerts > 0) return undefined;
  const values = new Set(activeAlerts(group).map((a) => a.labels[label] ?? ''));
  const [only] = values;
  return values.size === 1 && only ? only : undefined;
}
