import type { LockRootKind, PgBlockingChain, PgDatabaseEvidence, PgLockTree, PgSession } from '../../core/evidence';
import type { ActivityRow } from './sql';

/**
 * Trees of lock waits from pg_blocking_pids edges: each tree by its root (what holds the lock
 * and waits on nothing), with every session behind it, directly or in a queue. Pure.
 *
 * Facts used (PostgreSQL docs, functions-info.html, pg_blocking_pids, and checked on 15 in
 * test/sources/postgres-staged.test.ts):
 * - a waiter is blocked both by holders of a conflicting lock and by requests queued ahead of it
 *   (a waiting ALTER TABLE blocks the SELECTs that came after it);
 * - a prepared transaction that holds the lock is reported as pid 0; its gid is found through
 *   pg_locks (its locks have no pid) and pg_prepared_xacts;
 * - parallel workers are reported under their leader's pid; a waiting parallel worker is counted
 *   as its leader (pg_stat_activity.leader_pid).
 */

/** Statements that take a strong table lock: a schema change or maintenance command in a lock queue. */
const STRONG_LOCK_STATEMENT =
  /^\s*(?:\/\*[\s\S]*?\*\/\s*)*(ALTER\s|DROP\s|TRUNCATE\b|CREATE\s+(UNIQUE\s+)?INDEX\b|REINDEX\b|CLUSTER\b|VACUUM\s+FULL\b|LOCK\s|REFRESH\s+MATERIALIZED\s+VIEW\b)/i;
/** Waiters listed per tree. */
const LISTED_WAITERS = 10;

type Row = ActivityRow & { owner: PgSession['owner']; tool: string | null };

export interface LockInput {
  edges: Array<{ waiting_pid: number; blocker: number }>;
  byPid: ReadonlyMap<number, Row>;
  /** Raw query text by pid (for the roots and the strong-lock requests). */
  queries: ReadonlyMap<number, string>;
  prepared: Array<{ gid: string; owner: string | null; database: string | null; xid: string; age_ms: number | null; locks: number }>;
  /** The prepared transaction each pid-0 waiter waits on, where pg_locks tells. */
  preparedWaits: Array<{ waiting_pid: number; gid: string }>;
  /** Normalises a query for the evidence. */
  text(q: string | null): string;
  topN: number;
}

const ms = (v: number | null | undefined): number | null => (v === null || v === undefined || Number.isNaN(v) ? null : Math.max(0, Math.round(v)));

function kindOf(row: Row | undefined, raw: string | undefined): LockRootKind {
  if (!row) return 'unknown';
  if (row.hidden) return 'hidden';
  switch (row.backend_type) {
    case 'client backend':
      return 'client';
    case 'autovacuum worker':
      return /\(to prevent wraparound\)/.test(raw ?? '') ? 'autovacuum_wraparound' : 'autovacuum';
    case 'walsender':
      return 'walsender';
    default:
      return 'background';
  }
}

