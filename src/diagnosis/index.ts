import type { AlertGroup } from '../core/alert';
import type { Cause, CauseId, Enrichment } from '../core/diagnostic';
import { factsOf } from './facts';
import type { Rule } from './rule';
import { connectionLeak } from './rules/connection-leak';
import { databaseConnectionLimit } from './rules/database-connection-limit';
import { databaseUnavailable } from './rules/database-unavailable';
import { lockContention } from './rules/lock-contention';
import { poolMisconfigured } from './rules/pool-misconfigured';
import { poolerSaturated } from './rules/pooler-saturated';
import { resourceExhaustion } from './rules/resource-exhaustion';
import { slowQueries } from './rules/slow-queries';
import { trafficSpike } from './rules/traffic-spike';

export type { Rule } from './rule';

/** The rules, one per cause id, in no particular order; the result is sorted by confidence. */
export const RULES: readonly Rule[] = [
  connectionLeak,
  trafficSpike,
  slowQueries,
  lockContention,
  poolMisconfigured,
  databaseConnectionLimit,
  databaseUnavailable,
  resourceExhaustion,
  poolerSaturated,
];

/**
 * Where one cause explains another, the root must rank above the symptom: when both are found,
 * the symptom's confidence is capped at the root's minus EXPLAINED_MARGIN and it says why. Applied
 * in this order, so a symptom capped here can cap its own symptoms further down the list.
 */
export const EXPLAINS: ReadonlyArray<{ root: CauseId; symptom: CauseId; why: string }> = [
  { root: 'lock_contention', symptom: 'slow_queries', why: 'queries that wait on a lock run long because of the lock' },
  {
    root: 'resource_exhaustion',
    symptom: 'slow_queries',
    why: 'queries waiting on disk or server-internal locks run long because the server is short of that resource',
  },
  { root: 'lock_contention', symptom: 'pool_misconfigured', why: 'connections held by lock waiters make any pool too small' },
  { root: 'connection_leak', symptom: 'pool_misconfigured', why: 'leaked connections shrink the pool; a larger pool leaks too' },
  { root: 'slow_queries', symptom: 'pool_misconfigured', why: 'slow queries hold connections longer; a larger pool queues more of them' },
  { root: 'traffic_spike', symptom: 'pool_misconfigured', why: 'the pool is sized for the usual traffic, not the spike' },
  { root: 'database_unavailable', symptom: 'resource_exhaustion', why: 'an unreachable server shows no resource waits worth acting on first' },
  { root: 'lock_contention', symptom: 'pooler_saturated', why: "the pooler's server connections wait on the lock, which fills its pool" },
  { root: 'slow_queries', symptom: 'pooler_saturated', why: "slow queries hold the pooler's server connections longer" },
  { root: 'pooler_saturated', symptom: 'pool_misconfigured', why: "the application's pool waits on the pooler; a larger pool only queues more clients in it" },
];

/** How far below its root a symptom is capped. */
export const EXPLAINED_MARGIN = 0.05;

function applyExplains(causes: Cause[]): Cause[] {
  const byId = new Map(causes.map((c) => [c.id, c]));
  for (const { root, symptom, why } of EXPLAINS) {
    const r = byId.get(root);
    const s = byId.get(symptom);
    if (!r || !s) continue;
    const cap = r.confidence - EXPLAINED_MARGIN;
    if (s.confidence > cap) {
      const capped: Cause = {
        ...s,
        confidence: Math.max(0, cap),
        against: [...(s.against ?? []), `explained by ${root} (${Math.round(r.confidence * 100)}%): ${why}`],
      };
      byId.set(symptom, capped);
    }
  }
  return [...byId.values()];
}

/**
 * Scores the runbook's causes from the evidence of the `ok` enrichments, highest confidence
 * first, each confidence in 0..1 (two decimals); empty where nothing stands out. Roots rank above
 * the symptoms they explain (EXPLAINS). Rules are pure and read evidence through its schemas
 * (src/core/evidence/): evidence that does not match (an older or damaged enrichment) counts as
 * missing, yields fewer causes rather than an exception, and each cause found says so in `against`.
 */
export function diagnose(enrichments: readonly Enrichment[], group: AlertGroup, rules: readonly Rule[] = RULES): Cause[] {
  const byName = new Map(enrichments.filter((e) => e.status === 'ok').map((e) => [e.enricher, e]));
  const found: Cause[] = [];
  for (const rule of rules) {
    const c = rule(byName, group);
    if (c && Number.isFinite(c.confidence) && c.confidence > 0) found.push({ ...c, confidence: Math.min(1, c.confidence) });
  }
  const unreadable = factsOf(byName).unreadable.map((u) => `the ${u.enricher} evidence does not match its schema (${u.issue}): read as missing`);
  return applyExplains(found)
    .map((c) => (unreadable.length ? { ...c, against: [...(c.against ?? []), ...unreadable] } : c))
    .filter((c) => c.confidence > 0)
    .map((c) => ({ ...c, confidence: Math.round(c.confidence * 100) / 100 }))
    .filter((c) => c.confidence > 0)
    .sort((a, b) => b.confidence - a.confidence);
}
