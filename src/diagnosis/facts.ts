import type { Enrichment } from '../core/diagnostic';
import type { LogsEvidence, PgDatabaseEvidence, PgSession, PoolEvidence, PostgresEvidence, RelatedAlertsEvidence, TrafficEvidence } from '../core/evidence';
import { readLogs, readPool, readPostgres, readRelated, readTraffic } from './read';
import { POOL_AVAILABLE_ALERT_THRESHOLD, POOL_SATURATED_UTILIZATION, TRAFFIC_FLAT_MAX_RATIO } from './thresholds';

/**
 * What the rules agree on, derived once from the sanitised evidence: whether the pool is
 * saturated, whether traffic grew, which pids block or wait on locks. Pure; never throws.
 */
export interface Facts {
  pool?: PoolEvidence;
  traffic?: TrafficEvidence;
  postgres?: PostgresEvidence;
  logs?: LogsEvidence;
  related?: RelatedAlertsEvidence;
  /** Databases that answered. */
  reachable: PgDatabaseEvidence[];
  /** true/false where the pool evidence says, null where it cannot tell. */
  poolSaturated: boolean | null;
  /** Pool size summed over instances (the pool's max), where known and positive. */
  poolTotal: number | null;
  /** Instances reporting a pool (at least 1). */
  instances: number;
  /** Request rate against its baseline, where known. */
  trafficRatio: number | null;
  /** true where traffic rose at least TRAFFIC_FLAT_MAX_RATIO, false where it did not, null where unknown. */
  trafficGrowing: boolean | null;
  /** Pids that block someone, and pids that wait in a blocking chain (all databases). */
  blockerPids: Set<number>;
  waiterPids: Set<number>;
  /** Names of related alerts now firing. */
  relatedFiring: Set<string>;
}

/** Computes the facts from the enrichments (only `ok` ones are read). */
export function factsOf(enrichments: ReadonlyMap<string, Enrichment>): Facts {
  const pool = readPool(enrichments);
  const traffic = readTraffic(enrichments);
  const postgres = readPostgres(enrichments);
  const logs = readLogs(enrichments);
  const related = readRelated(enrichments);
  const reachable = (postgres?.databases ?? []).filter((d) => d.reachable);

  let poolSaturated: boolean | null = null;
  if (pool) {
    if (pool.available !== null) poolSaturated = pool.available < POOL_AVAILABLE_ALERT_THRESHOLD;
    else if (pool.utilization !== null) poolSaturated = pool.utilization >= POOL_SATURATED_UTILIZATION;
    else if (pool.active !== null && pool.total !== null && pool.total > 0) poolSaturated = pool.total - pool.active < POOL_AVAILABLE_ALERT_THRESHOLD;
  }
  const poolTotal = pool?.total !== null && pool?.total !== undefined && pool.total > 0 ? pool.total : null;

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
  const relatedFiring = new Set((related?.related ?? []).filter((r) => r.state === '' || r.state === 'active' || r.state === 'firing').map((r) => r.alertname));

  return {
    pool,
    traffic,
    postgres,
    logs,
    related,
    reachable,
    poolSaturated,
    poolTotal,
    instances: Math.max(1, pool?.perInstance.length ?? 0),
    trafficRatio,
    trafficGrowing,
    blockerPids,
    waiterPids,
    relatedFiring,
  };
}

/** Whether a session waits on a lock (heavyweight lock wait, or a waiter of a blocking chain). */
export function waitsOnLock(s: PgSession, facts: Facts): boolean {
  return s.waitEventType === 'Lock' || facts.waiterPids.has(s.pid);
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
