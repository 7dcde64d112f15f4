import { earliestStart } from '../../core/alert';
import type { SourceQuery } from '../../core/diagnostic';
import { skippedEnricher, type Enricher, type EnrichContext, type EnrichmentResult } from '../../core/enricher';
import { PrometheusError, type PrometheusClient } from '../../sources/prometheus';
import { copiedLabelNotes, matchersFromGroup } from '../../sources/promql';
import { discoverLayout, type Discovery } from './discovery';
import type { PoolEvidence } from '../../core/evidence';
import { layoutsOf, type PoolLayout } from './layouts';
import { expandMatchers, mappingIsSet, overrideMapping, QUANTITIES, type MappingSettings, type PoolMapping } from './mapping';
import { focusNumbers, focusPools, groupPools } from './pools';
import { readPools } from './read';
import { limitNotes, nothingFoundText, poolSections, queryErrorNotes, sharedNotes } from './sections';
import type { EnricherModule } from '../registry-types';
import { MIN_STEP_SECONDS, settingsSchema, TREND_POINTS, type PoolSettings } from './settings';

/**
 * `pool`: the application's connection pool from Prometheus (runbook step 1), whichever library
 * exports it. It finds the layout (or reads the configured preset or mapping), reads every pool
 * apart at the alert's time (in use, idle, limit, waiting, acquire timeouts, hold time), names the
 * saturated pools and their instances, and follows the window for when saturation began and
 * whether connections in use still climb.
 */

const NO_MAPPING: PoolMapping = { inUse: null, idle: null, limit: null, waiting: null, timeouts: null, holdSeconds: null };

/**
 * The older `holdTimeQuery` / `waitingQuery` keys: written for the runbook's naming, so they apply to
 * the runbook layout and a hand-written mapping only (a preset reads its library's own series).
 */
function legacyOverrides(s: PoolSettings): MappingSettings {
  return { ...(s.holdTimeQuery !== null ? { holdSeconds: s.holdTimeQuery } : {}), ...(s.waitingQuery !== null ? { timeouts: s.waitingQuery } : {}) };
}

