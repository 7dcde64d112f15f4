import type { PrometheusClient } from '../../sources/prometheus';
import { PrometheusError } from '../../sources/prometheus';
import { groupingText, type LabelMatcher } from '../../sources/promql';
import { expandMatchers, QUANTITIES, type PoolMapping, type Quantity } from './mapping';
import { slopePerMinute, trendOf, type Trend } from './trend';

/**
 * Reading a pool mapping from Prometheus: one instant query per quantity at the reading time and
 * a range query of in-use, limit and waiting over the window, each grouped by the pool's identity
 * (its pool-name labels, service labels and instance labels), so two pools of one instance are
 * never summed. Per pool instance: the quantities, what the limit means, whether it is saturated
 * and since when, and the trend of its connections in use.
 */

/**
 * Labels that name the service a pool belongs to, added to the identity whichever layout is read
 * (constant per scrape target, so grouping by them never splits one pool): the runbook's `service`,
 * Micrometer's common `application` tag, the scrape `job`, Kubernetes' `namespace`.
 */
export const SERVICE_LABELS = ['service', 'application', 'job', 'namespace'] as const;

/**
 * Requests waiting for a connection from which a pool counts as saturated: a request waits only
 * when no connection is free (HikariCP's pending threads, PgBouncer's cl_waiting, Go's waiters).
 */
export const WAITING_SATURATED_MIN = 1;

/** What a pool's limit is: a number of connections, no limit (0 or below), no limit series, or several different values. */
export type LimitStatus = 'set' | 'unlimited' | 'absent' | 'ambiguous';

/** What says a pool is saturated. */
export type SaturationSignal = 'available' | 'waiting' | 'timeouts';

/** One pool on one instance. Numbers are null where not measured. */
export interface PoolInstanceReading {
  /** The identity labels that have a value. */
  labels: Record<string, string>;
  /** The pool's name: its pool-name labels' values joined with `/`; '' where the layout has none. */
  pool: string;
  /** The value of the first instance label present; '' where none. */
  instance: string;
  inUse: number | null;
  idle: number | null;
  /** The limit where `limitStatus` is `set`; null otherwise. */
  limit: number | null;
  limitStatus: LimitStatus;
  /** The different values the limit query gave (one where `set` or `unlimited`, several where `ambiguous`). */
  limitValues: number[];
  waiting: number | null;
  timeouts: number | null;
  holdSeconds: number | null;
  /** limit - inUse (never below 0) where both are known. */
  available: number | null;
  /** inUse / limit, where both are known. */
  utilization: number | null;
  /** true where a signal says so, false where some measure says not, null where nothing tells. */
  saturated: boolean | null;
  signals: SaturationSignal[];
  /** The first step of the window where available < threshold or requests waited; null where none. */
  saturatedSince: string | null;
  /** Connections in use, per minute, over the trend part of the window. */
  slopePerMinute: number | null;
  trend: Trend;
  /** The window's points ([ms, value], oldest first) of in use, limit and waiting, for charts. */
  points: { inUse: Array<[number, number]>; limit: Array<[number, number]>; waiting: Array<[number, number]> };
}

/** One query as sent and how it went (error: Prometheus' answer where it refused it). */
export interface QueryOutcome {
  quantity: Quantity;
  kind: 'instant' | 'range';
  /** The mapping's expression with `$matchers` expanded (what the configuration asked for). */
  mapped: string;
  /** The query sent (the expression grouped by the pool's identity). */
  expr: string;
  error: string | null;
}

/**
 * Counts from a series that carries only part of a pool's identity (`sum(rate(timeouts[5m]))` for
 * the whole service): a total for every pool instance it agrees with, so it is added to their
 * pool once (src/enrichers/pool/pools.ts), never copied to each instance.
 */
export interface SharedReading {
  labels: Record<string, string>;
  inUse: number | null;
  idle: number | null;
  waiting: number | null;
  timeouts: number | null;
}

/** The quantities a pool's instances add up; the others (limit, hold time) hold for each instance. */
export const ADDITIVE: readonly Quantity[] = ['inUse', 'idle', 'waiting', 'timeouts'];

export interface PoolReadings {
  instances: PoolInstanceReading[];
  shared: SharedReading[];
  queries: QueryOutcome[];
  warnings: string[];
}

export interface ReadPoolsOptions {
  /** When the quantities are read (the alert's start, or now). */
  at: Date;
  /** The window of the trend. */
  start: Date;
  end: Date;
  stepSeconds: number;
  /** The pool's own matchers (`$matchers`). */
  matchers: readonly LabelMatcher[];
  /** Labels naming one pool within an instance (the layout's). */
  poolLabels: readonly string[];
  /** Labels naming an instance, the first present wins for display (config `instanceLabels`). */
  instanceLabels: readonly string[];
  /** Saturated: fewer available connections than this. */
  availableThreshold: number;
  /** The last part of the window the slope is fitted over, and the slope within ±flat that is "flat". */
  trendMinutes: number;
  flatSlopePerMinute: number;
  signal: AbortSignal;
}

