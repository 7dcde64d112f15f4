import { z } from 'zod';
import { earliestStart } from '../core/alert';
import type { Section, SourceQuery } from '../core/diagnostic';
import { skippedEnricher, type Enricher, type EnrichContext, type EnrichmentResult } from '../core/enricher';
import type { PoolEvidence } from '../core/evidence';
import type { PrometheusClient, PromSample, PromSeries } from '../sources/prometheus';
import { LABEL_NAME_RE, METRIC_NAME_RE, anyOf, labelMatcherSchema, matcherText, matchersFromAlerts, selector } from '../sources/promql';
import type { EnricherModule } from './registry-types';

/**
 * `pool`: the application's connection pool from Prometheus (runbook step 1): active / idle /
 * total, available and utilization at the alert's time, per instance, and the trend over the
 * window (when saturation began, whether active connections are still climbing).
 */

const labelName = z.string().regex(LABEL_NAME_RE, 'must be a label name');

/** Points a trend query aims for over the window (30 min at 15 s steps). */
export const TREND_POINTS = 120;
/** Smallest step of the trend query: a typical scrape interval, so each step sees a new sample. */
export const MIN_STEP_SECONDS = 15;
/** Fewest points for a least-squares slope worth reporting. */
export const MIN_SLOPE_POINTS = 3;
/** Instances shown in the table; the rest are counted in a last row. */
export const MAX_INSTANCE_ROWS = 20;

/** `enrichers.pool` and a route's options for it. Parsing `{}` gives the runbook's defaults. */
export const settingsSchema = z.strictObject({
  /** The pool gauge, one series per state. */
  metric: z.string().regex(METRIC_NAME_RE, 'must be a metric name').default('db_connection_pool_size'),
  /** The label that holds the state. */
  stateLabel: labelName.default('state'),
  /** The state label's values for active, idle and total connections. */
  states: z
    .strictObject({ active: z.string().min(1).default('active'), idle: z.string().min(1).default('idle'), total: z.string().min(1).default('total') })
    .prefault({}),
  /** Extra matchers for the selector, e.g. `{name: job, value: api}`. */
  matchers: z.array(labelMatcherSchema).default([]),
  /** Alert labels copied into the selector (e.g. service, namespace), escaped. */
  copyLabels: z.array(labelName).default([]),
  /** Labels that name an instance, first present wins. */
  instanceLabels: z.array(labelName).default(['pod', 'instance']),
  windowMinutes: z
    .number()
    .positive()
    .max(24 * 60)
    .default(30),
  /** The last part of the window the slope of active connections is fitted over. */
  trendMinutes: z.number().positive().default(10),
  /** Step of the trend query; default: the window / 120, at least 15 s. */
  stepSeconds: z.number().positive().optional(),
  /** Saturation: fewer available connections than this. */
  availableThreshold: z.number().nonnegative().default(2),
  /** A slope within ±this (connections per minute) is "flat". */
  flatSlopePerMinute: z.number().nonnegative().default(0.1),
  /** PromQL giving the mean time a connection is held, seconds (several samples are averaged); `$matchers` as below. */
  holdTimeQuery: z.string().min(1).nullable().default(null),
  /** PromQL giving pool waits/acquire timeouts per second (several samples are summed); `$matchers` as below. */
  waitingQuery: z.string().min(1).nullable().default(null),
  /** The enricher's own timeout; default: the pipeline's. */
  timeoutMs: z.number().int().positive().optional(),
});
export type PoolSettings = z.infer<typeof settingsSchema>;

/**
 * In holdTimeQuery and waitingQuery, this becomes the pool's own label matchers, escaped and
 * comma-separated: the configured `matchers` and those `copyLabels` takes from the alert
 * (`rate(x_sum{$matchers}[5m])` gives `rate(x_sum{service="checkout"}[5m])`; `x{}` where none).
 */
export const MATCHERS_PLACEHOLDER = '$matchers';

