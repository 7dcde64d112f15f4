import type { Rule } from '../rule';
import { factsOf, holdsLocks, poolPhrase, poolWaitsPhrase, trafficPhrase, type Facts } from '../facts';
import { clamp01, fmtRate, fmtRatio, listItems, plural, capConfidence } from '../format';
import { raisePoolAction, sizePool } from '../sizing';
import { RELATED_LATENCY_ALERT, SLOW_QUERY_MIN_MS, TRAFFIC_SPIKE_RATIO, MAX_CONFIDENCE } from '../thresholds';

/** Weights of `traffic_spike`. */
export const SPIKE_WEIGHTS = {
  /** The request rate is at least TRAFFIC_SPIKE_RATIO times its baseline. */
  base: 0.45,
  /** Added in proportion to how far above the threshold, in full at SPIKE_FULL_RATIO. */
  ratio: 0.25,
  /** The enricher says "spike" but gives no ratio. */
  verdictOnly: 0.35,
  /** The pool saturated with it: the spike explains the page. */
  saturated: 0.2,
  /** Clients time out waiting for a connection. */
  waiting: 0.05,
  /** p99 latency alert firing too. */
  latencyAlert: 0.05,
  /** The pool evidence says it is not saturated. */
  notSaturatedPenalty: 0.15,
  /** Another root holds connections too (forgotten transactions, lock chains). */
  otherRootPenalty: 0.1,
} as const;

/** A ratio at which the spike term counts in full (twice the threshold). */
export const SPIKE_FULL_RATIO = TRAFFIC_SPIKE_RATIO * 2;

function movers(facts: Facts): Array<{ endpoint: string; now: number; before: number | null; ratio: number | null }> {
  const t = facts.traffic!;
  const before = (e: (typeof t.endpoints)[number]) => (t.baseline === 'day' ? e.dayAgo : (e.hourAgo ?? e.dayAgo));
  const named = t.topMovers.map((m) => t.endpoints.find((e) => e.endpoint === m)).filter((e): e is (typeof t.endpoints)[number] => !!e);
  const list = named.length > 0 ? named : [...t.endpoints].sort((a, b) => b.now - (before(b) ?? 0) - (a.now - (before(a) ?? 0)));
  return list
    .filter((e) => e.now > (before(e) ?? 0))
    .slice(0, 3)
    .map((e) => ({ endpoint: e.endpoint, now: e.now, before: before(e), ratio: e.ratio ?? (before(e) ? e.now / before(e)! : null) }));
}

/**
 * `traffic_spike`: the request rate is at least TRAFFIC_SPIKE_RATIO times its baseline (or the
 * traffic enricher's verdict is "spike"), ideally with the pool saturating. Undefined without
 * traffic evidence or below the threshold.
 */
