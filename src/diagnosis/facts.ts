import type { Enrichment } from '../core/diagnostic';
import {
  logsEvidenceSchema,
  pgbouncerEvidenceSchema,
  poolEvidenceSchema,
  postgresEvidenceSchema,
  readEvidence,
  relatedAlertsEvidenceSchema,
  trafficEvidenceSchema,
  type EvidenceName,
  type EvidenceReading,
  type LogsEvidence,
  type PgBouncerEvidence,
  type PgDatabaseEvidence,
  type PgLockTree,
  type PgSession,
  type PoolEvidence,
  type PostgresEvidence,
  type RelatedAlertsEvidence,
  type TrafficEvidence,
} from '../core/evidence';
import { fmtNum, fmtRate } from './format';
import { POOL_AVAILABLE_ALERT_THRESHOLD, POOL_SATURATED_UTILIZATION, POOL_WAITING_MIN, TRAFFIC_FLAT_MAX_RATIO } from './thresholds';

/**
 * What the rules agree on, derived once from the evidence read through its schemas
 * (src/core/evidence/; evidence that does not match its schema counts as missing): whether the pool is
 * saturated, whether traffic grew, which pids block or wait on locks. Pure; never throws.
 */
export interface Facts {
  pool?: PoolEvidence;
  traffic?: TrafficEvidence;
  postgres?: PostgresEvidence;
  logs?: LogsEvidence;
  /** PgBouncer's admin console, where sources.pgbouncer[] is configured. */
  pgbouncer?: PgBouncerEvidence;
  related?: RelatedAlertsEvidence;
  /** Databases that answered. */
  reachable: PgDatabaseEvidence[];
  /**
   * true/false where the pool evidence says, null where it cannot tell: the enricher's verdict (a
   * pool short of connections, requests waiting for one, or acquisitions timing out), else derived
   * from the available connections.
   */
  poolSaturated: boolean | null;
  /** Pool size summed over instances (the pool's max), where known and positive. */
  poolTotal: number | null;
  /** Requests waiting for a pool connection (at least POOL_WAITING_MIN) or timing out for one: true/false where either is measured, else null. */
  poolWaits: boolean | null;
  /** Instances reporting a pool (at least 1). */
  instances: number;
  /** Request rate against its baseline, where known. */
  trafficRatio: number | null;
  /** true where traffic rose at least TRAFFIC_FLAT_MAX_RATIO, false where it did not, null where unknown. */
  trafficGrowing: boolean | null;
  /** Pids that block someone, and pids that wait in a blocking chain (all databases). */
  blockerPids: Set<number>;
  waiterPids: Set<number>;
  /** Pids seen waiting on a heavyweight lock: chain waiters and sessions whose wait event type is Lock. */
  lockWaitingPids: Set<number>;
  /** The sessions at the root of the lock waits (see lockRootsOf), strongest first. */
  lockRoots: LockRoot[];
  /** Names of related alerts now firing. */
  relatedFiring: Set<string>;
  /** Enrichments that ran ok but whose evidence does not match its schema (read as missing), with the first issue. */
  unreadable: Array<{ enricher: EvidenceName; issue: string }>;
}

/**
 * A session at the root of lock waits. `certain`: a chain's blocker that waits on nothing itself
 * (idle in transaction, or active and not waiting on a lock). `probable`: an idle-in-transaction
 * session older than every lock wait while the listed blockers are themselves queued, the usual
 * shape of a row-lock queue (later waiters are blocked by the first waiter, not by the holder,
 * and the enricher may list only the chains with the most waiters). `queued`: a chain's blocker
 * whose own state is unknown, used only when nothing better is seen.
 */
export interface LockRoot {
  db: string;
  pid: number;
  kind: 'certain' | 'probable' | 'queued';
  state: string | null;
  user: string | null;
  application: string | null;
  query: string;
  /** Since its transaction (or query) began. */
  ageMs: number | null;
  /** Waiters listed directly behind it (0 for a probable root). */
  directWaiters: number[];
  /** The enricher's own tree for this root, where it built one (its kind, owner, gid, queue). */
  tree?: PgLockTree;
}