type Counts = { active: number | null; idle: number | null; total: number | null };

/** Least-squares slope of `points` ([ms, value]) in value per minute; null with fewer than MIN_SLOPE_POINTS finite points. */
export function slopePerMinute(points: ReadonlyArray<[number, number]>): number | null {
  const pts = points.filter(([, v]) => Number.isFinite(v));
  if (pts.length < MIN_SLOPE_POINTS) return null;
  const t0 = pts[0]![0];
  const xs = pts.map(([t]) => (t - t0) / 60_000);
  const ys = pts.map(([, v]) => v);
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? null : num / den;
}

const finite = (v: number | null | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const derived = (c: Counts) => {
  const available = c.active !== null && c.total !== null ? c.total - c.active : null;
  const utilization = c.active !== null && c.total !== null && c.total > 0 ? c.active / c.total : null;
  return { available, utilization };
};
const fmt = (v: number | null, digits = 2) => (v === null ? 'n/a' : Number.isInteger(v) ? String(v) : v.toFixed(digits));
const pct = (v: number | null) => (v === null ? 'n/a' : `${(v * 100).toFixed(1)}%`);
const add = (a: number | null, b: number) => (a === null ? b : a + b);

/** The factory: needs only a Prometheus client. `enrich` throws PrometheusError / TimeoutError when the main queries fail. */
export function createPoolEnricher(settings: PoolSettings, deps: { prometheus: PrometheusClient }): Enricher {
  const s = settings;
  const { prometheus } = deps;
  return {
    name: 'pool',
    ...(s.timeoutMs ? { timeoutMs: s.timeoutMs } : {}),
    async enrich(ctx: EnrichContext): Promise<EnrichmentResult> {
      const now = ctx.now;
      const windowMs = s.windowMinutes * 60_000;
      const start = new Date(now.getTime() - windowMs);
      const alertStart = Date.parse(earliestStart(ctx.group) ?? '');
      const atAlert = Number.isFinite(alertStart) && alertStart >= start.getTime() && alertStart <= now.getTime();
      const at = atAlert ? new Date(alertStart) : now;

      const { matchers: fromAlert, missing } = matchersFromAlerts(s.copyLabels, ctx.group.alerts);
      const sel = selector(s.metric, [...s.matchers, ...fromAlert, anyOf(s.stateLabel, [s.states.active, s.states.idle, s.states.total])]);
      const by = [...new Set([s.stateLabel, ...s.instanceLabels])];
      const instantExpr = `sum by (${by.join(', ')}) (${sel})`;
      const rangeExpr = `sum by (${s.stateLabel}) (${sel})`;
      const stepSeconds = s.stepSeconds ?? Math.max(MIN_STEP_SECONDS, Math.ceil((s.windowMinutes * 60) / TREND_POINTS));
      const own = [...s.matchers, ...fromAlert].map(matcherText).join(',');
      const scoped = (q: string | null) => (q === null ? null : q.split(MATCHERS_PLACEHOLDER).join(own));
      const holdExpr = scoped(s.holdTimeQuery);
      const waitingExpr = scoped(s.waitingQuery);

      const optional = async (expr: string | null, combine: (vals: number[]) => number | null) => {
        if (!expr) return { value: null as number | null, error: null as string | null };
        try {
          const r = await prometheus.query(expr, { time: at, signal: ctx.signal });
          return { value: combine(r.samples.map((x) => x.value).filter(Number.isFinite)), error: null };
        } catch (e) {
          if (ctx.signal.aborted) throw e;
          return { value: null, error: (e as Error).message };
        }
      };
      const [instant, range, hold, waiting] = await Promise.all([
        prometheus.query(instantExpr, { time: at, signal: ctx.signal }),
        prometheus.queryRange(rangeExpr, { start, end: now, stepSeconds, signal: ctx.signal }),
        optional(holdExpr, (v) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : null)),
        optional(waitingExpr, (v) => (v.length ? v.reduce((a, b) => a + b, 0) : null)),
      ]);

      // Now: totals and per instance.
      const totals: Counts = { active: null, idle: null, total: null };
      const perInst = new Map<string, Counts>();
      const stateKey = (m: Record<string, string>): keyof Counts | null => {
        const v = m[s.stateLabel];
        return v === s.states.active ? 'active' : v === s.states.idle ? 'idle' : v === s.states.total ? 'total' : null;
      };
      let instanceLabel: string | null = null;
      for (const sample of instant.samples as PromSample[]) {
        const k = stateKey(sample.metric);
        const v = finite(sample.value);
        if (!k || v === null) continue;
        totals[k] = add(totals[k], v);
        const il = s.instanceLabels.find((l) => sample.metric[l] !== undefined && sample.metric[l] !== '');
        if (il) {
          instanceLabel ??= il;
          const name = sample.metric[il]!;
          const c = perInst.get(name) ?? { active: null, idle: null, total: null };
          c[k] = add(c[k], v);
          perInst.set(name, c);
        }
      }
      const { available, utilization } = derived(totals);
      const perInstance = [...perInst]
        .map(([instance, c]) => ({ instance, ...c, ...derived(c) }))
        .sort((a, b) => (b.utilization ?? -1) - (a.utilization ?? -1) || a.instance.localeCompare(b.instance));

      // Trend over the window.
      const byState = new Map<keyof Counts, Array<[number, number]>>();
      for (const series of range.series as PromSeries[]) {
        const k = stateKey(series.metric);
        if (k) byState.set(k, [...(byState.get(k) ?? []), ...series.points]);
      }
      const activePts = (byState.get('active') ?? []).sort((a, b) => a[0] - b[0]);
      const totalAt = new Map((byState.get('total') ?? []).map(([t, v]) => [t, v]));
      let saturatedSince: string | null = null;
      for (const [t, a] of activePts) {
        const tot = totalAt.get(t);
        if (tot !== undefined && Number.isFinite(tot) && Number.isFinite(a) && tot - a < s.availableThreshold) {
          saturatedSince = new Date(t).toISOString();
          break;
        }
      }
      const trendFrom = now.getTime() - s.trendMinutes * 60_000;
      const activeSlopePerMinute = slopePerMinute(activePts.filter(([t]) => t >= trendFrom));
      const activeTrend: PoolEvidence['activeTrend'] =
        activeSlopePerMinute === null
          ? 'unknown'
          : activeSlopePerMinute > s.flatSlopePerMinute
            ? 'climbing'
            : activeSlopePerMinute < -s.flatSlopePerMinute
              ? 'falling'
              : 'flat';

      const evidence: PoolEvidence = {
        ...totals,
        available,
        utilization,
        perInstance,
        windowMinutes: s.windowMinutes,
        saturatedSince,
        activeSlopePerMinute,
        activeTrend,
        meanHoldSeconds: hold.value,
        waitingClients: waiting.value,
      };

      const queries: SourceQuery[] = [instantExpr, rangeExpr, holdExpr, waitingExpr]
        .filter((q): q is string => !!q)
        .map((query) => ({ source: 'prometheus', query, start: start.toISOString(), end: now.toISOString() }));

      const atText = atAlert ? `at the alert's start (${at.toISOString()})` : `now (${at.toISOString()})`;
      const sections: Section[] = [];
      const notes: string[] = [];
      if (missing.length) notes.push(`The alert has no ${missing.map((l) => `\`${l}\``).join(', ')} label, so the query is not restricted by it.`);
      if (hold.error) notes.push(`Hold time query failed: ${hold.error}`);
      if (waiting.error) notes.push(`Waiting query failed: ${waiting.error}`);
      for (const w of [...instant.warnings, ...range.warnings]) notes.push(`Prometheus warning: ${w}`);

      if (totals.active === null && totals.total === null && activePts.length === 0) {
        sections.push({ type: 'text', text: `No pool series matched \`${sel}\` ${atText} or in the last ${s.windowMinutes} min.` });
        if (notes.length) sections.push({ type: 'text', title: 'Notes', text: notes.join('\n') });
        return { summary: `no pool metrics found for ${sel}`, sections, evidence, queries };
      }

      const since = saturatedSince
        ? `${saturatedSince} (${Math.round((at.getTime() - Date.parse(saturatedSince)) / 60_000)} min before ${atAlert ? 'the alert' : 'now'})`
        : `not below ${s.availableThreshold} in the last ${s.windowMinutes} min`;
      const trendText =
        activeSlopePerMinute === null
          ? 'unknown (too few points)'
          : `${activeTrend} (${activeSlopePerMinute >= 0 ? '+' : ''}${activeSlopePerMinute.toFixed(2)}/min over the last ${s.trendMinutes} min)`;
      sections.push({
        type: 'fields',
        title: `Connection pool ${atText}`,
        fields: [
          { label: 'Active', value: fmt(totals.active) },
          { label: 'Idle', value: fmt(totals.idle) },
          { label: 'Total', value: fmt(totals.total) },
          { label: 'Available', value: fmt(available) },
          { label: 'Utilization', value: pct(utilization) },
          { label: `Available < ${s.availableThreshold} since`, value: since },
          { label: 'Active connections', value: trendText },
          ...(s.holdTimeQuery ? [{ label: 'Mean hold time', value: hold.value === null ? 'n/a' : `${hold.value.toFixed(3)} s` }] : []),
          ...(s.waitingQuery ? [{ label: 'Waiting / timeouts', value: waiting.value === null ? 'n/a' : `${fmt(waiting.value, 3)}/s` }] : []),
        ],
      });
      if (perInstance.length > 0) {
        const rows = perInstance
          .slice(0, MAX_INSTANCE_ROWS)
          .map((p) => [p.instance, fmt(p.active), fmt(p.idle), fmt(p.total), fmt(p.available), pct(p.utilization)]);
        if (perInstance.length > MAX_INSTANCE_ROWS) rows.push([`… ${perInstance.length - MAX_INSTANCE_ROWS} more`, '', '', '', '', '']);
        sections.push({
          type: 'table',
          title: 'Per instance',
          columns: [instanceLabel ?? 'instance', 'active', 'idle', 'total', 'available', 'utilization'],
          rows,
        });
      }
      sections.push({
        type: 'series',
        title: `Pool connections, last ${s.windowMinutes} min`,
        unit: 'connections',
        series: (['active', 'idle', 'total'] as const).map((k) => ({
          name: k,
          points: (byState.get(k) ?? []).filter(([, v]) => Number.isFinite(v)).sort((a, b) => a[0] - b[0]),
        })),
      });
      if (notes.length) sections.push({ type: 'text', title: 'Notes', text: notes.join('\n') });

      const summary =
        `${fmt(totals.active)}/${fmt(totals.total)} connections active (${pct(utilization)}), ${fmt(available)} available` +
        (saturatedSince ? `; below ${s.availableThreshold} available since ${saturatedSince}` : '') +
        `; active ${activeTrend}` +
        (activeSlopePerMinute !== null ? ` (${activeSlopePerMinute >= 0 ? '+' : ''}${activeSlopePerMinute.toFixed(2)}/min)` : '');
      return { summary, sections, evidence, queries };
    },
  };
}

/** Registry entry: skipped with a reason where `sources.prometheus` is not configured. */
export const poolModule: EnricherModule<PoolSettings> = {
  name: 'pool',
  settingsSchema,
  create: (settings, deps) =>
    deps.clients.prometheus
      ? createPoolEnricher(settings, { prometheus: deps.clients.prometheus })
      : skippedEnricher('pool', 'sources.prometheus is not configured'),
};
