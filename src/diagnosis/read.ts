import type { Enrichment } from '../core/diagnostic';
import type {
  LogGroup,
  LogsEvidence,
  PgBlockingChain,
  PgDatabaseEvidence,
  PgSession,
  PoolEvidence,
  PostgresEvidence,
  RelatedAlertsEvidence,
  TrafficEvidence,
} from '../core/evidence';

/**
 * Defensive readers of the enrichers' evidence (src/core/evidence.ts). Evidence is stored JSON
 * and may come from an older or newer enricher, so every reader checks each field's type: a
 * wrong or missing number becomes null, a wrong array becomes empty, a wrong enum becomes its
 * "unknown" value. The readers never throw; they return undefined where the enrichment is
 * missing, not `ok`, or its evidence is not an object.
 */

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);

/** A finite number, else null. */
export const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
const str = (x: unknown): string | null => (typeof x === 'string' ? x : null);
const list = <T>(x: unknown, f: (e: unknown) => T | undefined): T[] => {
  if (!Array.isArray(x)) return [];
  const out: T[] = [];
  for (const e of x) {
    const v = f(e);
    if (v !== undefined) out.push(v);
  }
  return out;
};
const oneOf = <T extends string>(x: unknown, allowed: readonly T[], fallback: T): T => ((allowed as readonly unknown[]).includes(x) ? (x as T) : fallback);
const counts = (x: unknown): Record<string, number> => {
  const out: Record<string, number> = {};
  if (isObj(x)) for (const [k, v] of Object.entries(x)) if (num(v) !== null) out[k] = v as number;
  return out;
};
const int = (x: unknown): number | null => {
  const n = num(x);
  return n !== null && Number.isInteger(n) ? n : null;
};

/** The evidence object of the enrichment named `name`, when it ran ok. */
function evidenceOf(enrichments: ReadonlyMap<string, Enrichment>, name: string): Obj | undefined {
  const e = enrichments.get(name);
  if (!e || e.status !== 'ok' || !isObj(e.evidence)) return undefined;
  return e.evidence;
}

/** `pool` evidence, sanitised. */
export function readPool(enrichments: ReadonlyMap<string, Enrichment>): PoolEvidence | undefined {
  const e = evidenceOf(enrichments, 'pool');
  if (!e) return undefined;
  return {
    active: num(e.active),
    idle: num(e.idle),
    total: num(e.total),
    available: num(e.available),
    utilization: num(e.utilization),
    perInstance: list(e.perInstance, (p) =>
      isObj(p)
        ? {
            instance: str(p.instance) ?? '?',
            active: num(p.active),
            idle: num(p.idle),
            total: num(p.total),
            available: num(p.available),
            utilization: num(p.utilization),
          }
        : undefined,
    ),
    windowMinutes: num(e.windowMinutes) ?? 0,
    saturatedSince: str(e.saturatedSince),
    activeSlopePerMinute: num(e.activeSlopePerMinute),
    activeTrend: oneOf(e.activeTrend, ['climbing', 'flat', 'falling', 'unknown'] as const, 'unknown'),
    meanHoldSeconds: num(e.meanHoldSeconds),
    waitingClients: num(e.waitingClients),
  };
}

/** `traffic` evidence, sanitised. */
export function readTraffic(enrichments: ReadonlyMap<string, Enrichment>): TrafficEvidence | undefined {
  const e = evidenceOf(enrichments, 'traffic');
  if (!e) return undefined;
  return {
    verdict: oneOf(e.verdict, ['spike', 'normal', 'drop', 'unknown'] as const, 'unknown'),
    totalNow: num(e.totalNow),
    totalHourAgo: num(e.totalHourAgo),
    totalDayAgo: num(e.totalDayAgo),
    ratio: num(e.ratio),
    baseline: e.baseline === 'hour' || e.baseline === 'day' ? e.baseline : null,
    endpoints: list(e.endpoints, (p) => {
      if (!isObj(p) || str(p.endpoint) === null || num(p.now) === null) return undefined;
      return { endpoint: p.endpoint as string, now: p.now as number, hourAgo: num(p.hourAgo), dayAgo: num(p.dayAgo), ratio: num(p.ratio) };
    }),
    topMovers: list(e.topMovers, (s) => str(s) ?? undefined),
    spikeRatio: num(e.spikeRatio) ?? 0,
    dropRatio: num(e.dropRatio) ?? 0,
  };
}

function readSession(s: unknown): PgSession | undefined {
  if (!isObj(s) || int(s.pid) === null) return undefined;
  return {
    pid: s.pid as number,
    user: str(s.user),
    application: str(s.application),
    clientAddr: str(s.clientAddr),
    state: str(s.state),
    waitEventType: str(s.waitEventType),
    waitEvent: str(s.waitEvent),
    queryAgeMs: num(s.queryAgeMs),
    xactAgeMs: num(s.xactAgeMs),
    stateAgeMs: num(s.stateAgeMs),
    query: str(s.query) ?? '',
  };
}