export const trafficSpike: Rule = (enrichments) => {
  const facts = factsOf(enrichments);
  const t = facts.traffic;
  if (!t) return undefined;
  const ratio = facts.trafficRatio;
  if (ratio !== null ? ratio < TRAFFIC_SPIKE_RATIO : t.verdict !== 'spike') return undefined;

  const evidence: string[] = [];
  const against: string[] = [];
  const actions: string[] = [];
  let c =
    ratio !== null
      ? SPIKE_WEIGHTS.base + SPIKE_WEIGHTS.ratio * clamp01((ratio - TRAFFIC_SPIKE_RATIO) / (SPIKE_FULL_RATIO - TRAFFIC_SPIKE_RATIO))
      : SPIKE_WEIGHTS.verdictOnly;

  const baseName = t.baseline === 'day' ? 'a day ago' : 'an hour ago';
  const baseValue = t.baseline === 'day' ? t.totalDayAgo : (t.totalHourAgo ?? t.totalDayAgo);
  if (ratio !== null && t.totalNow !== null && baseValue !== null) {
    evidence.push(
      `request rate ${fmtRate(t.totalNow)} against ${fmtRate(baseValue)} ${baseName} (${fmtRatio(ratio)}; a spike is ${fmtRatio(TRAFFIC_SPIKE_RATIO)} or more)`,
    );
  } else if (ratio !== null) {
    evidence.push(`request rate at ${fmtRatio(ratio)} its baseline (a spike is ${fmtRatio(TRAFFIC_SPIKE_RATIO)} or more)`);
  } else {
    evidence.push('the traffic enricher reports a spike (no baseline ratio)');
  }
  const top = movers(facts);
  for (const m of top) {
    evidence.push(
      `${m.endpoint}: ${fmtRate(m.now)}${m.before !== null ? ` (was ${fmtRate(m.before)}${m.ratio !== null ? `, ${fmtRatio(m.ratio)}` : ''})` : ''}`,
    );
  }

  const pool = facts.pool;
  if (facts.poolSaturated === true) {
    c += SPIKE_WEIGHTS.saturated;
    const held = pool && poolPhrase(pool);
    if (held) evidence.push(`saturated with it: ${held}`);
  } else if (facts.poolSaturated === false) {
    c -= SPIKE_WEIGHTS.notSaturatedPenalty;
    against.push(`the pool is not saturated now (${pool?.available ?? '?'} connections available)`);
  }
  if (pool && facts.poolWaits === true) {
    c += SPIKE_WEIGHTS.waiting;
    evidence.push(poolWaitsPhrase(pool)!);
  }
  if (facts.relatedFiring.has(RELATED_LATENCY_ALERT)) {
    c += SPIKE_WEIGHTS.latencyAlert;
    evidence.push(`${RELATED_LATENCY_ALERT} is firing too`);
  }

  const leaks = facts.reachable.flatMap((d) => d.idleInTransaction).filter((s) => !holdsLocks(s.pid, facts));
  if (leaks.length > 0) {
    c -= SPIKE_WEIGHTS.otherRootPenalty;
    against.push(`${plural(leaks.length, 'session')} idle in transaction (pid ${listItems(leaks.map((s) => s.pid))}) hold connections regardless of traffic`);
  }
  if (facts.blockerPids.size > 0) {
    c -= SPIKE_WEIGHTS.otherRootPenalty;
    against.push(`lock chains: pid ${listItems([...facts.blockerPids])} block ${plural(facts.waiterPids.size, 'session')}`);
  }
  const slow = facts.reachable
    .flatMap((d) => d.longRunning)
    .filter((s) => s.state === 'active' && (s.queryAgeMs ?? 0) >= SLOW_QUERY_MIN_MS * 10 && !facts.waiterPids.has(s.pid));
  if (slow.length > 0)
    against.push(
      `${plural(slow.length, 'query', 'queries')} run longer than ${(SLOW_QUERY_MIN_MS * 10) / 1000} s (pid ${listItems(slow.map((s) => s.pid))}): slow queries, not volume, may hold the pool`,
    );
  if (t.verdict === 'normal' && ratio !== null) against.push(`the traffic enricher's own verdict is "normal" (${trafficPhrase(facts) ?? ''})`);

  const hot = top[0]?.endpoint;
  actions.push(
    hot
      ? `Find who sends the extra traffic to ${hot} (a client, a retry storm, a batch job, a deploy): break its requests down by client or user agent.`
      : 'Find where the extra traffic comes from (a client, a retry storm, a batch job, a deploy): break requests down by endpoint and client.',
  );
  actions.push(
    `${hot ? `Rate-limit or shed ${hot}` : 'Rate-limit the busiest endpoint'} until the pool recovers${facts.relatedFiring.has('error_rate_high') ? ' (errors are already up)' : ''}.`,
  );
  const sizing = sizePool(t.totalNow, pool?.meanHoldSeconds ?? null, facts.instances, facts.poolTotal);
  if (sizing) actions.push(`If the load is legitimate: ${raisePoolAction(sizing, facts)}`);
  else actions.push("If the load is legitimate, scale out the backend or raise the pool size (expose db_connection_hold_seconds to size it by Little's law).");

  return { id: 'traffic_spike', title: 'Traffic spike', confidence: capConfidence(c, MAX_CONFIDENCE), evidence, actions, against };
};
