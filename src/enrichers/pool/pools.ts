import type { PoolEntry, PoolEvidence, PoolInstanceEvidence } from '../../core/evidence';
import { SERVICE_LABELS, WAITING_SATURATED_MIN, type PoolInstanceReading, type SharedReading } from './read';
import { slopePerMinute, trendOf } from './trend';

/**
 * From readings per pool instance to pools: the instances of one pool (same pool-name and service
 * labels) together, their totals, which are saturated; and the numbers of the pools a page is
 * about (the saturated ones, else all) for the rules. Pure.
 */

const sumOf = (xs: Array<number | null>): number | null => {
  const v = xs.filter((x): x is number => x !== null);
  return v.length ? v.reduce((a, b) => a + b, 0) : null;
};
const meanOf = (xs: Array<number | null>): number | null => {
  const v = xs.filter((x): x is number => x !== null);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
};
const earliest = (xs: Array<string | null>): string | null =>
  xs.filter((x): x is string => x !== null).sort((a, b) => Date.parse(a) - Date.parse(b))[0] ?? null;

/** Points of several series added up per timestamp (an instance without a point then counts nothing, as before it existed). */
export function addPoints(series: ReadonlyArray<ReadonlyArray<[number, number]>>): Array<[number, number]> {
  const sum = new Map<number, number>();
  for (const s of series) for (const [t, v] of s) sum.set(t, (sum.get(t) ?? 0) + v);
  return [...sum].sort((a, b) => a[0] - b[0]);
}

/**
 * Totals of readings of one or more pool instances and the counts shared by them (limit and
 * available only where every instance has a limit). Shared waits and timeouts make the pool
 * saturated without naming an instance.
 */
function totals(rs: readonly PoolInstanceReading[], shared: readonly SharedReading[]) {
  const allSet = rs.length > 0 && rs.every((r) => r.limitStatus === 'set');
  const status: PoolEntry['limitStatus'] = allSet
    ? 'set'
    : rs.some((r) => r.limitStatus === 'ambiguous')
      ? 'ambiguous'
      : rs.some((r) => r.limitStatus === 'unlimited')
        ? 'unlimited'
        : 'absent';
  const inUse = sumOf([...rs.map((r) => r.inUse), ...shared.map((x) => x.inUse)]);
  const limit = allSet ? sumOf(rs.map((r) => r.limit)) : null;
  const available = allSet ? sumOf(rs.map((r) => r.available)) : null;
  const sharedWaiting = sumOf(shared.map((x) => x.waiting));
  const sharedTimeouts = sumOf(shared.map((x) => x.timeouts));
  const signals = [
    ...new Set([
      ...rs.flatMap((r) => r.signals),
      ...(sharedWaiting !== null && sharedWaiting >= WAITING_SATURATED_MIN ? (['waiting'] as const) : []),
      ...(sharedTimeouts !== null && sharedTimeouts > 0 ? (['timeouts'] as const) : []),
    ]),
  ];
  // Not saturated where every instance measured says not, or where the shared counts were measured and say not.
  const measuredNot = (rs.length > 0 && rs.every((r) => r.saturated === false)) || sharedWaiting !== null || sharedTimeouts !== null;
  const saturated = rs.some((r) => r.saturated === true) || signals.length > 0 ? true : measuredNot ? false : null;
  return {
    inUse,
    idle: sumOf([...rs.map((r) => r.idle), ...shared.map((x) => x.idle)]),
    limit,
    limitStatus: status,
    available,
    utilization: limit !== null && limit > 0 && inUse !== null ? inUse / limit : null,
    waiting: sumOf([...rs.map((r) => r.waiting), sharedWaiting]),
    timeoutsPerSecond: sumOf([...rs.map((r) => r.timeouts), sharedTimeouts]),
    holdSeconds: meanOf(rs.map((r) => r.holdSeconds)),
    saturated,
    signals,
    saturatedSince: earliest(rs.map((r) => r.saturatedSince)),
  };
}

const instanceEvidence = (r: PoolInstanceReading): PoolInstanceEvidence => ({
  instance: r.instance,
  inUse: r.inUse,
  idle: r.idle,
  limit: r.limit,
  limitStatus: r.limitStatus,
  available: r.available,
  utilization: r.utilization,
  waiting: r.waiting,
  timeoutsPerSecond: r.timeouts,
  holdSeconds: r.holdSeconds,
  saturated: r.saturated,
  signals: r.signals,
  saturatedSince: r.saturatedSince,
});

/** A pool's name for people: its pool-name labels' values, else its service's, else "the pool". */
function nameOf(r: PoolInstanceReading): string {
  if (r.pool) return r.pool;
  const service = SERVICE_LABELS.map((l) => r.labels[l]).find((v) => !!v);
  return service ?? 'the pool';
}

