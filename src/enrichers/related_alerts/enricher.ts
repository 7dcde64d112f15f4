import { alertnameOf, earliestStart, sharedLabelValue } from '../../core/alert';
import type { Section } from '../../core/diagnostic';
import { skippedEnricher, type Enricher, type EnrichContext, type EnrichmentResult } from '../../core/enricher';
import type { RelatedAlertsEvidence } from '../../core/evidence';
import { amMatcher, type AlertmanagerClient, type AmSilence } from '../../sources/alertmanager';
import { regexEscape } from '../../sources/promql';
import type { AlertHistory } from '../../store/history';
import type { EnricherModule } from '../registry-types';
import { settingsSchema, type RelatedAlertsSettings } from './settings';

/**
 * `related_alerts` (runbook: "check related alerts"): other alerts firing now that the runbook
 * names as related, whether this alertname fired before in the last 24 h (our own run history),
 * and whether an active silence covers this alert.
 */

/** Related alerts listed in evidence and the table (oldest first); more are counted in the summary. */
export const MAX_RELATED = 20;
/** Labels shown per related alert in the table, besides alertname. */
export const MAX_LABELS_SHOWN = 4;

/** Whether one silence matcher matches `labels` (a missing label is ""; regexes are anchored, as in Alertmanager). */
function matcherMatches(m: AmSilence['matchers'][number], labels: Record<string, string>): boolean {
  const v = labels[m.name] ?? '';
  let hit: boolean;
  if (m.isRegex) {
    try {
      hit = new RegExp(`^(?:${m.value})$`).test(v);
    } catch {
      hit = false;
    }
  } else hit = v === m.value;
  return m.isEqual === false ? !hit : hit;
}

/** Whether an active silence covers `labels`: all its matchers match. */
export function silenceMatches(silence: AmSilence, labels: Record<string, string>): boolean {
  return silence.status?.state === 'active' && silence.matchers.length > 0 && silence.matchers.every((m) => matcherMatches(m, labels));
}

