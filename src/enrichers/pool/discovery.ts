import type { AlertGroup } from '../../core/alert';
import type { PrometheusClient } from '../../sources/prometheus';
import { matcherText, regexEscape, type LabelMatcher } from '../../sources/promql';
import type { PoolLayout } from './layouts';

/**
 * Discovery: which of the known pool layouts exist in Prometheus, with one cheap lookup (the
 * metric names among the candidates' names that have series within the window, for the alert's
 * own matchers), and which one to read.
 */

/** A layout whose first name (its in-use or waiting series) has series, with the names of it that exist. */
export interface PresentLayout {
  layout: PoolLayout;
  found: string[];
}

export interface Discovery {
  /** The layout to read, or null where none is present. */
  chosen: PresentLayout | null;
  /** Every layout present, in the order they are preferred. */
  present: PresentLayout[];
  /** Why `chosen` was picked where several exist (empty otherwise). */
  reason: string;
  /** Every name looked for, and the lookup as sent (for the section and the queries list). */
  lookedFor: string[];
  selector: string;
}

/**
 * The metric names an alert's expression mentions, from its `generatorURL` (`g0.expr=...`): the
 * alert's own rule says which layout it was written on. Empty where there is none.
 */
export function namesInAlertExpressions(group: AlertGroup, candidates: readonly string[]): Set<string> {
  const found = new Set<string>();
  for (const a of group.alerts) {
    let expr: string;
    try {
      const url = new URL(a.generatorURL);
      expr = [...url.searchParams.entries()]
        .filter(([k]) => /^g\d+\.expr$/.test(k))
        .map(([, v]) => v)
        .join('\n');
    } catch {
      continue;
    }
    // A name counts where it stands alone: not part of a longer identifier (quoted UTF-8 names end at the quote).
    for (const n of candidates) {
      const re = new RegExp(`(^|[^a-zA-Z0-9_:.])${regexEscape(n)}($|[^a-zA-Z0-9_:.])`);
      if (re.test(expr)) found.add(n);
    }
  }
  return found;
}

/**
 * Looks the candidates' names up in one `/api/v1/label/__name__/values` call restricted to
 * `matchers` and [start, end], and picks a layout: the ones the alert's own expression names first,
 * then the order of `candidates`. Throws what the Prometheus client throws.
 */
export async function discoverLayout(
  prometheus: PrometheusClient,
  candidates: readonly PoolLayout[],
  opts: { matchers: readonly LabelMatcher[]; start: Date; end: Date; group: AlertGroup; signal: AbortSignal },
): Promise<Discovery> {
  const lookedFor = [...new Set(candidates.flatMap((l) => l.names))];
  const selector = `{${[{ name: '__name__', op: '=~' as const, value: lookedFor.map(regexEscape).join('|') }, ...opts.matchers].map(matcherText).join(',')}}`;
  const { values } = await prometheus.labelValues('__name__', {
    match: [selector],
    start: opts.start,
    end: opts.end,
    limit: lookedFor.length,
    signal: opts.signal,
  });
  const exists = new Set(values);
  const present = candidates.filter((l) => exists.has(l.names[0]!)).map((layout) => ({ layout, found: layout.names.filter((n) => exists.has(n)) }));
  if (present.length <= 1) return { chosen: present[0] ?? null, present, reason: '', lookedFor, selector };

  const named = namesInAlertExpressions(opts.group, lookedFor);
  const byAlert = present.filter((p) => p.layout.names.some((n) => named.has(n)));
  const chosen = byAlert[0] ?? present[0]!;
  const reason =
    byAlert.length > 0
      ? `the alert's own expression reads ${[...named]
          .filter((n) => chosen.layout.names.includes(n))
          .map((n) => `\`${n}\``)
          .join(', ')}`
      : `it comes first in the preferred order (${candidates.map((l) => l.id).join(', ')}): the application's own pool before a pooler's`;
  return { chosen, present, reason, lookedFor, selector };
}