export function lockTrees(input: LockInput): Pick<PgDatabaseEvidence, 'lockTrees' | 'blockingChains' | 'preparedTransactions'> {
  const { byPid } = input;
  // a waiting parallel worker counts as its leader
  const lead = (pid: number) => {
    const r = byPid.get(pid);
    return r?.backend_type === 'parallel worker' && r.leader_pid ? r.leader_pid : pid;
  };
  const gidOf = new Map(input.preparedWaits.map((w) => [lead(w.waiting_pid), w.gid]));
  const onlyGid = input.prepared.length === 1 ? input.prepared[0]!.gid : null;
  /** A blocker's key: a pid, or `gid:<gid>` for a prepared transaction. */
  const keyOf = (waiter: number, blocker: number) => (blocker === 0 ? `gid:${gidOf.get(waiter) ?? onlyGid ?? '?'}` : String(lead(blocker)));

  const waitersOf = new Map<string, Set<number>>();
  const waiting = new Set<number>();
  for (const e of input.edges) {
    const w = lead(e.waiting_pid);
    const b = keyOf(w, e.blocker);
    if (b === String(w)) continue;
    waiting.add(w);
    (waitersOf.get(b) ?? waitersOf.set(b, new Set()).get(b)!).add(w);
  }
  const waitMs = (pid: number) => ms(byPid.get(pid)?.query_age_ms);
  const behind = (key: string): number[] => {
    const seen = new Set<number>();
    const queue = [...(waitersOf.get(key) ?? [])];
    while (queue.length) {
      const p = queue.shift()!;
      if (seen.has(p)) continue;
      seen.add(p);
      queue.push(...(waitersOf.get(String(p)) ?? []));
    }
    return [...seen];
  };

  const trees: PgLockTree[] = [];
  for (const key of waitersOf.keys()) {
    const isPrepared = key.startsWith('gid:');
    const pid = isPrepared ? 0 : Number(key);
    if (!isPrepared && waiting.has(pid)) continue; // it waits itself: not a root
    const all = behind(key);
    const direct = [...(waitersOf.get(key) ?? [])];
    const waits = all.map(waitMs).filter((x): x is number => x !== null);
    // the strong lock request with the longest queue behind it, inside this tree
    let queuedLock: PgLockTree['queuedLock'] = null;
    for (const p of all) {
      const raw = input.queries.get(p);
      const queue = waitersOf.has(String(p)) ? behind(String(p)).length : 0;
      if (queue > 0 && raw && STRONG_LOCK_STATEMENT.test(raw) && (!queuedLock || queue > queuedLock.queuedBehind)) {
        queuedLock = { pid: p, query: input.text(raw), waitMs: waitMs(p), queuedBehind: queue };
      }
    }
    const listed = [...direct.sort((a, b) => a - b), ...all.filter((p) => !direct.includes(p)).sort((a, b) => a - b)].slice(0, LISTED_WAITERS);
    const base = { waiting: all.length, waitingPids: listed, longestWaitMs: waits.length ? Math.max(...waits) : null, queuedLock };
    if (isPrepared) {
      const gid = key.slice(4);
      const px = input.prepared.find((x) => x.gid === gid);
      trees.push({
        rootPid: 0,
        kind: 'prepared',
        gid: gid === '?' ? null : gid,
        owner: null,
        tool: null,
        user: px?.owner ?? null,
        application: null,
        backendType: null,
        state: 'prepared',
        query: gid === '?' ? 'a prepared transaction (several exist; pg_locks did not tell which)' : `prepared transaction '${gid}'`,
        ageMs: ms(px?.age_ms),
        ...base,
      });
      continue;
    }
    const row = byPid.get(pid);
    const raw = input.queries.get(pid);
    trees.push({
      rootPid: pid,
      kind: kindOf(row, raw),
      gid: null,
      owner: row?.owner ?? null,
      tool: row?.tool ?? null,
      user: row?.usr ?? null,
      application: row?.app || null,
      backendType: row?.backend_type ?? null,
      state: row?.state ?? null,
      query: input.text(raw ?? null),
      ageMs: ms(row?.xact_age_ms ?? row?.query_age_ms),
      ...base,
    });
  }
  trees.sort((a, b) => b.waiting - a.waiting || (b.ageMs ?? 0) - (a.ageMs ?? 0));

  // the direct blocker -> waiters view, for readers of the first evidence version
  const chains: PgBlockingChain[] = [...waitersOf].map(([key, ws]) => {
    const pid = key.startsWith('gid:') ? 0 : Number(key);
    const row = pid ? byPid.get(pid) : undefined;
    const list = [...ws].sort((a, b) => a - b);
    const waits = list.map(waitMs).filter((x): x is number => x !== null);
    return {
      blockerPid: pid,
      blockerUser: row?.usr ?? null,
      blockerApplication: row?.app || null,
      blockerState: pid === 0 ? 'prepared' : (row?.state ?? null),
      blockerQuery: pid === 0 ? `prepared transaction '${key.slice(4)}'` : input.text(input.queries.get(pid) ?? null),
      blockerAgeMs: ms(row?.xact_age_ms ?? row?.query_age_ms),
      waitingPids: list,
      longestWaitMs: waits.length ? Math.max(...waits) : null,
    };
  });
  const isRoot = (c: PgBlockingChain) => (c.blockerPid === 0 || !waiting.has(c.blockerPid) ? 1 : 0);
  chains.sort((a, b) => isRoot(b) - isRoot(a) || b.waitingPids.length - a.waitingPids.length || (b.blockerAgeMs ?? 0) - (a.blockerAgeMs ?? 0));

  const preparedTransactions = input.prepared.map((p) => ({
    gid: p.gid,
    owner: p.owner,
    database: p.database,
    ageMs: ms(p.age_ms),
    locks: p.locks,
    waitingPids: trees.find((t) => t.gid === p.gid)?.waitingPids ?? [],
  }));
  return { lockTrees: trees.slice(0, input.topN * 2), blockingChains: chains.slice(0, input.topN), preparedTransactions };
}
