import type { PgSession } from '../../core/evidence';
import type { Rule } from '../rule';
import { factsOf, holdsLocks, poolPhrase, trafficPhrase, waitsOnLock } from '../facts';
import { clamp01, fmtMs, listItems, plural, shortQuery, TERMINATE_MAX_LINES, capConfidence } from '../format';
import { RELATED_LATENCY_ALERT, SLOW_QUERY_MIN_MS, MAX_CONFIDENCE } from '../thresholds';

/** Weights of `slow_queries`. */
export const SLOW_WEIGHTS = {
  /** At least one active query runs SLOW_QUERY_MIN_MS or longer and waits on no lock. */
  base: 0.4,
  /** Added in proportion to the share of the pool they hold, in full at half of it. */
  share: 0.3,
  saturated: 0.1,
  /** pg_stat_statements shows statements whose mean is itself slow. */
  statements: 0.05,
  latencyAlert: 0.05,
  /** Traffic rose: volume, not slowness, may be what holds the pool. */
  trafficGrowingPenalty: 0.2,
} as const;

interface Slow {
  db: string;
  s: PgSession;
}

/**
 * `slow_queries`: long-running active queries that hold connections and wait on no lock.
 * Queries that wait on a lock, and the blockers of lock chains, are left out: they belong to
 * `lock_contention` (the root), so this rule never scores a lock chain's waiters as slowness.
 * Undefined where no such query is seen.
 */
export const slowQueries: Rule = (enrichments) => {
  const facts = factsOf(enrichments);
  const slow: Slow[] = [];
  const lockBound: number[] = [];
  for (const db of facts.reachable) {
    for (const s of db.longRunning) {
      if (s.state !== 'active' || s.queryAgeMs === null || s.queryAgeMs < SLOW_QUERY_MIN_MS) continue;
      if (waitsOnLock(s, facts) || holdsLocks(s.pid, facts)) lockBound.push(s.pid);
      else slow.push({ db: db.name, s });
    }
  }
  if (slow.length === 0) return undefined;
  slow.sort((a, b) => (b.s.queryAgeMs ?? 0) - (a.s.queryAgeMs ?? 0));

  const evidence: string[] = [];
  const against: string[] = [];
  const actions: string[] = [];
  let c = SLOW_WEIGHTS.base + SLOW_WEIGHTS.share * clamp01(slow.length / ((facts.poolTotal ?? 10) * 0.5));

  evidence.push(
    `${plural(slow.length, 'active query', 'active queries')} running longer than ${fmtMs(SLOW_QUERY_MIN_MS)}, not waiting on locks: ` +
      listItems(
        slow.map((x) => `pid ${x.s.pid} (${fmtMs(x.s.queryAgeMs)}${x.s.waitEventType ? `, waiting on ${x.s.waitEventType}/${x.s.waitEvent ?? '?'}` : ''})`),
      ),
  );
  const byQuery = new Map<string, Slow[]>();
  for (const x of slow) byQuery.set(shortQuery(x.s.query), [...(byQuery.get(shortQuery(x.s.query)) ?? []), x]);
  for (const [q, xs] of [...byQuery].sort((a, b) => b[1].length - a[1].length).slice(0, 3)) {
    evidence.push(
      `on "${xs[0]!.db}", ${plural(xs.length, 'session')} (pid ${listItems(xs.map((x) => x.s.pid))}) running for up to ${fmtMs(xs[0]!.s.queryAgeMs)}: ${q}`,
    );
  }
  const statements = facts.reachable
    .flatMap((d) => d.topStatements ?? [])
    .filter((st) => st.meanMs >= SLOW_QUERY_MIN_MS)
    .sort((a, b) => b.totalMs - a.totalMs);
  if (statements.length > 0) {
    c += SLOW_WEIGHTS.statements;
    for (const st of statements.slice(0, 2)) evidence.push(`pg_stat_statements: ${shortQuery(st.query)} averages ${fmtMs(st.meanMs)} over ${st.calls} calls`);
  }
  const pool = facts.pool;
  if (facts.poolSaturated === true) {
    c += SLOW_WEIGHTS.saturated;
    const held = pool && poolPhrase(pool);
    if (held) evidence.push(held);
  }
  if (pool?.meanHoldSeconds !== null && pool?.meanHoldSeconds !== undefined && pool.meanHoldSeconds * 1000 >= SLOW_QUERY_MIN_MS) {
    evidence.push(`connections are held ${pool.meanHoldSeconds.toFixed(2)} s on average`);
  }
  if (facts.relatedFiring.has(RELATED_LATENCY_ALERT)) {
    c += SLOW_WEIGHTS.latencyAlert;
    evidence.push(`${RELATED_LATENCY_ALERT} is firing too`);
  }

  if (lockBound.length > 0)
    against.push(
      `${plural(lockBound.length, 'other long-running query', 'other long-running queries')} (pid ${listItems(lockBound)}) only wait on locks or hold them: counted under lock contention`,
    );
  const phrase = trafficPhrase(facts);
  if (facts.trafficGrowing === true) {
    c -= SLOW_WEIGHTS.trafficGrowingPenalty;
    against.push(phrase ?? 'traffic is rising: volume may be what holds the pool');
  } else if (facts.trafficGrowing === false && phrase) {
    evidence.push(phrase);
  }
  if (pool && pool.perInstance.length > 0 && facts.poolSaturated === false) against.push('the pool is not saturated now');

  for (const x of slow.slice(0, TERMINATE_MAX_LINES)) {
    actions.push(
      `SELECT pg_cancel_backend(${x.s.pid});  -- on "${x.db}": running ${fmtMs(x.s.queryAgeMs)}: ${shortQuery(x.s.query)} (pg_terminate_backend(${x.s.pid}) if the cancel does not end it)`,
    );
  }
  const worst = [...byQuery][0]!;
  actions.push(`Look at the plan of "${worst[0]}": EXPLAIN (without ANALYZE, which would run it again) for a sequential scan, a missing index or a bad join.`);
  const user = slow.find((x) => x.s.user)?.s.user;
  actions.push(
    `Bound how long one request can hold a connection: ALTER ROLE ${user ? `"${user.replace(/"/g, '""')}"` : '<app role>'} SET statement_timeout = '5s';`,
  );

  return { id: 'slow_queries', title: 'Slow queries', confidence: capConfidence(c, MAX_CONFIDENCE), evidence, actions, against };
};
