import type { Section } from '../../core/diagnostic';
import type { Discovery } from './discovery';
import type { PoolEntry, PoolEvidence } from '../../core/evidence';
import type { PoolLayout } from './layouts';
import { QUANTITY_TEXT, type PoolMapping } from './mapping';
import { addPoints, type PoolGroup } from './pools';
import type { PoolInstanceReading, QueryOutcome, SharedReading } from './read';

/** Pool instances shown in the table; the rest are counted in a last row. */
export const MAX_POOL_ROWS = 20;
/** Pools charted (one series section each, saturated first); the Slack chart draws the first. */
export const MAX_CHARTED_POOLS = 3;
/** Names listed where discovery found nothing (the rest counted). */
export const MAX_NAMES_LISTED = 12;

const fmt = (v: number | null, digits = 2) => (v === null ? 'n/a' : Number.isInteger(v) ? String(v) : v.toFixed(digits));
const pct = (v: number | null) => (v === null ? 'n/a' : `${(v * 100).toFixed(1)}%`);
const rate = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(3)}/s`);
const signed = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(2)}`;

/** A limit as people read it: the number, "no limit", "no series", or the several values. */
export function limitText(p: Pick<PoolInstanceReading, 'limit' | 'limitStatus' | 'limitValues'>): string {
  switch (p.limitStatus) {
    case 'set':
      return fmt(p.limit);
    case 'unlimited':
      return 'no limit';
    case 'ambiguous':
      return `${p.limitValues.map((v) => fmt(v)).join(' or ')} (several)`;
    default:
      return 'no series';
  }
}

/** "HikariPool-1 on 10.0.0.7:8080" (or just the pool where there is no instance label). */
const where = (r: PoolInstanceReading, name: string) => (r.instance ? `${name} on ${r.instance}` : name);

/** What says a pool is saturated, in words. */
function whyText(e: Pick<PoolEntry, 'available' | 'limit' | 'waiting' | 'timeoutsPerSecond' | 'signals'>): string {
  const parts: string[] = [];
  if (e.signals.includes('available')) parts.push(`${fmt(e.available)} of ${fmt(e.limit)} available`);
  if (e.signals.includes('waiting')) parts.push(`${fmt(e.waiting)} waiting`);
  if (e.signals.includes('timeouts')) parts.push(`${rate(e.timeoutsPerSecond)} acquire timeouts`);
  return parts.join(', ');
}

/** Lines about limits that are no number: no limit, no series, several values. */
export function limitNotes(groups: readonly PoolGroup[], mapping: PoolMapping, poolLabels: readonly string[]): string[] {
  const out: string[] = [];
  for (const g of groups) {
    for (const r of g.readings) {
      const at = where(r, g.entry.name);
      if (r.limitStatus === 'unlimited') {
        out.push(
          `${at}: the limit series says ${fmt(r.limitValues[0] ?? 0)}, which means no limit: available connections do not apply; saturation is read from waiting requests${r.waiting === null ? ' (none exported here)' : ''} and the database side.`,
        );
      } else if (r.limitStatus === 'absent' && r.inUse !== null) {
        out.push(
          `${at}: ${mapping.limit === null ? 'this layout exports no limit' : 'the limit query found no series'}, so available connections are unknown (never assumed); saturation is read from waiting requests${r.waiting === null ? ' (none exported here)' : ''}.`,
        );
      } else if (r.limitStatus === 'ambiguous') {
        out.push(
          `${at}: the limit query gives ${r.limitValues.length} different values (${r.limitValues.map((v) => fmt(v)).join(', ')}) for one pool; pools are told apart by ${poolLabels.length ? poolLabels.join(', ') : 'no label'}. Add the label that separates them to enrichers.pool.poolLabels; the limit is left unknown.`,
        );
      }
    }
  }
  return out;
}