/** One pool with its readings per instance (kept for charts) and the counts shared by its instances. */
export interface PoolGroup {
  entry: PoolEntry;
  readings: PoolInstanceReading[];
  shared: SharedReading[];
}

/** Whether `part`'s labels all have the same value in `whole`. */
const within = (part: Record<string, string>, whole: Record<string, string>) => Object.entries(part).every(([l, v]) => whole[l] === v);

/**
 * Readings grouped into pools, saturated pools first (as the readings come sorted); each shared
 * reading joins the one pool it agrees with. Shared readings that agree with no pool or with
 * several are returned apart (their counts cannot be given to one pool).
 */
export function groupPools(
  readings: readonly PoolInstanceReading[],
  shared: readonly SharedReading[],
  instanceLabels: readonly string[],
  flatSlopePerMinute: number,
  trendFrom: number,
): { groups: PoolGroup[]; unattributed: SharedReading[] } {
  const byIdentity = new Map<string, PoolInstanceReading[]>();
  for (const r of readings) {
    const identity = Object.entries(r.labels).filter(([k]) => !instanceLabels.includes(k));
    const key = JSON.stringify(identity.sort(([a], [b]) => a.localeCompare(b)));
    byIdentity.set(key, [...(byIdentity.get(key) ?? []), r]);
  }
  const labelsOf = (rs: PoolInstanceReading[]) => Object.fromEntries(Object.entries(rs[0]!.labels).filter(([k]) => !instanceLabels.includes(k)));
  const lists = [...byIdentity.values()];
  const sharedOf = new Map<PoolInstanceReading[], SharedReading[]>();
  const unattributed: SharedReading[] = [];
  for (const x of shared) {
    const owners = lists.filter((rs) => within(x.labels, labelsOf(rs)) || rs.every((r) => within(x.labels, r.labels)));
    if (owners.length === 1) sharedOf.set(owners[0]!, [...(sharedOf.get(owners[0]!) ?? []), x]);
    else unattributed.push(x);
  }
  const groups = lists.map((rs) => {
    const own = sharedOf.get(rs) ?? [];
    const inUsePts = addPoints(rs.map((r) => r.points.inUse));
    const slope = slopePerMinute(inUsePts.filter(([t]) => t >= trendFrom));
    return {
      readings: rs,
      shared: own,
      entry: {
        name: nameOf(rs[0]!),
        labels: labelsOf(rs),
        ...totals(rs, own),
        instances: rs.map(instanceEvidence),
        saturatedInstances: rs.filter((r) => r.saturated === true).map((r) => r.instance),
        slopePerMinute: slope,
        trend: trendOf(slope, flatSlopePerMinute),
      },
    };
  });
  const rank = (g: PoolGroup) => (g.entry.saturated === true ? 0 : g.entry.saturated === false ? 2 : 1);
  return { groups: groups.sort((a, b) => rank(a) - rank(b)), unattributed };
}

/** The pools a page is about: the saturated ones where any is, else all. */
export function focusPools(groups: readonly PoolGroup[]): PoolGroup[] {
  const sat = groups.filter((g) => g.entry.saturated === true);
  return sat.length > 0 ? sat : [...groups];
}

/** The rules' numbers: totals of the focus pools, their instances, the trend of their connections in use. */
export function focusNumbers(
  focus: readonly PoolGroup[],
  flatSlopePerMinute: number,
  trendFrom: number,
): Omit<PoolEvidence, 'layout' | 'present' | 'windowMinutes' | 'at' | 'pools' | 'saturatedPools' | 'saturated'> {
  const rs = focus.flatMap((g) => g.readings);
  const t = totals(
    rs,
    focus.flatMap((g) => g.shared),
  );
  const several = focus.length > 1;
  const slope = slopePerMinute(addPoints(rs.map((r) => r.points.inUse)).filter(([x]) => x >= trendFrom));
  return {
    active: t.inUse,
    idle: t.idle,
    total: t.limit,
    available: t.available,
    utilization: t.utilization,
    perInstance: focus.flatMap((g) =>
      g.readings.map((r) => ({
        instance: several || !r.instance ? [g.entry.name, r.instance].filter(Boolean).join(' on ') : r.instance,
        active: r.inUse,
        idle: r.idle,
        total: r.limit,
        available: r.available,
        utilization: r.utilization,
      })),
    ),
    saturatedSince: t.saturatedSince,
    activeSlopePerMinute: slope,
    activeTrend: trendOf(slope, flatSlopePerMinute),
    meanHoldSeconds: t.holdSeconds,
    waiting: t.waiting,
    timeoutsPerSecond: t.timeoutsPerSecond,
    waitingClients: t.timeoutsPerSecond,
  };
}
