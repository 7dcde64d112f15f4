import type { Section, SourceQuery } from '../../core/diagnostic';
import { skippedEnricher, type Enricher, type EnrichContext, type EnrichmentResult } from '../../core/enricher';
import type { TrafficEvidence } from '../../core/evidence';
import type { PrometheusClient, PromSample } from '../../sources/prometheus';
import { copiedLabelNotes, groupingText, matchersFromGroup, selector } from '../../sources/promql';
import type { EnricherModule } from '../registry-types';
import { settingsSchema, type TrafficSettings } from './settings';

/**
 * `traffic`: request rate now against the same window an hour and a day earlier (runbook step 4),
 * per endpoint, with a spike / normal / drop verdict and the numbers behind it.
 */

/** Endpoints shown in the table; the rest are counted in a last row. */
export const MAX_ENDPOINT_ROWS = 20;
/** A change smaller than this share of the endpoint's baseline (or 1e-9 req/s) is no move (rate() is float arithmetic). */
export const MIN_MOVER_CHANGE = 0.01;
/** The table's name for series without the endpoint label. */
export const NO_ENDPOINT = '(none)';

/** The verdict for `ratio` under the thresholds (unknown without a ratio). */
export function trafficVerdict(ratio: number | null, spikeRatio: number, dropRatio: number): TrafficEvidence['verdict'] {
  if (ratio === null || !Number.isFinite(ratio)) return 'unknown';
  if (ratio >= spikeRatio) return 'spike';
  if (ratio <= dropRatio) return 'drop';
  return 'normal';
}

