/**
 * From what a Slack message tells (a re-run button, or an alert read out of it) to the alert
 * group to run: the stored run's group, Alertmanager's firing alerts that match, or the labels
 * read from the message where Alertmanager cannot say.
 */
import type { AlertGroup } from '../core/alert';
import { manualGroup } from '../alertmanager/manual-group';
import { amMatcher, type AlertmanagerClient, type AmAlert } from '../sources/alertmanager';
import type { StateStore } from '../store/types';
import type { RecognisedAlert, RerunRef } from './recognise';

/** One click diagnoses at most this many of Alertmanager's alerts (a page of a large group); the rest are left out and said so. */
export const MAX_ALERTS_PER_REQUEST = 50;

export type Resolution = { ok: true; group: AlertGroup; note?: string } | { ok: false; reason: string };

export interface ResolveDeps {
  store: Pick<StateStore, 'getRun' | 'groupKeyOf'>;
  alertmanager?: AlertmanagerClient;
}

/** The group of the run a re-run button names, from the store. */
export async function groupOfRun(ref: RerunRef, store: Pick<StateStore, 'getRun'>): Promise<Resolution> {
  const run = await store.getRun(ref.runId);
  if (!run) return { ok: false, reason: `the diagnostic ${ref.runId} is no longer stored (runs are kept for state.retentionDays)` };
  return { ok: true, group: run.group };
}

/** A group of Alertmanager's alerts; one alert joins the group (and thread) Alertmanager sent it under, as a manual run does. */
export async function groupOfAmAlerts(alerts: readonly AmAlert[], store: Pick<StateStore, 'groupKeyOf'>): Promise<AlertGroup> {
  const first = alerts[0]!;
  const group = await manualGroup(first.labels, first.annotations, first.startsAt, store);
  group.alerts = alerts.map((a) => ({
    status: 'firing',
    labels: a.labels,
    annotations: a.annotations,
    startsAt: a.startsAt,
    endsAt: '0001-01-01T00:00:00Z',
    generatorURL: a.generatorURL ?? '',
    fingerprint: a.fingerprint,
  }));
  if (alerts.length > 1) {
    const common = Object.fromEntries(Object.entries(first.labels).filter(([k, v]) => alerts.every((a) => a.labels[k] === v)));
    const key = Object.keys(common)
      .sort()
      .map((k) => `${k}=${JSON.stringify(common[k])}`)
      .join(',');
    const known = (await Promise.all(alerts.map((a) => store.groupKeyOf(a.fingerprint)))).find((k) => k !== undefined);
    group.groupKey = known ?? `manual:{${key}}`;
    group.commonLabels = common;
    group.commonAnnotations = Object.fromEntries(Object.entries(first.annotations).filter(([k, v]) => alerts.every((a) => a.annotations[k] === v)));
  }
  return group;
}

/** Alerts that contradict nothing the message says: every label read has the same value (where the alert has it), every title word is one of its values. */
export function matchingAlerts(alerts: readonly AmAlert[], rec: RecognisedAlert): AmAlert[] {
  return alerts.filter((a) => {
    if (rec.alertname && a.labels.alertname !== rec.alertname) return false;
    for (const [k, v] of Object.entries(rec.labels)) if (a.labels[k] !== undefined && a.labels[k] !== v) return false;
    const values = new Set(Object.values(a.labels));
    return rec.titleValues.every((w) => values.has(w));
  });
}

/**
 * The group for an alert read from a message: by fingerprint or by alertname among
 * Alertmanager's alerts (those that contradict nothing the message says), else from the labels
 * the message lists. Fails with the reason when neither works. Never throws for Alertmanager
 * failures: they become a note or the reason.
 */
export async function groupOfRecognised(rec: RecognisedAlert, deps: ResolveDeps, signal: AbortSignal): Promise<Resolution> {
  const am = deps.alertmanager;
  let amProblem: string | undefined;
  if (am) {
    try {
      if (rec.fingerprint) {
        const hit = await am.alertByFingerprint(rec.fingerprint, signal);
        if (hit) return { ok: true, group: await groupOfAmAlerts([hit], deps.store) };
      }
      if (rec.alertname) {
        const found = matchingAlerts(await am.alerts([amMatcher('alertname', rec.alertname)], { signal }), rec);
        if (found.length > 0) {
          const taken = found.slice(0, MAX_ALERTS_PER_REQUEST);
          const note = found.length > taken.length ? `${found.length} alerts match; the first ${taken.length} are diagnosed` : undefined;
          return { ok: true, group: await groupOfAmAlerts(taken, deps.store), ...(note ? { note } : {}) };
        }
      }
    } catch (e) {
      if (signal.aborted) throw e;
      amProblem = `Alertmanager could not be asked (${(e as Error).message})`;
    }
  }
  if (rec.alertname && (rec.alertnameFrom === 'labels' || !am || amProblem)) {
    const labels = { ...rec.labels, alertname: rec.alertname };
    const why = amProblem ?? (am ? 'Alertmanager has no firing alert that matches' : 'no Alertmanager configured (sources.alertmanager.url)');
    return { ok: true, group: await manualGroup(labels, {}, new Date().toISOString(), deps.store), note: `${why}; diagnosing with the labels in the message` };
  }
  if (rec.alertname) return { ok: false, reason: `Alertmanager has no firing alert named ${rec.alertname} that matches this message` };
  return {
    ok: false,
    reason:
      amProblem ??
      (am
        ? `Alertmanager has no alert with fingerprint ${rec.fingerprint}`
        : `the message has only a fingerprint (${rec.fingerprint}), and looking it up needs sources.alertmanager.url`),
  };
}
