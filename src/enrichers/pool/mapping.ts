import { z } from 'zod';
import { matcherText, type LabelMatcher } from '../../sources/promql';

/**
 * The general mapping of the pool enricher: one PromQL expression per quantity of a connection
 * pool. Every preset (src/enrichers/pool/layouts.ts) is a named mapping of this shape, and
 * `enrichers.pool.mapping` is the same shape written by hand for everything else.
 *
 * Each expression gives one series per pool instance (its labels are the pool's identity: pool
 * name, instance, service), in the unit below. `$matchers` in it becomes the pool's own matchers.
 */

/** The quantities, in the order sections show them. */
export const QUANTITIES = ['inUse', 'idle', 'limit', 'waiting', 'timeouts', 'holdSeconds'] as const;
export type Quantity = (typeof QUANTITIES)[number];

/**
 * What each quantity means, its unit, and how the series of one pool are combined (several series
 * with the same identity, e.g. one per state or per exporter scope):
 * - `inUse`: connections checked out now (summed);
 * - `idle`: connections open and unused now (summed);
 * - `limit`: the most connections the pool may open; 0 or below means no limit, no series means
 *   unknown, never "exhausted". Several different values for one pool are reported, not combined;
 * - `waiting`: requests (threads, goroutines, clients) waiting for a connection now (summed);
 * - `timeouts`: acquisitions that gave up waiting, per second (summed);
 * - `holdSeconds`: mean seconds a connection is held per checkout (averaged).
 */
export const QUANTITY_TEXT: Record<Quantity, string> = {
  inUse: 'in use',
  idle: 'idle',
  limit: 'limit',
  waiting: 'waiting',
  timeouts: 'acquire timeouts/s',
  holdSeconds: 'mean hold (s)',
};

/** One PromQL expression per quantity; null where the layout does not export it. */
export type PoolMapping = Record<Quantity, string | null>;

/**
 * In every expression of a mapping this becomes the pool's own label matchers, escaped and
 * comma-separated: the configured `matchers` and those `copyLabels` takes from the alert
 * (`hikaricp_connections_active{$matchers}` gives `hikaricp_connections_active{service="checkout"}`;
 * `x{}` where there are none). Write it last inside the braces (`x{state="used",$matchers}`):
 * PromQL accepts the trailing comma it leaves when empty (prometheus/prometheus
 * `promql/parser/generated_parser.y`, `label_matchers: LEFT_BRACE label_match_list COMMA RIGHT_BRACE`).
 */
export const MATCHERS_PLACEHOLDER = '$matchers';

/** `$matchers` in `expr` replaced by `matchers` as PromQL text. Throws on an invalid label name. */
export function expandMatchers(expr: string, matchers: readonly LabelMatcher[]): string {
  return expr.split(MATCHERS_PLACEHOLDER).join(matchers.map(matcherText).join(','));
}

const expression = z.string().trim().min(1, 'must be a PromQL expression');

/**
 * `enrichers.pool.mapping`: any of the quantities as PromQL (`$matchers` as above). Each key given
 * replaces the expression of the layout read (the preset's, or the one discovery finds); with
 * `preset: auto` (the default) a mapping that sets `inUse` is a layout of its own and is read as it
 * is, without discovery. `null` turns a quantity off.
 */
export const mappingSchema = z.strictObject({
  inUse: expression.nullable().optional(),
  idle: expression.nullable().optional(),
  limit: expression.nullable().optional(),
  waiting: expression.nullable().optional(),
  timeouts: expression.nullable().optional(),
  holdSeconds: expression.nullable().optional(),
});
export type MappingSettings = z.infer<typeof mappingSchema>;

/** Whether a mapping from config sets any quantity (null included: turning one off is a setting too). */
export function mappingIsSet(m: MappingSettings | undefined): boolean {
  return !!m && QUANTITIES.some((q) => m[q] !== undefined);
}

/** `base` with each quantity `overrides` sets replaced. */
export function overrideMapping(base: PoolMapping, overrides: MappingSettings | undefined): PoolMapping {
  const out = { ...base };
  if (overrides) for (const q of QUANTITIES) if (overrides[q] !== undefined) out[q] = overrides[q] ?? null;
  return out;
}