const rps = (v: number | null) => (v === null ? 'n/a' : v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toFixed(3));
const ratioText = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(2)}x`);

/** The factory: needs only a Prometheus client. `enrich` throws PrometheusError / TimeoutError when a query fails. */
export function createTrafficEnricher(settings: TrafficSettings, deps: { prometheus: PrometheusClient }): Enricher {
  const s = settings;
  const { prometheus } = deps;
  return {
    name: 'traffic',
    ...(s.timeoutMs ? { timeoutMs: s.timeoutMs } : {}),
    async enrich(ctx: EnrichContext): Promise<EnrichmentResult> {
      const copied = matchersFromGroup(s.copyLabels, ctx.group);
      const fromAlert = copied.matchers;
      const sel = selector(s.metric, [...s.matchers, ...fromAlert]);
      const expr = (offset: string) => `sum by (${groupingText([s.endpointLabel])}) (rate(${sel}[${s.rateWindow}]${offset}))`;
      const exprs = { now: expr(''), hour: expr(' offset 1h'), day: expr(' offset 1d') };
      const time = ctx.now;
      const [now, hour, day] = await Promise.all([exprs.now, exprs.hour, exprs.day].map((q) => prometheus.query(q, { time, signal: ctx.signal })));

      const toMap = (samples: PromSample[]) => {
        const m = new Map<string, number>();
        for (const x of samples) if (Number.isFinite(x.value)) m.set(x.metric[s.endpointLabel] ?? '', (m.get(x.metric[s.endpointLabel] ?? '') ?? 0) + x.value);
        return m;
      };
      const mNow = toMap(now!.samples);
      const mHour = toMap(hour!.samples);
      const mDay = toMap(day!.samples);
      const total = (m: Map<string, number>) => (m.size === 0 ? null : [...m.values()].reduce((a, b) => a + b, 0));
      const totalNow = total(mNow);
      const totalHourAgo = total(mHour);
      const totalDayAgo = total(mDay);
      const baseline: TrafficEvidence['baseline'] = totalHourAgo !== null && totalHourAgo > 0 ? 'hour' : totalDayAgo !== null && totalDayAgo > 0 ? 'day' : null;
      const base = baseline === 'hour' ? totalHourAgo : baseline === 'day' ? totalDayAgo : null;
      const ratio = base !== null && totalNow !== null ? totalNow / base : null;
      const verdict = trafficVerdict(ratio, s.spikeRatio, s.dropRatio);

      const names = [...new Set([...mNow.keys(), ...mHour.keys(), ...mDay.keys()])];
      const endpoints = names.map((endpoint) => {
        const n = mNow.get(endpoint) ?? 0;
        const hourAgo = mHour.get(endpoint) ?? null;
        const dayAgo = mDay.get(endpoint) ?? null;
        const b = hourAgo !== null && hourAgo > 0 ? hourAgo : dayAgo !== null && dayAgo > 0 ? dayAgo : null;
        return { endpoint, now: n, hourAgo, dayAgo, ratio: b === null ? null : n / b };
      });
      const change = (e: (typeof endpoints)[number]) => Math.abs(e.now - (e.hourAgo ?? e.dayAgo ?? 0));
      endpoints.sort((a, b) => change(b) - change(a) || b.now - a.now || a.endpoint.localeCompare(b.endpoint));
      const topMovers = endpoints
        .filter((e) => change(e) > Math.max(1e-9, MIN_MOVER_CHANGE * (e.hourAgo ?? e.dayAgo ?? 0)))
        .slice(0, s.topMovers)
        .map((e) => e.endpoint);

      const evidence: TrafficEvidence = {
        verdict,
        totalNow,
        totalHourAgo,
        totalDayAgo,
        ratio,
        baseline,
        endpoints,
        topMovers,
        spikeRatio: s.spikeRatio,
        dropRatio: s.dropRatio,
      };
      const start = new Date(time.getTime() - 24 * 3_600_000 - 3_600_000).toISOString();
      const queries: SourceQuery[] = Object.values(exprs).map((query) => ({ source: 'prometheus', query, start, end: time.toISOString() }));

      const sections: Section[] = [];
      if (endpoints.length === 0) {
        sections.push({ type: 'text', text: `No request series matched \`${sel}\` now, an hour ago or a day ago.` });
      } else {
        sections.push({
          type: 'fields',
          title: `Request rate (rate over ${s.rateWindow})`,
          fields: [
            { label: 'Verdict', value: verdict },
            { label: 'Now', value: `${rps(totalNow)} req/s` },
            { label: '1 h ago', value: `${rps(totalHourAgo)} req/s` },
            { label: '1 d ago', value: `${rps(totalDayAgo)} req/s` },
            { label: 'Ratio', value: ratio === null ? 'n/a (no baseline)' : `${ratioText(ratio)} vs ${baseline === 'hour' ? 'an hour ago' : 'a day ago'}` },
            { label: 'Thresholds', value: `spike ≥ ${s.spikeRatio}x, drop ≤ ${s.dropRatio}x` },
          ],
        });
        const rows = endpoints
          .slice(0, MAX_ENDPOINT_ROWS)
          .map((e) => [e.endpoint === '' ? NO_ENDPOINT : e.endpoint, rps(e.now), rps(e.hourAgo), rps(e.dayAgo), ratioText(e.ratio)]);
        if (endpoints.length > MAX_ENDPOINT_ROWS) rows.push([`… ${endpoints.length - MAX_ENDPOINT_ROWS} more`, '', '', '', '']);
        sections.push({
          type: 'table',
          title: 'Per endpoint (req/s), largest change first',
          columns: [s.endpointLabel, 'now', '1h ago', '1d ago', 'ratio'],
          rows,
        });
      }
      const notes = [
        ...copiedLabelNotes(copied, ctx.group.truncatedAlerts),
        ...[now!, hour!, day!].flatMap((r) => r.warnings.map((w) => `Prometheus warning: ${w}`)),
      ];
      if (notes.length) sections.push({ type: 'text', title: 'Notes', text: notes.join('\n') });

      const summary =
        endpoints.length === 0
          ? `no request metrics found for ${sel}`
          : ratio === null
            ? `${rps(totalNow)} req/s now; no baseline an hour or a day ago (verdict unknown)`
            : `${verdict}: ${rps(totalNow)} req/s now vs ${rps(base)} ${baseline === 'hour' ? 'an hour' : 'a day'} ago (${ratioText(ratio)})` +
              (topMovers.length
                ? `; top movers: ${topMovers
                    .slice(0, 3)
                    .map((e) => e || NO_ENDPOINT)
                    .join(', ')}`
                : '');
      return { summary, sections, evidence, queries };
    },
  };
}

/** Registry entry: skipped with a reason where `sources.prometheus` is not configured. */
export const trafficModule: EnricherModule<TrafficSettings> = {
  name: 'traffic',
  settingsSchema,
  create: (settings, deps) =>
    deps.clients.prometheus
      ? createTrafficEnricher(settings, { prometheus: deps.clients.prometheus })
      : skippedEnricher('traffic', 'sources.prometheus is not configured'),
};