/** One line per query Prometheus refused: the quantity, the expression, Prometheus' answer, the key to change. */
export function queryErrorNotes(queries: readonly QueryOutcome[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const q of queries) {
    if (q.error === null || seen.has(q.quantity)) continue;
    seen.add(q.quantity);
    out.push(`${QUANTITY_TEXT[q.quantity]}: Prometheus refused \`${q.mapped}\`: ${q.error}. Change enrichers.pool.mapping.${q.quantity}.`);
  }
  return out;
}

/** Counts given for several pools at once (an expression aggregated past the pool's labels), which no one pool can take. */
export function sharedNotes(unattributed: readonly SharedReading[], pools: number): string[] {
  return unattributed.map((x) => {
    const what = [
      x.inUse !== null ? `${fmt(x.inUse)} in use` : '',
      x.idle !== null ? `${fmt(x.idle)} idle` : '',
      x.waiting !== null ? `${fmt(x.waiting)} waiting` : '',
      x.timeouts !== null ? `${rate(x.timeouts)} acquire timeouts` : '',
    ]
      .filter(Boolean)
      .join(', ');
    const labels = Object.entries(x.labels)
      .map(([k, v]) => `${k}="${v}"`)
      .join(',');
    return `${what} for {${labels}} covers ${pools > 1 ? `several of the ${pools} pools` : 'no pool read'}, so it is given to none: aggregate the mapping's expression by the pool's labels (enrichers.pool.poolLabels, instanceLabels).`;
  });
}

/** The section where no layout's series exist: what was looked for and the keys that fix it. */
export function nothingFoundText(d: Discovery, preset: string, windowMinutes: number): string {
  const names =
    d.lookedFor
      .slice(0, MAX_NAMES_LISTED)
      .map((n) => `\`${n}\``)
      .join(', ') + (d.lookedFor.length > MAX_NAMES_LISTED ? ` and ${d.lookedFor.length - MAX_NAMES_LISTED} more` : '');
  return (
    `No pool metrics found: looked for ${names} (preset ${preset}) with \`${d.selector}\` in the last ${windowMinutes} min. ` +
    'Set enrichers.pool.preset to the pool library the application uses (hikaricp, otel, go-sql, pgbouncer, runbook), or enrichers.pool.mapping to PromQL for its series.'
  );
}

/** How the layout was chosen, for the fields section. */
export function readAsText(layout: PoolLayout, d: Discovery | null): string {
  if (!d) return `${layout.title} (enrichers.pool.mapping)`;
  const found = d.chosen?.found ?? [];
  return `${layout.title}${found.length ? ` (found ${found.map((n) => `\`${n}\``).join(', ')})` : ''}`;
}

export interface PoolSectionsInput {
  atText: string;
  layout: PoolLayout;
  discovery: Discovery | null;
  groups: PoolGroup[];
  focus: PoolGroup[];
  evidence: PoolEvidence;
  instanceLabel: string;
  windowMinutes: number;
  trendMinutes: number;
  notes: string[];
}

