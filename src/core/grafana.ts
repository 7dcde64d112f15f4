/**
 * The Diagnostic's view of what Grafana's webhook contact point adds to an alert group
 * (alertmanager/grafana.ts reads it from the body; the pipeline puts it on the Diagnostic).
 */
import { activeAlerts, type AlertGroup } from './alert';
import type { DiagnosticAlert } from './diagnostic';

/**
 * The Diagnostic's Grafana fields for a group (empty for Alertmanager's): the sender, the first
 * active alert's dashboard, panel, silence and image links, and the values that fired per active
 * alert (those with values; in a group of several, with the labels that set each apart).
 */
export function grafanaDiagnosticFields(group: Pick<AlertGroup, 'sender' | 'alerts' | 'commonLabels'>): Partial<DiagnosticAlert> {
  if (group.sender !== 'grafana') return {};
  const active = activeAlerts(group);
  const first = <K extends 'dashboardURL' | 'panelURL' | 'silenceURL' | 'imageURL'>(k: K) => active.map((a) => a.grafana?.[k]).find((v) => v !== undefined);
  const values = active
    .filter((a) => a.grafana?.values || a.grafana?.valueString)
    .map((a) => {
      const own = Object.entries(a.labels).filter(([k, v]) => group.commonLabels[k] !== v);
      return {
        fingerprint: a.fingerprint,
        ...(own.length > 0 && active.length > 1 ? { labels: Object.fromEntries(own) } : {}),
        ...(a.grafana!.values ? { values: a.grafana!.values } : {}),
        ...(a.grafana!.valueString ? { valueString: a.grafana!.valueString } : {}),
      };
    });
  const links = { dashboardURL: first('dashboardURL'), panelURL: first('panelURL'), silenceURL: first('silenceURL'), imageURL: first('imageURL') };
  return {
    sender: 'grafana',
    ...Object.fromEntries(Object.entries(links).filter(([, v]) => v !== undefined)),
    ...(values.length > 0 ? { values } : {}),
  };
}
