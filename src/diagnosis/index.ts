import type { AlertGroup } from '../core/alert';
import type { Cause, Enrichment } from '../core/diagnostic';

/** A diagnosis rule: reads the enrichments' evidence, returns a cause or nothing. Pure. */
export type Rule = (enrichments: ReadonlyMap<string, Enrichment>, group: AlertGroup) => Cause | undefined;

/** The rules, in no particular order; the result is sorted by confidence. */
export const RULES: readonly Rule[] = [];

/** Scores the runbook's causes from the evidence, highest confidence first; empty where nothing stands out. */
export function diagnose(enrichments: readonly Enrichment[], group: AlertGroup, rules: readonly Rule[] = RULES): Cause[] {
  const byName = new Map(enrichments.filter((e) => e.status === 'ok').map((e) => [e.enricher, e]));
  const causes: Cause[] = [];
  for (const rule of rules) {
    const c = rule(byName, group);
    if (c && c.confidence > 0) causes.push({ ...c, confidence: Math.round(Math.min(1, c.confidence) * 100) / 100 });
  }
  return causes.sort((a, b) => b.confidence - a.confidence);
}