function lockRootsOf(reachable: PgDatabaseEvidence[], waiterPids: Set<number>, lockWaiting: Set<number>): LockRoot[] {
  const out: LockRoot[] = [];
  for (const db of reachable) {
    // the enricher's trees know every root's kind: no guessing where it built them
    if (db.lockTrees.length > 0) {
      out.push(
        ...db.lockTrees.map((t): LockRoot => ({
          db: db.name,
          pid: t.rootPid,
          kind: 'certain',
          state: t.state,
          user: t.user,
          application: t.application,
          query: t.query,
          ageMs: t.ageMs,
          directWaiters: t.waitingPids,
          tree: t,
        })),
      );
      continue;
    }
    const sessions = new Map<number, PgSession>();
    for (const s of [...db.oldestTransactions, ...db.idleInTransaction, ...db.longRunning]) sessions.set(s.pid, s);
    const chains = db.blockingChains.filter((c) => c.waitingPids.length > 0);
    const lockWaits = db.longRunning.filter((s) => s.waitEventType === 'Lock');
    if (chains.length === 0 && lockWaits.length === 0) continue;
    const waits = [...chains.map((c) => c.longestWaitMs), ...lockWaits.map((s) => s.queryAgeMs)].filter((x): x is number => x !== null);
    const longestWait = waits.length > 0 ? Math.max(...waits) : 0;
    const fromChain = (c: (typeof chains)[number], kind: LockRoot['kind']): LockRoot => ({
      db: db.name,
      pid: c.blockerPid,
      kind,
      state: c.blockerState,
      user: c.blockerUser,
      application: c.blockerApplication,
      query: c.blockerQuery,
      ageMs: c.blockerAgeMs,
      directWaiters: c.waitingPids,
    });
    const certain = chains
      .filter((c) => !waiterPids.has(c.blockerPid) && !lockWaiting.has(c.blockerPid))
      .filter(
        (c) =>
          (c.blockerState ?? '').startsWith('idle in transaction') ||
          (c.blockerState === 'active' && sessions.has(c.blockerPid) && sessions.get(c.blockerPid)!.waitEventType !== 'Lock'),
      )
      .map((c) => fromChain(c, 'certain'));
    if (certain.length > 0) {
      out.push(...certain);
      continue;
    }
    const listed = new Set(chains.map((c) => c.blockerPid));
    const probable = [...sessions.values()]
      .filter((s) => (s.state ?? '').startsWith('idle in transaction') && !lockWaiting.has(s.pid) && !listed.has(s.pid))
      .filter((s) => (s.xactAgeMs ?? s.stateAgeMs ?? -1) >= longestWait)
      .sort((a, b) => (b.xactAgeMs ?? 0) - (a.xactAgeMs ?? 0))
      .map((s): LockRoot => ({
        db: db.name,
        pid: s.pid,
        kind: 'probable',
        state: s.state,
        user: s.user,
        application: s.application,
        query: s.query,
        ageMs: s.xactAgeMs ?? s.stateAgeMs,
        directWaiters: [],
      }));
    if (probable.length > 0) {
      out.push(...probable);
      continue;
    }
    out.push(...chains.filter((c) => !waiterPids.has(c.blockerPid)).map((c) => fromChain(c, 'queued')));
  }
  const rank = { certain: 0, probable: 1, queued: 2 } as const;
  const behind = (r: LockRoot) => r.tree?.waiting ?? r.directWaiters.length;
  return out.sort((a, b) => rank[a.kind] - rank[b.kind] || behind(b) - behind(a));
}

/** Computes the facts from the enrichments (only `ok` ones are read). */
export function factsOf(enrichments: ReadonlyMap<string, Enrichment>): Facts {
  const unreadable: Facts['unreadable'] = [];
  const read = <T>(name: EvidenceName, reading: EvidenceReading<T>): T | undefined => {
    if (reading.kind === 'invalid') unreadable.push({ enricher: name, issue: reading.issue });
    return reading.kind === 'ok' ? reading.evidence : undefined;
  };
  const pool = read('pool', readEvidence(enrichments, 'pool', poolEvidenceSchema));
  const traffic = read('traffic', readEvidence(enrichments, 'traffic', trafficEvidenceSchema));
  const postgres = read('postgres', readEvidence(enrichments, 'postgres', postgresEvidenceSchema));
  const logs = read('logs', readEvidence(enrichments, 'logs', logsEvidenceSchema));
  const pgbouncer = read('pgbouncer', readEvidence(enrichments, 'pgbouncer', pgbouncerEvidenceSchema));
  const related = read('related_alerts', readEvidence(enrichments, 'related_alerts', relatedAlertsEvidenceSchema));
  const reachable = (postgres?.databases ?? []).filter((d) => d.reachable);

  let poolSaturated: boolean | null = null;
  if (pool) {
    // The enricher's own verdict where it gave one: per pool, from the limit, waiting requests and acquire timeouts.
    if (pool.saturated !== null) poolSaturated = pool.saturated;
    else if (pool.available !== null) poolSaturated = pool.available < POOL_AVAILABLE_ALERT_THRESHOLD;
    else if (pool.utilization !== null) poolSaturated = pool.utilization >= POOL_SATURATED_UTILIZATION;
    else if (pool.active !== null && pool.total !== null && pool.total > 0) poolSaturated = pool.total - pool.active < POOL_AVAILABLE_ALERT_THRESHOLD;
  }
  const poolTotal = pool?.total !== null && pool?.total !== undefined && pool.total > 0 ? pool.total : null;
  const timeouts = pool ? timeoutsOf(pool) : null;
  const poolWaits =
    (pool?.waiting ?? 0) >= POOL_WAITING_MIN || (timeouts ?? 0) > 0 ? true : (pool?.waiting ?? null) !== null || timeouts !== null ? false : null;

  const trafficRatio = traffic?.ratio !== null && traffic?.ratio !== undefined && traffic.ratio >= 0 ? traffic.ratio : null;
  const trafficGrowing = trafficRatio !== null ? trafficRatio >= TRAFFIC_FLAT_MAX_RATIO : traffic?.verdict === 'spike' ? true : null;

  const blockerPids = new Set<number>();
  const waiterPids = new Set<number>();
  for (const db of reachable) {
    for (const c of db.blockingChains) {
      if (c.waitingPids.length === 0) continue;
      blockerPids.add(c.blockerPid);
      for (const p of c.waitingPids) waiterPids.add(p);
    }
  }
  const lockWaitingPids = new Set(waiterPids);
  for (const db of reachable) for (const x of [...db.longRunning, ...db.oldestTransactions]) if (x.waitEventType === 'Lock') lockWaitingPids.add(x.pid);
  const lockRoots = lockRootsOf(reachable, waiterPids, lockWaitingPids);
  const relatedFiring = new Set((related?.related ?? []).filter((r) => r.state === '' || r.state === 'active' || r.state === 'firing').map((r) => r.alertname));

  return {
    pool,
    traffic,
    postgres,
    logs,
    pgbouncer,
    related,
    reachable,
    poolSaturated,
    poolTotal,
    poolWaits,
    instances: Math.max(1, pool?.perInstance.length ?? 0),
    trafficRatio,
    trafficGrowing,
    blockerPids,
    waiterPids,
    lockWaitingPids,
    lockRoots,
    relatedFiring,
    unreadable,
  };
}

