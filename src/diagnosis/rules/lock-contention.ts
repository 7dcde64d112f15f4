import type { PgLockTree, PgSession } from '../../core/evidence';
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

/** "a person's SQL tool (DBeaver), user analyst" and the like. */
function whoseText(t: PgLockTree): string {
  const tool = t.tool ? ` (${t.tool})` : '';
  const owner =
    t.owner === 'person' ? `a person's SQL tool${tool}` : t.owner === 'application' ? 'the application' : t.owner === 'other' ? `another client${tool}` : '';
  return [owner, t.application && t.owner !== 'person' ? t.application : '', t.user && `user ${t.user}`].filter(Boolean).join(', ');
}

const KIND_TEXT: Record<PgLockTree['kind'], string> = {
  client: 'session',
  prepared: 'prepared transaction',
  autovacuum: 'autovacuum worker',
  autovacuum_wraparound: 'anti-wraparound autovacuum worker',
  walsender: 'walsender',
  background: 'background worker',
  hidden: 'session hidden from the monitoring role',
  unknown: 'backend (gone since)',
};

function rootLine(r: LockRoot, waiting: number): string {
  const t = r.tree;
  if (t) {
    const name =
      t.kind === 'prepared'
        ? `prepared transaction '${t.gid ?? '?'}' (pid 0, no session${t.user ? `, owner ${t.user}` : ''})`
        : `${KIND_TEXT[t.kind]} pid ${t.rootPid}`;
    const who = t.kind === 'prepared' ? '' : whoseText(t);
    const state = t.kind === 'prepared' ? `prepared ${fmtMs(t.ageMs)} ago` : `${t.state ?? 'state unknown'}${t.ageMs !== null ? ` for ${fmtMs(t.ageMs)}` : ''}`;
    return `root blocker on "${r.db}": ${name}${who ? ` (${who})` : ''}, ${state}; ${plural(t.waiting, 'session')} wait behind it${t.longestWaitMs !== null ? `, the longest for ${fmtMs(t.longestWaitMs)}` : ''}`;
  }
  const who = [r.application, r.user && `user ${r.user}`].filter(Boolean).join(', ');
  const head = `${r.kind === 'probable' ? 'probable root blocker' : r.kind === 'certain' ? 'root blocker' : 'blocker'} pid ${r.pid} on "${r.db}"${who ? ` (${who})` : ''}, ${r.state ?? 'state unknown'}${r.ageMs !== null ? ` for ${fmtMs(r.ageMs)}` : ''}`;
  if (r.kind === 'probable')
    return `${head}: its transaction is older than every lock wait while the listed blockers are themselves queued (${plural(waiting, 'session')} wait in all)`;
  return `${head}, blocks ${plural(r.directWaiters.length, 'session')} directly (pid ${listItems(r.directWaiters)})`;
}