/** Whether Prometheus answered the query with a refusal of it (bad expression, evaluation error), not a transport failure. */
function refusedByPrometheus(e: unknown): e is PrometheusError {
  return e instanceof PrometheusError && (e.errorType === 'bad_data' || e.errorType === 'execution');
}

const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);

/**
 * Reads `mapping` (null quantities skipped). Throws the Prometheus client's error where Prometheus
 * cannot be reached or answers badly, or where it refused every instant query (the message names
 * the quantities); a refusal of some queries is a QueryOutcome with its error.
 */
export async function readPools(prometheus: PrometheusClient, mapping: PoolMapping, o: ReadPoolsOptions): Promise<PoolReadings> {
  const identity = [...new Set([...o.poolLabels, ...SERVICE_LABELS, ...o.instanceLabels])];
  const by = groupingText(identity);
  const keyOf = (m: Record<string, string>) => JSON.stringify(identity.map((l) => m[l] ?? ''));
  const present = QUANTITIES.filter((q) => mapping[q] !== null);
  const exprOf = (q: Quantity) => expandMatchers(mapping[q]!, o.matchers);

  const instantExpr = (q: Quantity) => (q === 'limit' ? exprOf(q) : `${q === 'holdSeconds' ? 'avg' : 'sum'} by (${by}) (${exprOf(q)})`);
  const rangeQuantities = (['inUse', 'limit', 'waiting'] as const).filter((q) => mapping[q] !== null);
  const rangeExpr = (q: Quantity) => `${q === 'limit' ? 'max' : 'sum'} by (${by}) (${exprOf(q)})`;

  const queries: QueryOutcome[] = [];
  const warnings: string[] = [];
  const run = async <T extends { warnings: string[] }>(q: Quantity, kind: QueryOutcome['kind'], expr: string, call: () => Promise<T>): Promise<T | null> => {
    const outcome: QueryOutcome = { quantity: q, kind, mapped: exprOf(q), expr, error: null };
    queries.push(outcome);
    try {
      const r = await call();
      warnings.push(...r.warnings);
      return r;
    } catch (e) {
      if (o.signal.aborted || !refusedByPrometheus(e)) throw e;
      outcome.error = e.message;
      return null;
    }
  };
  const [instants, ranges] = await Promise.all([
    Promise.all(present.map((q) => run(q, 'instant', instantExpr(q), () => prometheus.query(instantExpr(q), { time: o.at, signal: o.signal })))),
    Promise.all(
      rangeQuantities.map((q) =>
        run(q, 'range', rangeExpr(q), () => prometheus.queryRange(rangeExpr(q), { start: o.start, end: o.end, stepSeconds: o.stepSeconds, signal: o.signal })),
      ),
    ),
  ]);
  const refused = queries.filter((x) => x.kind === 'instant' && x.error !== null);
  if (present.length > 0 && refused.length === present.length) {
    throw new PrometheusError(`Prometheus refused every pool query: ${refused.map((x) => `${x.quantity}: ${x.error}`).join('; ')}`, 'bad_data', 400);
  }

  // Instant values per identity.
  const byKey = new Map<string, { labels: Record<string, string>; values: Partial<Record<Quantity, number[]>> }>();
  const entry = (m: Record<string, string>) => {
    const k = keyOf(m);
    let e = byKey.get(k);
    if (!e) {
      e = { labels: Object.fromEntries(identity.filter((l) => m[l]).map((l) => [l, m[l]!])), values: {} };
      byKey.set(k, e);
    }
    return e;
  };
  present.forEach((q, i) => {
    for (const s of instants[i]?.samples ?? []) {
      const v = finite(s.value);
      if (v === null) continue;
      const e = entry(s.metric);
      (e.values[q] ??= []).push(v);
    }
  });

  // Range points per identity.
  const pointsByKey = new Map<string, Partial<Record<'inUse' | 'limit' | 'waiting', Array<[number, number]>>>>();
  rangeQuantities.forEach((q, i) => {
    for (const s of ranges[i]?.series ?? []) {
      const k = keyOf(s.metric);
      if (!byKey.has(k)) entry(s.metric); // a pool seen in the window but not at the reading time
      const p = pointsByKey.get(k) ?? {};
      p[q] = s.points.filter(([, v]) => Number.isFinite(v)).sort((a, b) => a[0] - b[0]);
      pointsByKey.set(k, p);
    }
  });

  // A series that carries only part of the identity (an expression aggregated by fewer labels, such
  // as `sum(rate(x[5m]))` or a limit per database) is no pool of its own: its limit and hold time
  // hold for every pool instance that agrees with it on the labels it has (where that has none of
  // its own); its counts are a total for them (a SharedReading).
  const sum = (xs: number[] | undefined) => (xs && xs.length ? xs.reduce((a, b) => a + b, 0) : null);
  const agrees = (part: Record<string, string>, whole: Record<string, string>) =>
    Object.keys(part).length < Object.keys(whole).length && Object.entries(part).every(([l, v]) => whole[l] === v);
  const shared: SharedReading[] = [];
  for (const [k, e] of [...byKey]) {
    const wholes = [...byKey].filter(([k2, w]) => k2 !== k && agrees(e.labels, w.labels));
    if (wholes.length === 0) continue;
    for (const [k2, w] of wholes) {
      for (const q of ['limit', 'holdSeconds'] as const) if (e.values[q] && !w.values[q]) w.values[q] = e.values[q];
      const own = pointsByKey.get(k)?.limit;
      const theirs = pointsByKey.get(k2) ?? {};
      if (own && !theirs.limit) pointsByKey.set(k2, { ...theirs, limit: own });
    }
    if (ADDITIVE.some((q) => e.values[q]?.length)) {
      shared.push({ labels: e.labels, inUse: sum(e.values.inUse), idle: sum(e.values.idle), waiting: sum(e.values.waiting), timeouts: sum(e.values.timeouts) });
    }
    byKey.delete(k);
  }

  const trendFrom = o.end.getTime() - o.trendMinutes * 60_000;
  const instances: PoolInstanceReading[] = [];
  for (const [k, e] of byKey) {
    const inUse = sum(e.values.inUse);
    const idle = sum(e.values.idle);
    const waiting = sum(e.values.waiting);
    const timeouts = sum(e.values.timeouts);
    const holds = e.values.holdSeconds;
    const holdSeconds = holds && holds.length ? holds.reduce((a, b) => a + b, 0) / holds.length : null;
    const limitValues = [...new Set(e.values.limit ?? [])].sort((a, b) => a - b);
    const limitStatus: LimitStatus = limitValues.length === 0 ? 'absent' : limitValues.length > 1 ? 'ambiguous' : limitValues[0]! <= 0 ? 'unlimited' : 'set';
    const limit = limitStatus === 'set' ? limitValues[0]! : null;
    const available = limit !== null && inUse !== null ? Math.max(0, limit - inUse) : null;
    const utilization = limit !== null && inUse !== null ? inUse / limit : null;

    const signals: SaturationSignal[] = [];
    if (available !== null && available < o.availableThreshold) signals.push('available');
    if (waiting !== null && waiting >= WAITING_SATURATED_MIN) signals.push('waiting');
    if (timeouts !== null && timeouts > 0) signals.push('timeouts');
    const saturated = signals.length > 0 ? true : available !== null || waiting !== null || timeouts !== null ? false : null;

    const pts = pointsByKey.get(k) ?? {};
    const inUsePts = pts.inUse ?? [];
    const limitAt = new Map((pts.limit ?? []).map(([t, v]) => [t, v]));
    const waitingAt = new Map((pts.waiting ?? []).map(([t, v]) => [t, v]));
    const times = [...new Set([...inUsePts.map(([t]) => t), ...waitingAt.keys()])].sort((a, b) => a - b);
    const inUseAt = new Map(inUsePts);
    let saturatedSince: string | null = null;
    for (const t of times) {
      const l = limitAt.get(t);
      const u = inUseAt.get(t);
      const w = waitingAt.get(t);
      const short = l !== undefined && l > 0 && u !== undefined && l - u < o.availableThreshold;
      if (short || (w !== undefined && w >= WAITING_SATURATED_MIN)) {
        saturatedSince = new Date(t).toISOString();
        break;
      }
    }
    const slope = slopePerMinute(inUsePts.filter(([t]) => t >= trendFrom));
    instances.push({
      labels: e.labels,
      pool: o.poolLabels
        .map((l) => e.labels[l])
        .filter((v): v is string => !!v)
        .join('/'),
      instance: o.instanceLabels.map((l) => e.labels[l]).find((v): v is string => !!v) ?? '',
      inUse,
      idle,
      limit,
      limitStatus,
      limitValues,
      waiting,
      timeouts,
      holdSeconds,
      available,
      utilization,
      saturated,
      signals,
      saturatedSince,
      slopePerMinute: slope,
      trend: trendOf(slope, o.flatSlopePerMinute),
      points: { inUse: inUsePts, limit: pts.limit ?? [], waiting: pts.waiting ?? [] },
    });
  }
  // Saturated first, then the fullest, then by name.
  const rank = (p: PoolInstanceReading) => (p.saturated === true ? 0 : p.saturated === false ? 2 : 1);
  instances.sort(
    (a, b) => rank(a) - rank(b) || (b.utilization ?? -1) - (a.utilization ?? -1) || a.pool.localeCompare(b.pool) || a.instance.localeCompare(b.instance),
  );
  return { instances, shared, queries, warnings: [...new Set(warnings)] };
}
