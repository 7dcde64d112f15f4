import type { Facts } from './facts';
import { fmtNum, fmtRate } from './format';
import { POOL_SIZING_HEADROOM } from './thresholds';

/** A pool size from Little's law: connections in use ≈ request rate × mean hold time. */
export interface PoolSizing {
  rate: number;
  holdSeconds: number;
  /** rate × holdSeconds: connections in use on average, over all instances. */
  needed: number;
  /** ceil(needed × headroom), over all instances. */
  recommendedTotal: number;
  /** recommendedTotal spread over the instances, and never below the current size. */
  recommendedPerInstance: number;
  currentPerInstance: number | null;
  instances: number;
}

/**
 * Sizes the pool for `rate` requests per second, each holding a connection `holdSeconds` on
 * average, with POOL_SIZING_HEADROOM. Undefined where either number is missing or not positive.
 */
export function sizePool(rate: number | null, holdSeconds: number | null, instances: number, currentTotal: number | null): PoolSizing | undefined {
  if (rate === null || holdSeconds === null || !(rate > 0) || !(holdSeconds > 0)) return undefined;
  const needed = rate * holdSeconds;
  const n = Math.max(1, Math.floor(instances));
  const recommendedTotal = Math.max(1, Math.ceil(needed * POOL_SIZING_HEADROOM));
  const currentPerInstance = currentTotal !== null && currentTotal > 0 ? Math.round(currentTotal / n) : null;
  const recommendedPerInstance = Math.max(Math.ceil(recommendedTotal / n), (currentPerInstance ?? 0) + 1);
  return { rate, holdSeconds, needed, recommendedTotal, recommendedPerInstance, currentPerInstance, instances: n };
}

/** "Little's law: 120/s × 0.105 s held ≈ 12.6 connections busy on average" */
export function littleLine(s: PoolSizing): string {
  return `Little's law: ${fmtRate(s.rate)} × ${fmtNum(Math.round(s.holdSeconds * 1000) / 1000)} s mean hold ≈ ${fmtNum(Math.round(s.needed * 10) / 10)} connections busy on average`;
}

/**
 * Connections the database can still give this application's pools: the usable slots
 * (max_connections minus reserved) minus what other clients hold. Null where unknown.
 */
export function databaseRoomForPool(facts: Facts): { room: number; usable: number; db: string } | null {
  for (const db of facts.reachable) {
    if (db.maxConnections === null || db.connections === null) continue;
    const usable = db.maxConnections - (db.reservedConnections ?? 0);
    const ours = facts.pool?.active ?? 0;
    const others = Math.max(0, db.connections - ours);
    return { room: Math.max(0, usable - others), usable, db: db.name };
  }
  return null;
}

/** The action line to raise the pool to the Little's-law size, with the database's room checked. */
export function raisePoolAction(s: PoolSizing, facts: Facts): string {
  const from = s.currentPerInstance !== null ? `from ${s.currentPerInstance} ` : '';
  const per = s.instances > 1 ? ` per instance (${s.instances} instances, ${s.recommendedPerInstance * s.instances} in total)` : '';
  let line = `Raise the pool's max ${from}to ${s.recommendedPerInstance}${per}: ${littleLine(s)}, ×${POOL_SIZING_HEADROOM} headroom = ${s.recommendedTotal}.`;
  const room = databaseRoomForPool(facts);
  if (room && s.recommendedPerInstance * s.instances > room.room) {
    line += ` Database "${room.db}" has room for only ${room.room} of its ${room.usable} usable connections: put PgBouncer in front or raise max_connections first.`;
  }
  return line;
}