/** Whether a session waits on a lock (heavyweight lock wait, or a waiter of a blocking chain). */
export function waitsOnLock(s: PgSession, facts: Facts): boolean {
  return s.waitEventType === 'Lock' || facts.lockWaitingPids.has(s.pid);
}

/** Whether a session holds locks others wait on (a chain's blocker or a root of the lock waits). */
export function holdsLocks(pid: number, facts: Facts): boolean {
  return facts.blockerPids.has(pid) || facts.lockRoots.some((r) => r.pid === pid);
}

/** "traffic is flat (1.02x its hour-ago baseline)" and the like, or undefined without a ratio. */
export function trafficPhrase(facts: Facts): string | undefined {
  const t = facts.traffic;
  if (!t || facts.trafficRatio === null) return undefined;
  const base = t.baseline === 'day' ? 'day-ago' : 'hour-ago';
  const r = facts.trafficRatio;
  const how = r >= TRAFFIC_FLAT_MAX_RATIO ? 'traffic rose' : r <= 1 / TRAFFIC_FLAT_MAX_RATIO ? 'traffic fell' : 'traffic is flat';
  const now = t.totalNow !== null ? `, ${t.totalNow >= 100 ? Math.round(t.totalNow) : t.totalNow.toFixed(1)}/s now` : '';
  return `${how} (${r.toFixed(2)}x its ${base} baseline${now})`;
}

/** Acquire timeouts per second (`waitingClients` in evidence written before `timeoutsPerSecond`). */
function timeoutsOf(pool: PoolEvidence): number | null {
  return pool.timeoutsPerSecond ?? pool.waitingClients;
}

/**
 * "pool HikariPool-1: 20 of 20 connections checked out (0 available)" (the saturated pools by name,
 * "no limit" where a pool has none), or undefined where nothing is known of connections in use.
 */
export function poolPhrase(pool: PoolEvidence): string | undefined {
  if (pool.active === null) return undefined;
  const name = pool.saturatedPools.length > 0 ? `pool ${pool.saturatedPools.join(', ')}` : 'pool';
  if (pool.total !== null)
    return `${name}: ${pool.active} of ${pool.total} connections checked out (${pool.available ?? Math.max(0, pool.total - pool.active)} available)`;
  const unlimited = pool.pools.some((p) => p.limitStatus === 'unlimited');
  return `${name}: ${pool.active} connections checked out${unlimited ? ' (no limit set)' : ''}`;
}

/** "37 requests wait for a connection, 0.200/s time out waiting", or undefined where there are no waits. */
export function poolWaitsPhrase(pool: PoolEvidence): string | undefined {
  const parts: string[] = [];
  if (pool.waiting !== null && pool.waiting >= POOL_WAITING_MIN) parts.push(`${fmtNum(Math.round(pool.waiting * 10) / 10)} requests wait for a connection`);
  const t = timeoutsOf(pool);
  if (t !== null && t > 0) parts.push(`${fmtRate(t)} requests time out waiting for a connection`);
  return parts.length ? parts.join(', ') : undefined;
}
