import type { Rule } from '../rule';
import { factsOf, poolPhrase, poolWaitsPhrase, trafficPhrase } from '../facts';
import { clamp01, fmtNum, capConfidence } from '../format';
import { littleLine, raisePoolAction, sizePool } from '../sizing';
import { SLOW_QUERY_MIN_MS, MAX_CONFIDENCE } from '../thresholds';

/**
 * Little's law need over pool size at which the pool counts as too small: from 80% busy on
 * average, bursts above the mean exhaust it.
 */
export const POOL_UNDERSIZED_MIN_RATIO = 0.8;
/** The need-to-size ratio at which the size term counts in full. */
export const POOL_UNDERSIZED_FULL_RATIO = 1.5;

/** Weights of `pool_misconfigured`. */
export const POOL_WEIGHTS = {
  base: 0.3,
  /** Added in proportion to need/size between the two ratios above. */
  need: 0.35,
  saturated: 0.1,
  /** Clients already time out waiting for a connection. */
  waiting: 0.1,
  /** Traffic is at its usual level: the normal load does not fit. */
  flatTraffic: 0.05,
  /** The mean hold itself is long (slow queries or leaks): the size is not the problem. */
  longHoldPenalty: 0.2,
} as const;

/**
 * `pool_misconfigured`: by Little's law (connections busy ≈ request rate × mean hold time) the
 * load needs at least POOL_UNDERSIZED_MIN_RATIO of the pool, which is exhausted. The action says
 * what to raise the pool's max to. Undefined without a rate, a mean hold time and a pool size, or
 * where the pool is large enough or not saturated.
 */
export const poolMisconfigured: Rule = (enrichments) => {
  const facts = factsOf(enrichments);
  const pool = facts.pool;
  if (!pool || facts.poolTotal === null || facts.poolSaturated === false) return undefined;
  const sizing = sizePool(facts.traffic?.totalNow ?? null, pool.meanHoldSeconds, facts.instances, facts.poolTotal);
  if (!sizing) return undefined;
  const r = sizing.needed / facts.poolTotal;
  if (r < POOL_UNDERSIZED_MIN_RATIO) return undefined;

  const evidence: string[] = [];
  const against: string[] = [];
  let c = POOL_WEIGHTS.base + POOL_WEIGHTS.need * clamp01((r - POOL_UNDERSIZED_MIN_RATIO) / (POOL_UNDERSIZED_FULL_RATIO - POOL_UNDERSIZED_MIN_RATIO));
  evidence.push(littleLine(sizing));
  evidence.push(
    `the pool's max is ${facts.poolTotal}${facts.instances > 1 ? ` over ${facts.instances} instances (${sizing.currentPerInstance} each)` : ''}: the load needs ${Math.round(r * 100)}% of it on average, leaving no room for bursts`,
  );
  if (facts.poolSaturated === true) {
    c += POOL_WEIGHTS.saturated;
    evidence.push(poolPhrase(pool) ?? `pool: ? of ${pool.total} connections checked out`);
  }
  if (facts.poolWaits === true) {
    c += POOL_WEIGHTS.waiting;
    evidence.push(poolWaitsPhrase(pool)!);
  }
  const phrase = trafficPhrase(facts);
  if (facts.trafficGrowing === false) {
    c += POOL_WEIGHTS.flatTraffic;
    if (phrase) evidence.push(`${phrase}: the usual load does not fit`);
  } else if (facts.trafficGrowing === true && phrase) {
    against.push(`${phrase}: the pool may be right for normal traffic`);
  }
  if (sizing.holdSeconds * 1000 >= SLOW_QUERY_MIN_MS) {
    c -= POOL_WEIGHTS.longHoldPenalty;
    against.push(
      `connections are held ${fmtNum(Math.round(sizing.holdSeconds * 100) / 100)} s on average: shorten the hold (slow queries, long transactions) before growing the pool`,
    );
  }

  const actions = [raisePoolAction(sizing, facts)];
  actions.push(
    `Or shorten the time each request holds a connection (now ${fmtNum(Math.round(sizing.holdSeconds * 1000))} ms): release it before slow non-database work, and use pool.query for one-off queries.`,
  );
  return { id: 'pool_misconfigured', title: 'Pool too small for the load', confidence: capConfidence(c, MAX_CONFIDENCE), evidence, actions, against };
};