function readChain(c: unknown): PgBlockingChain | undefined {
  if (!isObj(c) || int(c.blockerPid) === null) return undefined;
  return {
    blockerPid: c.blockerPid as number,
    blockerUser: str(c.blockerUser),
    blockerApplication: str(c.blockerApplication),
    blockerState: str(c.blockerState),
    blockerQuery: str(c.blockerQuery) ?? '',
    blockerAgeMs: num(c.blockerAgeMs),
    waitingPids: list(c.waitingPids, (p) => int(p) ?? undefined),
    longestWaitMs: num(c.longestWaitMs),
  };
}

const FAILURE_KINDS = ['too_many_clients', 'auth', 'unreachable', 'timeout', 'circuit_open', 'error'] as const;

function readDatabase(d: unknown): PgDatabaseEvidence | undefined {
  if (!isObj(d)) return undefined;
  const f = d.failure;
  return {
    name: str(d.name) ?? '?',
    reachable: d.reachable === true,
    failure: isObj(f)
      ? { kind: oneOf(f.kind, FAILURE_KINDS, 'error'), message: str(f.message) ?? '', ...(str(f.sqlstate) ? { sqlstate: f.sqlstate as string } : {}) }
      : null,
    serverVersionNum: num(d.serverVersionNum),
    maxConnections: num(d.maxConnections),
    reservedConnections: num(d.reservedConnections),
    connections: num(d.connections),
    byState: counts(d.byState),
    idleSettled: num(d.idleSettled),
    byApplication: counts(d.byApplication),
    byUser: counts(d.byUser),
    longRunning: list(d.longRunning, readSession),
    oldestTransactions: list(d.oldestTransactions, readSession),
    idleInTransaction: list(d.idleInTransaction, readSession),
    blockingChains: list(d.blockingChains, readChain),
    topStatements: Array.isArray(d.topStatements)
      ? list(d.topStatements, (s) =>
          isObj(s) && str(s.query) !== null
            ? { query: s.query as string, calls: num(s.calls) ?? 0, meanMs: num(s.meanMs) ?? 0, totalMs: num(s.totalMs) ?? 0 }
            : undefined,
        )
      : null,
  };
}

/** `postgres` evidence, sanitised. */
export function readPostgres(enrichments: ReadonlyMap<string, Enrichment>): PostgresEvidence | undefined {
  const e = evidenceOf(enrichments, 'postgres');
  if (!e) return undefined;
  return { databases: list(e.databases, readDatabase) };
}

const SIGNALS = ['too_many_clients', 'pool_timeout', 'connection_refused', 'connection_error', 'other'] as const;

/** `logs` evidence, sanitised. */
export function readLogs(enrichments: ReadonlyMap<string, Enrichment>): LogsEvidence | undefined {
  const e = evidenceOf(enrichments, 'logs');
  if (!e) return undefined;
  const raw = isObj(e.signals) ? e.signals : {};
  const signals = Object.fromEntries(SIGNALS.map((s) => [s, Math.max(0, num(raw[s]) ?? 0)])) as LogsEvidence['signals'];
  return {
    sources: list(e.sources, (s) =>
      isObj(s)
        ? {
            name: str(s.name) ?? '?',
            kind: oneOf(s.kind, ['docker', 'file', 'loki'] as const, 'file'),
            scanned: num(s.scanned) ?? 0,
            matched: num(s.matched) ?? 0,
            error: str(s.error),
          }
        : undefined,
    ),
    matched: num(e.matched) ?? 0,
    groups: list(e.groups, (g): LogGroup | undefined =>
      isObj(g) && str(g.shape) !== null
        ? {
            shape: g.shape as string,
            count: Math.max(0, num(g.count) ?? 0),
            firstSeen: str(g.firstSeen),
            lastSeen: str(g.lastSeen),
            signal: oneOf(g.signal, SIGNALS, 'other'),
          }
        : undefined,
    ),
    signals,
  };
}

/** `related_alerts` evidence, sanitised. */
export function readRelated(enrichments: ReadonlyMap<string, Enrichment>): RelatedAlertsEvidence | undefined {
  const e = evidenceOf(enrichments, 'related_alerts');
  if (!e) return undefined;
  return {
    related: list(e.related, (r) =>
      isObj(r) && str(r.alertname) !== null
        ? {
            alertname: r.alertname as string,
            labels: Object.fromEntries(Object.entries(isObj(r.labels) ? r.labels : {}).filter(([, v]) => typeof v === 'string')) as Record<string, string>,
            startsAt: str(r.startsAt) ?? '',
            state: str(r.state) ?? '',
          }
        : undefined,
    ),
    firedBeforeCount: num(e.firedBeforeCount) ?? 0,
    lastFiredAt: str(e.lastFiredAt),
    silenced: e.silenced === true,
    silenceIds: list(e.silenceIds, (s) => str(s) ?? undefined),
  };
}