/** The factory: needs the Alertmanager client and the run history. `enrich` throws AlertmanagerError / TimeoutError when Alertmanager fails. */
export function createRelatedAlertsEnricher(settings: RelatedAlertsSettings, deps: { alertmanager: AlertmanagerClient; history: AlertHistory }): Enricher {
  const s = settings;
  const { alertmanager, history } = deps;
  return {
    name: 'related_alerts',
    ...(s.timeoutMs ? { timeoutMs: s.timeoutMs } : {}),
    async enrich(ctx: EnrichContext): Promise<EnrichmentResult> {
      const { group } = ctx;
      const alertname = alertnameOf(group);
      const ownFingerprints = new Set(group.alerts.map((a) => a.fingerprint.toLowerCase()));
      const shared: Record<string, string> = {};
      const unshared: string[] = [];
      for (const l of s.matchLabels) {
        const v = sharedLabelValue(group, l);
        if (v) shared[l] = v;
        else unshared.push(l);
      }
      const filters = [amMatcher('alertname', s.alertnames.map(regexEscape).join('|'), '=~'), ...Object.entries(shared).map(([k, v]) => amMatcher(k, v))];
      const [alerts, silences] = await Promise.all([
        s.alertnames.length ? alertmanager.alerts(filters, { signal: ctx.signal, active: true, silenced: true, inhibited: true }) : Promise.resolve([]),
        alertmanager.silences([], ctx.signal),
      ]);

      const wanted = new Set(s.alertnames);
      const matching = alerts
        .filter((a) => wanted.has(a.labels.alertname ?? '') && !ownFingerprints.has(a.fingerprint.toLowerCase()))
        .filter((a) => Object.entries(shared).every(([k, v]) => a.labels[k] === v))
        .sort((a, b) => Date.parse(a.startsAt) - Date.parse(b.startsAt));
      const related = matching
        .slice(0, MAX_RELATED)
        .map((a) => ({ alertname: a.labels.alertname!, labels: { ...a.labels }, startsAt: a.startsAt, state: a.status?.state ?? 'unknown' }));

      // History: runs before this alert started firing (its own runs are created after that).
      const startMs = Date.parse(earliestStart(group) ?? '');
      const before = new Date(Math.min(ctx.now.getTime(), Number.isFinite(startMs) ? startMs : ctx.now.getTime()));
      const since = new Date(ctx.now.getTime() - s.historyHours * 3_600_000);
      const runs = await history.runsOf(alertname, since, before);
      const firedBeforeCount = runs.length;
      const lastFiredAt = runs[0]?.startedAt ?? null;

      const covering = silences.filter(
        (sil) => group.alerts.some((a) => silenceMatches(sil, a.labels)) || (group.alerts.length === 0 && silenceMatches(sil, group.commonLabels)),
      );
      const silenceIds = covering.map((x) => x.id);
      const evidence: RelatedAlertsEvidence = { related, firedBeforeCount, lastFiredAt, silenced: silenceIds.length > 0, silenceIds };

      const sections: Section[] = [];
      if (related.length) {
        sections.push({
          type: 'table',
          title: 'Related alerts firing now',
          columns: ['alert', 'state', 'since', 'labels'],
          rows: related.map((r) => [
            r.alertname,
            r.state,
            r.startsAt,
            Object.entries(r.labels)
              .filter(([k]) => k !== 'alertname')
              .slice(0, MAX_LABELS_SHOWN)
              .map(([k, v]) => `${k}=${v}`)
              .join(', '),
          ]),
        });
        if (matching.length > MAX_RELATED) sections.push({ type: 'text', text: `… and ${matching.length - MAX_RELATED} more related alerts.` });
      } else {
        sections.push({
          type: 'text',
          text: `None of ${s.alertnames.join(', ') || '(no related alerts configured)'} is firing${
            Object.keys(shared).length
              ? ` for ${Object.entries(shared)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(', ')}`
              : ''
          }.`,
        });
      }
      sections.push({
        type: 'fields',
        title: 'History and silences',
        fields: [
          {
            label: `Fired before (last ${s.historyHours} h)`,
            value: firedBeforeCount === 0 ? 'no' : `${firedBeforeCount} run${firedBeforeCount === 1 ? '' : 's'}, last at ${lastFiredAt}`,
          },
          {
            label: 'Silenced',
            value:
              covering.length === 0
                ? 'no active silence matches'
                : covering.map((x) => `${x.id} by ${x.createdBy} until ${x.endsAt}${x.comment ? ` (${x.comment})` : ''}`).join('\n'),
          },
        ],
      });
      if (unshared.length)
        sections.push({
          type: 'text',
          title: 'Notes',
          text: `The alert has no single value for ${unshared.join(', ')}, so related alerts are not restricted by it.`,
        });

      const parts = [
        related.length
          ? `${matching.length} related alert${matching.length === 1 ? '' : 's'} firing (${[...new Set(related.map((r) => r.alertname))].join(', ')})`
          : 'no related alerts firing',
        firedBeforeCount ? `fired ${firedBeforeCount}x in the last ${s.historyHours} h` : `first time in ${s.historyHours} h`,
        silenceIds.length ? `silenced (${silenceIds.length} silence${silenceIds.length === 1 ? '' : 's'})` : 'not silenced',
      ];
      return { summary: parts.join('; '), sections, evidence };
    },
  };
}

/** Registry entry: skipped with a reason where `sources.alertmanager` is not configured. */
export const relatedAlertsModule: EnricherModule<RelatedAlertsSettings> = {
  name: 'related_alerts',
  settingsSchema,
  create: (settings, deps) =>
    deps.clients.alertmanager
      ? createRelatedAlertsEnricher(settings, { alertmanager: deps.clients.alertmanager, history: deps.history })
      : skippedEnricher('related_alerts', 'sources.alertmanager is not configured'),
};