/** The safe action for a root of this kind (its first line names the statement). */
function rootActions(r: LockRoot): string[] {
  const t = r.tree;
  const age = r.ageMs !== null ? ` ${fmtMs(r.ageMs)}` : '';
  const why = `${r.kind === 'probable' ? 'probable root blocker' : 'root blocker'} on "${r.db}", ${r.state ?? 'state unknown'}${age}`;
  if (!t) {
    if (r.state === 'active') return [`SELECT pg_cancel_backend(${r.pid});  -- ${why}; if it keeps its locks: SELECT pg_terminate_backend(${r.pid});`];
    return [`SELECT pg_terminate_backend(${r.pid});  -- ${why}; its transaction rolls back and the waiters proceed`];
  }
  switch (t.kind) {
    case 'prepared':
      return [
        `ROLLBACK PREPARED '${(t.gid ?? '<gid>').replace(/'/g, "''")}';  -- on "${r.db}": a transaction prepared for two-phase commit ${fmtMs(t.ageMs)} ago with no session left holds the lock ${plural(t.waiting, 'session')} wait for (or COMMIT PREPARED if its coordinator meant to commit it; ask whoever runs the two-phase commit first). Connect to database ${t.user ? `as ${t.user} or a superuser` : 'as its owner or a superuser'}.`,
      ];
    case 'autovacuum_wraparound':
      return [
        `Do not cancel pid ${t.rootPid}: an anti-wraparound autovacuum protects the database from transaction ID wraparound, does not give way to lock requests, and starts again at once if cancelled. Let it finish; cancel what waits on it instead${t.queuedLock ? ` (pid ${t.queuedLock.pid} below)` : ''}, and schedule schema changes on that table after it.`,
      ];
    case 'autovacuum':
      return [
        `SELECT pg_cancel_backend(${t.rootPid});  -- a regular autovacuum on "${r.db}"; it gives way to lock requests by itself after deadlock_timeout, and cancelling it is safe (it runs again later)`,
      ];
    case 'walsender':
      return [
        `pid ${t.rootPid} is a walsender (replication): find which replica or slot it serves before ending it; ending it breaks that replication until it reconnects.`,
      ];
    case 'background':
      return [`pid ${t.rootPid} is a background worker (${t.backendType ?? 'unknown type'}): find what it is (an extension's worker?) before ending it.`];
    case 'hidden':
      return [
        `pid ${t.rootPid} is hidden from the monitoring role: look at it as a superuser (SELECT * FROM pg_stat_activity WHERE pid = ${t.rootPid}), or let the role see it: GRANT pg_monitor TO <monitoring role>;`,
      ];
    case 'unknown':
      return [`pid ${t.rootPid} has gone since: the waits may be clearing; re-run the diagnosis.`];
    case 'client': {
      const person =
        t.owner === 'person'
          ? ` It is a person's SQL tool${t.tool ? ` (${t.tool})` : ''}${t.user ? ` logged in as ${t.user}` : ''}: ask them to commit or roll back, or end it.`
          : '';
      if (r.state === 'active')
        return [`SELECT pg_cancel_backend(${t.rootPid});  -- ${why}; if it keeps its locks: SELECT pg_terminate_backend(${t.rootPid});${person}`];
      return [`SELECT pg_terminate_backend(${t.rootPid});  -- ${why}; its transaction rolls back and the waiters proceed.${person}`];
    }
  }
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
  const trees = facts.reachable.flatMap((db) => db.lockTrees.map((t) => ({ db: db.name, t })));
  if (chains.length === 0 && lockWaits.length === 0 && trees.length === 0) return undefined;

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
    if (r.tree?.kind !== 'prepared' && r.tree?.kind !== 'hidden')
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
  // a strong lock request with a queue behind it: cancelling it frees the queue at once and loses no one's work
  const queues = new Map<number, NonNullable<PgLockTree['queuedLock']> & { db: string }>();
  for (const r of roots) if (r.tree?.queuedLock) queues.set(r.tree.queuedLock.pid, { ...r.tree.queuedLock, db: r.db });
  for (const q of queues.values()) {
    evidence.push(`pid ${q.pid} waits ${fmtMs(q.waitMs)} for a strong lock and ${plural(q.queuedBehind, 'session')} queue behind it: ${shortQuery(q.query)}`);
    actions.push(
      `SELECT pg_cancel_backend(${q.pid});  -- on "${q.db}": "${shortQuery(q.query)}" waits for its lock while ${plural(q.queuedBehind, 'session')} queue behind it; run it again later with SET lock_timeout = '5s' (and retries), so a migration never queues traffic behind it`,
    );
  }
  for (const r of roots.slice(0, TERMINATE_MAX_LINES)) actions.push(...rootActions(r));
  const top = roots[0];
  if (top?.tree?.kind === 'prepared')
    actions.push('Find the two-phase-commit coordinator that prepared it and did not finish, and make it resolve in-doubt transactions on restart.');
  else if (top && (!top.tree || top.tree.kind === 'client'))
    actions.push(`Find the code that runs "${shortQuery(top.query)}" and keep its transaction short: no network calls or waits between BEGIN and COMMIT.`);
  else actions.push("Find which session holds the lock: SELECT pid, pg_blocking_pids(pid), state, query FROM pg_stat_activity WHERE wait_event_type = 'Lock';");
  const user = top?.user ?? lockWaits.find((x) => x.s.user)?.s.user;
  actions.push(
    `Let waiters give up instead of holding pool connections: ALTER ROLE ${user ? `"${user.replace(/"/g, '""')}"` : '<app role>'} SET lock_timeout = '5s';`,
  );

  return { id: 'lock_contention', title: 'Lock contention', confidence: capConfidence(c, MAX_CONFIDENCE), evidence, actions, against };
};