/** The factory: needs only a Prometheus client. `enrich` throws PrometheusError / TimeoutError where Prometheus fails or refuses every query. */
export function createPoolEnricher(settings: PoolSettings, deps: { prometheus: PrometheusClient }): Enricher {
  const s = settings;
  const { prometheus } = deps;
  const runbook = { metric: s.metric, stateLabel: s.stateLabel, states: s.states };
  // A mapping that says what is in use is a layout of its own; one that adds other quantities adds them to the layout read.
  const custom = s.preset === 'auto' && typeof s.mapping?.inUse === 'string';
  const candidates = layoutsOf(s.preset, runbook);
  return {
    name: 'pool',
    ...(s.timeoutMs ? { timeoutMs: s.timeoutMs } : {}),
    async enrich(ctx: EnrichContext): Promise<EnrichmentResult> {
      const now = ctx.now;
      const start = new Date(now.getTime() - s.windowMinutes * 60_000);
      const alertStart = Date.parse(earliestStart(ctx.group) ?? '');
      const atAlert = Number.isFinite(alertStart) && alertStart >= start.getTime() && alertStart <= now.getTime();
      const at = atAlert ? new Date(alertStart) : now;
      const atText = atAlert ? `at the alert's start (${at.toISOString()})` : `now (${at.toISOString()})`;
      const stepSeconds = s.stepSeconds ?? Math.max(MIN_STEP_SECONDS, Math.ceil((s.windowMinutes * 60) / TREND_POINTS));
      const trendFrom = now.getTime() - s.trendMinutes * 60_000;

      const fromGroup = matchersFromGroup(s.copyLabels, ctx.group);
      const matchers = [...s.matchers, ...fromGroup.matchers];
      const notes: string[] = [];
      notes.push(...copiedLabelNotes(fromGroup, ctx.group.truncatedAlerts));
      const queries: SourceQuery[] = [];
      const q = (query: string) => queries.push({ source: 'prometheus', query, start: start.toISOString(), end: now.toISOString() });

      let layout: PoolLayout | null;
      let discovery: Discovery | null = null;
      if (custom) {
        layout = {
          id: 'mapping',
          preset: 'mapping',
          title: 'the configured mapping',
          source: 'enrichers.pool.mapping',
          names: [],
          poolLabels: s.poolLabels ?? [],
          mapping: NO_MAPPING,
        };
      } else {
        discovery = await discoverLayout(prometheus, candidates, { matchers, start, end: now, group: ctx.group, signal: ctx.signal });
        q(discovery.selector);
        layout = discovery.chosen?.layout ?? (mappingIsSet(s.mapping) ? candidates[0]! : null);
        if (discovery.present.length > 1 && discovery.chosen) {
          notes.unshift(
            `Several pool layouts exist (${discovery.present.map((p) => p.layout.id).join(', ')}); reading ${discovery.chosen.layout.id} because ${discovery.reason}. Set enrichers.pool.preset to read another.`,
          );
        }
      }
      const base: Omit<PoolEvidence, 'layout' | 'pools' | 'saturatedPools' | 'saturated'> = {
        present: discovery?.present.map((p) => p.layout.id) ?? [],
        windowMinutes: s.windowMinutes,
        at: at.toISOString(),
        ...focusNumbers([], s.flatSlopePerMinute, trendFrom),
      };
      if (!layout) {
        const text = nothingFoundText(discovery!, s.preset, s.windowMinutes);
        const evidence: PoolEvidence = { ...base, layout: null, pools: [], saturatedPools: [], saturated: null };
        return {
          summary: `no pool metrics found (looked for ${discovery!.lookedFor.length} metric names)`,
          sections: [{ type: 'text', text }, ...(notes.length ? [{ type: 'text' as const, title: 'Notes', text: notes.join('\n') }] : [])],
          evidence: evidence as unknown as Record<string, unknown>,
          queries,
        };
      }

      const mapping = overrideMapping(overrideMapping(layout.mapping, layout.id === 'runbook' || custom ? legacyOverrides(s) : {}), s.mapping);
      const poolLabels = s.poolLabels ?? layout.poolLabels;
      let readings: Awaited<ReturnType<typeof readPools>>;
      try {
        readings = await readPools(prometheus, mapping, {
          at,
          start,
          end: now,
          stepSeconds,
          matchers,
          poolLabels,
          instanceLabels: s.instanceLabels,
          availableThreshold: s.availableThreshold,
          trendMinutes: s.trendMinutes,
          flatSlopePerMinute: s.flatSlopePerMinute,
          signal: ctx.signal,
        });
      } catch (e) {
        if (e instanceof PrometheusError && e.message.startsWith('Prometheus refused every pool query')) {
          throw new PrometheusError(
            `${e.message} (${layout.id === 'mapping' ? 'change enrichers.pool.mapping' : `reading ${layout.title}; set enrichers.pool.mapping or another enrichers.pool.preset`})`,
            e.errorType,
            e.status,
          );
        }
        throw e;
      }
      for (const quantity of QUANTITIES) if (mapping[quantity] !== null) q(expandMatchers(mapping[quantity], matchers));

      const { groups, unattributed } = groupPools(readings.instances, readings.shared, s.instanceLabels, s.flatSlopePerMinute, trendFrom);
      const focus = focusPools(groups);
      const saturatedPools = groups.filter((g) => g.entry.saturated === true).map((g) => g.entry.name);
      const saturated = saturatedPools.length > 0 ? true : groups.length > 0 && groups.every((g) => g.entry.saturated === false) ? false : null;
      const evidence: PoolEvidence = {
        ...base,
        ...focusNumbers(focus, s.flatSlopePerMinute, trendFrom),
        layout: { id: layout.id, preset: layout.preset, title: layout.title },
        pools: groups.map((g) => g.entry),
        saturatedPools,
        saturated,
      };
      notes.push(
        ...queryErrorNotes(readings.queries),
        ...limitNotes(groups, mapping, poolLabels),
        ...sharedNotes(unattributed, groups.length),
        ...readings.warnings.map((w) => `Prometheus warning: ${w}`),
      );

      if (groups.length === 0) {
        const text = `${layout.title}: no pool series ${atText} or in the last ${s.windowMinutes} min for these matchers.`;
        return {
          summary: `no pool series for ${layout.id}`,
          sections: [{ type: 'text', text }, ...(notes.length ? [{ type: 'text' as const, title: 'Notes', text: notes.join('\n') }] : [])],
          evidence: { ...evidence } as unknown as Record<string, unknown>,
          queries,
        };
      }
      const instanceLabel = s.instanceLabels.find((l) => readings.instances.some((r) => r.labels[l])) ?? 'instance';
      const { sections, summary } = poolSections({
        atText,
        layout: { ...layout, mapping },
        discovery,
        groups,
        focus,
        evidence,
        instanceLabel,
        windowMinutes: s.windowMinutes,
        trendMinutes: s.trendMinutes,
        notes,
      });
      return { summary, sections, evidence: evidence as unknown as Record<string, unknown>, queries };
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