/** The enricher's sections and summary line. */
export function poolSections(i: PoolSectionsInput): { sections: Section[]; summary: string } {
  const ev = i.evidence;
  const sections: Section[] = [];
  const saturated = i.groups.filter((g) => g.entry.saturated === true);
  const satText = saturated.length
    ? saturated
        .map(
          (g) =>
            `${g.entry.name}${g.entry.saturatedInstances.filter(Boolean).length ? ` on ${g.entry.saturatedInstances.filter(Boolean).join(', ')}` : ''} (${whyText(g.entry)})`,
        )
        .join('; ')
    : ev.saturated === false
      ? `none of ${i.groups.length} pool${i.groups.length === 1 ? '' : 's'}`
      : 'unknown: no limit and no waits measured';
  const since = ev.saturatedSince ? `${ev.saturatedSince}` : `not saturated in the last ${i.windowMinutes} min`;
  const trend =
    ev.activeSlopePerMinute === null
      ? 'unknown (too few points)'
      : `${ev.activeTrend} (${signed(ev.activeSlopePerMinute)}/min over the last ${i.trendMinutes} min)`;
  sections.push({
    type: 'fields',
    title: `Connection pool ${i.atText}`,
    fields: [
      { label: 'Read as', value: readAsText(i.layout, i.discovery) },
      { label: 'Saturated', value: satText },
      { label: 'In use', value: fmt(ev.active) },
      { label: 'Limit', value: ev.total !== null ? fmt(ev.total) : ev.pools.some((p) => p.limitStatus === 'unlimited') ? 'no limit' : 'n/a' },
      { label: 'Available', value: fmt(ev.available) },
      { label: 'Utilization', value: pct(ev.utilization) },
      { label: 'Waiting', value: fmt(ev.waiting) },
      ...(i.layout.mapping.timeouts !== null ? [{ label: 'Acquire timeouts', value: rate(ev.timeoutsPerSecond) }] : []),
      ...(i.layout.mapping.holdSeconds !== null
        ? [{ label: 'Mean hold time', value: ev.meanHoldSeconds === null ? 'n/a' : `${ev.meanHoldSeconds.toFixed(3)} s` }]
        : []),
      { label: 'Saturated since', value: since },
      { label: 'In use trend', value: trend },
    ],
  });

  const rows = i.groups.flatMap((g) => g.readings.map((r) => ({ g, r })));
  if (rows.length > 0) {
    const shown = rows
      .slice(0, MAX_POOL_ROWS)
      .map(({ g, r }) => [
        g.entry.name,
        r.instance,
        fmt(r.inUse),
        fmt(r.idle),
        limitText(r),
        fmt(r.available),
        fmt(r.waiting),
        fmt(r.timeouts, 3),
        fmt(r.holdSeconds, 3),
        r.saturated === true ? `yes${r.saturatedSince ? ` since ${r.saturatedSince}` : ''}` : r.saturated === false ? 'no' : 'unknown',
      ]);
    if (rows.length > MAX_POOL_ROWS) shown.push([`… ${rows.length - MAX_POOL_ROWS} more`, '', '', '', '', '', '', '', '', '']);
    sections.push({
      type: 'table',
      title: 'Pools',
      columns: ['pool', i.instanceLabel, 'in use', 'idle', 'limit', 'available', 'waiting', 'timeouts/s', 'hold s', 'saturated'],
      rows: shown,
    });
  }

  for (const g of i.focus.slice(0, MAX_CHARTED_POOLS)) {
    const sumOf = (k: 'inUse' | 'limit' | 'waiting') => addPoints(g.readings.map((r) => r.points[k]));
    const series = [
      { name: 'in use', points: sumOf('inUse') },
      { name: 'limit', points: sumOf('limit') },
      { name: 'waiting', points: sumOf('waiting') },
    ].filter((s) => s.points.length > 0);
    if (series.length) sections.push({ type: 'series', title: `${g.entry.name}: connections, last ${i.windowMinutes} min`, unit: 'connections', series });
  }
  if (i.notes.length) sections.push({ type: 'text', title: 'Notes', text: i.notes.join('\n') });

  const head = saturated.length
    ? `${saturated.map((g) => g.entry.name).join(', ')} saturated`
    : ev.saturated === false
      ? `${i.groups.length} pool${i.groups.length === 1 ? '' : 's'}, none saturated`
      : `${i.groups.length} pool${i.groups.length === 1 ? '' : 's'}, saturation unknown`;
  const used = ev.total !== null ? `${fmt(ev.active)}/${fmt(ev.total)} in use (${pct(ev.utilization)})` : `${fmt(ev.active)} in use`;
  const summary =
    `${head}: ${used}` +
    (ev.waiting !== null && ev.waiting > 0 ? `, ${fmt(ev.waiting)} waiting` : '') +
    (ev.timeoutsPerSecond !== null && ev.timeoutsPerSecond > 0 ? `, ${rate(ev.timeoutsPerSecond)} acquire timeouts` : '') +
    (ev.saturatedSince ? `; since ${ev.saturatedSince}` : '') +
    `; in use ${ev.activeTrend}` +
    (ev.activeSlopePerMinute !== null ? ` (${signed(ev.activeSlopePerMinute)}/min)` : '');
  return { sections, summary };
}
