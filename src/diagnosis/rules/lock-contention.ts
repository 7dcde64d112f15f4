import type { PgBlockingChain, PgSession } from '../../core/evidence';
import type { Rule } from '../rule';
import { factsOf } from '../facts';
import { clamp01, fmtMs, listItems, plural, shortQuery, TERMINATE_MAX_LINES, capConfidence } from '../format';
import { LOCK_WAIT_MIN_MS, RELATED_LATENCY_ALERT, MAX_CONFIDENCE } from '../thresholds';

/** Weights of `lock_contention`. */
export const LOCK_WEIGHTS = {
  /** pg_blocking_pids shows at least one blocker with waiters. */
  chainBase: 0.55,
  /** No chains, but active sessions wait on heavyweight locks. */
  lockWaitBase: 0.4,
  /** Added in proportion to the waiters' share of the pool, in full at half of it. */
  share: 0.2,
  /** The longest wait reaches LOCK_WAIT_MIN_MS. */
  longWait: 0.1,
  saturated: 0.1,
  latencyAlert: 0.05,
  /** Every wait is shorter than LOCK_WAIT_MIN_MS: normal queueing. */
  shortWaitPenalty: 0.2,
} as const;

interface Chain { db: string; c: PgBlockingChain; root: boolean }

/**
 * `lock_contention`: blocking chains (a blocker with waiting pids) or sessions waiting on
 * heavyweight locks. The root blockers (those not waiting themselves) come first, with the
 * statement that ends each. Undefined where nothing waits on a lock.
 */
export const lockContention: Rule = (enrichments) => {
  const facts = factsOf(enrichments);
  const chains: Chain[] = [];
  const lockWaits: Array<{ db: string; s: PgSession }> = [];
  for (const db of facts.reachable) {
    for (const c of db.blockingChains) if (c.waitingPids.length > 0) chains.push({ db: db.name, c, root: !facts.waiterPids.has(c.blockerPid) });
    for (const s of db.longRunning) if (s.waitEventType === 'Lock' && s.state === 'active') lockWaits.push({ db: db.name, s });
  }
  if (chains.length === 0 && lockWaits.length === 0) return undefined;
  chains.sort((a, b) => Number(b.root) - Number(a.root) || b.c.waitingPids.length - a.c.waitingPids.length);

  const waiters = chains.length > 0 ? facts.waiterPids.size : lockWaits.length;
  const waitTimes = [...chains.map((x) => x.c.longestWaitMs), ...lockWaits.map((x) => x.s.queryAgeMs)].filter((x): x is number => x !== null);
  const longest = waitTimes.length > 0 ? Math.max(...waitTimes) : null;

  const evidence: string[] = [];
  const against: string[] = [];
  const actions: string[] = [];
  let c = (chains.length > 0 ? LOCK_WEIGHTS.chainBase : LOCK_WEIGHTS.lockWaitBase) + LOCK_WEIGHTS.share * clamp01(waiters / ((facts.poolTotal ?? 10) * 0.5));
  if (longest !== null && longest >= LOCK_WAIT_MIN_MS) c += LOCK_WEIGHTS.longWait;
  else if (longest !== null) {
    c -= LOCK_WEIGHTS.shortWaitPenalty;
    against.push(`the longest lock wait is only ${fmtMs(longest)}: brief queueing rather than contention`);
  }

  for (const { db, c: ch, root } of chains.slice(0, 3)) {
    const who = [ch.blockerApplication, ch.blockerUser && `user ${ch.blockerUser}`].filter(Boolean).join(', ');
    evidence.push(
      `${root ? 'root blocker ' : ''}pid ${ch.blockerPid} on "${db}"${who ? ` (${who})` : ''}, ${ch.blockerState ?? 'state unknown'}${ch.blockerAgeMs !== null ? ` for ${fmtMs(ch.blockerAgeMs)}` : ''}, blocks ${plural(ch.waitingPids.length, 'session')} (pid ${listItems(ch.waitingPids)})${ch.longestWaitMs !== null ? `, longest wait ${fmtMs(ch.longestWaitMs)}` : ''}`,
    );
    evidence.push(`pid ${ch.blockerPid}'s ${ch.blockerState === 'active' ? 'running' : 'last'} query: ${shortQuery(ch.blockerQuery)}`);
  }
  if (chains.length > 3) evidence.push(`and ${plural(chains.length - 3, 'more blocking chain')}`);
  if (chains.length === 0) {
    evidence.push(`${plural(lockWaits.length, 'active session')} wait on locks: ${listItems(lockWaits.map((x) => `pid ${x.s.pid} (${x.s.waitEvent ?? 'lock'}, ${fmtMs(x.s.queryAgeMs)})`))}`);
    evidence.push(`waiting query: ${shortQuery(lockWaits[0]!.s.query)}`);
  }
  const pool = facts.pool;
  if (facts.poolSaturated === true) {
    c += LOCK_WEIGHTS.saturated;
    if (pool && pool.active !== null && pool.total !== null) evidence.push(`pool: ${pool.active} of ${pool.total} connections checked out while ${plural(waiters, 'session')} wait on locks`);
  }
  if (facts.relatedFiring.has(RELATED_LATENCY_ALERT)) {
    c += LOCK_WEIGHTS.latencyAlert;
    evidence.push(`${RELATED_LATENCY_ALERT} is firing too`);
  }

  const roots = chains.filter((x) => x.root);
  for (const { db, c: ch } of (roots.length > 0 ? roots : chains).slice(0, TERMINATE_MAX_LINES)) {
    const why = `blocker on "${db}", ${ch.blockerState ?? 'state unknown'}${ch.blockerAgeMs !== null ? ` ${fmtMs(ch.blockerAgeMs)}` : ''}, ${plural(ch.waitingPids.length, 'session')} wait on it`;
    if (ch.blockerState === 'active') actions.push(`SELECT pg_cancel_backend(${ch.blockerPid});  -- ${why}; if it keeps its locks: SELECT pg_terminate_backend(${ch.blockerPid});`);
    else actions.push(`SELECT pg_terminate_backend(${ch.blockerPid});  -- ${why}; its transaction rolls back`);
  }
  const top = roots[0] ?? chains[0];
  if (top) actions.push(`Find the code that runs "${shortQuery(top.c.blockerQuery)}" and keep its transaction short: no network calls or waits between BEGIN and COMMIT.`);
  else actions.push('Find which session holds the lock: SELECT pid, pg_blocking_pids(pid), state, query FROM pg_stat_activity WHERE wait_event_type = \'Lock\';');
  const user = top?.c.blockerUser ?? lockWaits.find((x) => x.s.user)?.s.user;
  actions.push(`Let waiters give up instead of holding pool connections: ALTER ROLE ${user ? `"${user.replace(/"/g, '""')}"` : '<app role>'} SET lock_timeout = '5s';`);

  return { id: 'lock_contention', title: 'Lock contention', confidence: capConfidence(c, MAX_CONFIDENCE), evidence, actions, against };
};
