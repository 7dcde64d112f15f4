import type { PgSession } from '../../core/evidence';
import type { Rule } from '../rule';
import { factsOf, poolPhrase, type LockRoot } from '../facts';
import { capConfidence, clamp01, fmtMs, listItems, plural, shortQuery, TERMINATE_MAX_LINES } from '../format';
import { LOCK_WAIT_MIN_MS, MAX_CONFIDENCE, RELATED_LATENCY_ALERT } from '../thresholds';

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

function rootLine(r: LockRoot, waiting: number): string {
  const who = [r.application, r.user && `user ${r.user}`].filter(Boolean).join(', ');
  const head = `${r.kind === 'probable' ? 'probable root blocker' : r.kind === 'certain' ? 'root blocker' : 'blocker'} pid ${r.pid} on "${r.db}"${who ? ` (${who})` : ''}, ${r.state ?? 'state unknown'}${r.ageMs !== null ? ` for ${fmtMs(r.ageMs)}` : ''}`;
  if (r.kind === 'probable')
    return `${head}: its transaction is older than every lock wait while the listed blockers are themselves queued (${plural(waiting, 'session')} wait in all)`;
  return `${head}, blocks ${plural(r.directWaiters.length, 'session')} directly (pid ${listItems(r.directWaiters)})`;
}

/**
 * `lock_contention`: blocking chains (a blocker with waiting pids) or sessions waiting on
 * heavyweight locks. Names the root blockers (Facts.lockRoots: certain ones, else an
 * idle-in-transaction session behind a queue of waiters) with the statement that ends each.
 * Undefined where nothing waits on a lock.
 */
export const lockContention: Rule = (enrichments) => {
  const facts = factsOf(enrichments);
  const chains = facts.reachable.flatMap((db) => db.blockingChains.filter((c) => c.waitingPids.length > 0).map((c) => ({ db: db.name, c })));
  const lockWaits: Array<{ db: string; s: PgSession }> = facts.reachable.flatMap((db) =>
    db.longRunning.filter((s) => s.waitEventType === 'Lock' && s.state === 'active').map((s) => ({ db: db.name, s })),
  );
  if (chains.length === 0 && lockWaits.length === 0) return undefined;

  const waiting = [...facts.lockWaitingPids];
  const waitTimes = [...chains.map((x) => x.c.longestWaitMs), ...lockWaits.map((x) => x.s.queryAgeMs)].filter((x): x is number => x !== null);
  const longest = waitTimes.length > 0 ? Math.max(...waitTimes) : null;
  const roots = facts.lockRoots;

  const evidence: string[] = [];
  const against: string[] = [];
  const actions: string[] = [];
  let c =
    (chains.length > 0 ? LOCK_WEIGHTS.chainBase : LOCK_WEIGHTS.lockWaitBase) + LOCK_WEIGHTS.share * clamp01(waiting.length / ((facts.poolTotal ?? 10) * 0.5));
  if (longest !== null && longest >= LOCK_WAIT_MIN_MS) c += LOCK_WEIGHTS.longWait;
  else if (longest !== null) {
    c -= LOCK_WEIGHTS.shortWaitPenalty;
    against.push(`the longest lock wait is only ${fmtMs(longest)}: brief queueing rather than contention`);
  }

  for (const r of roots.slice(0, 3)) {
    evidence.push(rootLine(r, waiting.length));
    evidence.push(`pid ${r.pid}'s ${r.state === 'active' ? 'running' : 'last'} query: ${shortQuery(r.query)}`);
  }
  if (roots.length > 3) evidence.push(`and ${plural(roots.length - 3, 'more root blocker')}`);
  evidence.push(
    `${plural(waiting.length, 'session')} wait on locks${waiting.length > 0 ? ` (pid ${listItems(waiting)})` : ''}${longest !== null ? `, longest wait ${fmtMs(longest)}` : ''}`,
  );
  const rootPids = new Set(roots.map((r) => r.pid));
  const queued = chains.filter((x) => !rootPids.has(x.c.blockerPid)).sort((a, b) => b.c.waitingPids.length - a.c.waitingPids.length);
  if (queued.length > 0) {
    evidence.push(
      `queued behind them: ${listItems(
        queued.map((x) => `pid ${x.c.blockerPid} (${x.c.blockerState ?? '?'}) blocks ${x.c.waitingPids.length}`),
        3,
      )}`,
    );
  }
  if (roots.length === 0 && lockWaits.length > 0) evidence.push(`waiting query: ${shortQuery(lockWaits[0]!.s.query)}`);

  const pool = facts.pool;
  if (facts.poolSaturated === true) {
    c += LOCK_WEIGHTS.saturated;
    const held = pool && poolPhrase(pool);
    if (held) evidence.push(`${held} while ${plural(waiting.length, 'session')} wait on locks`);
  }
  if (facts.relatedFiring.has(RELATED_LATENCY_ALERT)) {
    c += LOCK_WEIGHTS.latencyAlert;
    evidence.push(`${RELATED_LATENCY_ALERT} is firing too`);
  }

  if (roots[0]?.kind === 'probable') {
    actions.push(
      `Confirm pid ${roots[0].pid} holds the contended lock: SELECT locktype, relation::regclass, mode, granted FROM pg_locks WHERE pid = ${roots[0].pid}; and SELECT pid, pg_blocking_pids(pid), wait_event FROM pg_stat_activity WHERE wait_event_type = 'Lock';`,
    );
  }
  for (const r of roots.slice(0, TERMINATE_MAX_LINES)) {
    const why = `${r.kind === 'probable' ? 'probable root blocker' : 'root blocker'} on "${r.db}", ${r.state ?? 'state unknown'}${r.ageMs !== null ? ` ${fmtMs(r.ageMs)}` : ''}`;
    if (r.state === 'active') actions.push(`SELECT pg_cancel_backend(${r.pid});  -- ${why}; if it keeps its locks: SELECT pg_terminate_backend(${r.pid});`);
    else actions.push(`SELECT pg_terminate_backend(${r.pid});  -- ${why}; its transaction rolls back and the waiters proceed`);
  }
  const top = roots[0];
  if (top)
    actions.push(`Find the code that runs "${shortQuery(top.query)}" and keep its transaction short: no network calls or waits between BEGIN and COMMIT.`);
  else actions.push("Find which session holds the lock: SELECT pid, pg_blocking_pids(pid), state, query FROM pg_stat_activity WHERE wait_event_type = 'Lock';");
  const user = top?.user ?? lockWaits.find((x) => x.s.user)?.s.user;
  actions.push(
    `Let waiters give up instead of holding pool connections: ALTER ROLE ${user ? `"${user.replace(/"/g, '""')}"` : '<app role>'} SET lock_timeout = '5s';`,
  );

  return { id: 'lock_contention', title: 'Lock contention', confidence: capConfidence(c, MAX_CONFIDENCE), evidence, actions, against };
};
