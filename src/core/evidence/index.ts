/**
 * The structured evidence each enricher returns and the diagnosis rules read. This file is the
 * contract between `src/enrichers/` and `src/diagnosis/`: an enricher fills its type (fields it
 * could not measure are null), a rule reads it and never assumes a field another enricher owns.
 * Durations are milliseconds, times ISO-8601, rates per second.
 */

/** `pool`: the application's connection pool, from Prometheus. */
export interface PoolEvidence {
  /** Sum over instances at the time of the alert. */
  active: number | null;
  idle: number | null;
  total: number | null;
  /** total - active */
  available: number | null;
  /** active / total, 0..1 */
  utilization: number | null;
  perInstance: Array<{
    instance: string;
    active: number | null;
    idle: number | null;
    total: number | null;
    available: number | null;
    utilization: number | null;
  }>;
  /** Trend over the window (default 30 min). */
  windowMinutes: number;
  /** When available first dropped below the threshold within the window, or null if it never did. */
  saturatedSince: string | null;
  /** Change of active connections per minute over the last part of the window (least squares). */
  activeSlopePerMinute: number | null;
  activeTrend: 'climbing' | 'flat' | 'falling' | 'unknown';
  /** Mean time a connection is held, seconds, where the backend exposes it (null otherwise). */
  meanHoldSeconds: number | null;
  /** Pool wait/acquire timeouts per second, where exposed (null otherwise). */
  waitingClients: number | null;
}

/** `traffic`: request rate now against its baselines. */
export interface TrafficEvidence {
  verdict: 'spike' | 'normal' | 'drop' | 'unknown';
  /** Requests per second, summed over endpoints. */
  totalNow: number | null;
  totalHourAgo: number | null;
  totalDayAgo: number | null;
  /** totalNow / the baseline used (hour ago, else day ago); null where no baseline. */
  ratio: number | null;
  baseline: 'hour' | 'day' | null;
  endpoints: Array<{ endpoint: string; now: number; hourAgo: number | null; dayAgo: number | null; ratio: number | null }>;
  /** Endpoints sorted by absolute change, largest first (at most 5). */
  topMovers: string[];
  /** Thresholds used for the verdict. */
  spikeRatio: number;
  dropRatio: number;
}

export interface PgSession {
  pid: number;
  user: string | null;
  application: string | null;
  clientAddr: string | null;
  state: string | null;
  waitEventType: string | null;
  waitEvent: string | null;
  /** Since query_start. */
  queryAgeMs: number | null;
  /** Since xact_start. */
  xactAgeMs: number | null;
  /** Since state_change (for idle in transaction: how long it has been idle). */
  stateAgeMs: number | null;
  /** Normalised (literals replaced, capped) unless raw text is configured. */
  query: string;
}

export interface PgBlockingChain {
  blockerPid: number;
  blockerUser: string | null;
  blockerApplication: string | null;
  blockerState: string | null;
  blockerQuery: string;
  /** Since the blocker's xact_start (or query_start). */
  blockerAgeMs: number | null;
  waitingPids: number[];
  /** The longest any of them has waited. */
  longestWaitMs: number | null;
}

/**
 * A session idle (outside any transaction) for at least this long is held, not between two
 * queries of a busy client: those are idle for milliseconds, even with the client short of CPU.
 */
export const IDLE_SETTLED_MS = 2_000;

export interface PgDatabaseEvidence {
  name: string;
  reachable: boolean;
  /** Why it could not be queried: a refusal for too many clients is itself evidence. */
  failure: null | { kind: 'too_many_clients' | 'auth' | 'unreachable' | 'timeout' | 'circuit_open' | 'error'; message: string; sqlstate?: string };
  serverVersionNum: number | null;
  maxConnections: number | null;
  /** superuser_reserved_connections + reserved_connections (PG 16+). */
  reservedConnections: number | null;
  /** Client backends now. */
  connections: number | null;
  byState: Record<string, number>;
  /** Client sessions idle (outside a transaction) for at least IDLE_SETTLED_MS; null where not measured. */
  idleSettled: number | null;
  byApplication: Record<string, number>;
  byUser: Record<string, number>;
  /** Longest-running active queries, longest first. */
  longRunning: PgSession[];
  /** Oldest open transactions, oldest first. */
  oldestTransactions: PgSession[];
  /** Sessions idle in transaction, longest idle first. */
  idleInTransaction: PgSession[];
  blockingChains: PgBlockingChain[];
  /** null where pg_stat_statements is not installed or not readable. */
  topStatements: Array<{ query: string; calls: number; meanMs: number; totalMs: number }> | null;
}

/** `postgres`: the monitored databases. */
export interface PostgresEvidence {
  databases: PgDatabaseEvidence[];
}

export interface LogGroup {
  /** The line with numbers, ids, quoted strings and addresses replaced. */
  shape: string;
  count: number;
  firstSeen: string | null;
  lastSeen: string | null;
  /** Which runbook signal this shape is: used by the rules. */
  signal: 'too_many_clients' | 'pool_timeout' | 'connection_refused' | 'connection_error' | 'other';
}

/** `logs`: matching lines from the backend's logs. */
export interface LogsEvidence {
  sources: Array<{
    name: string;
    kind: 'docker' | 'file' | 'loki' | 'kubernetes';
    scanned: number;
    matched: number;
    error: string | null;
    problems?: string[];
  }>;
  matched: number;
  groups: LogGroup[];
  /** Count of matched lines per signal. */
  signals: Record<LogGroup['signal'], number>;
}

/** `related_alerts`: what else is firing, history, silences. */
export interface RelatedAlertsEvidence {
  related: Array<{ alertname: string; labels: Record<string, string>; startsAt: string; state: string }>;
  /** Runs for this alertname in the last 24 hours, before this one. */
  firedBeforeCount: number;
  lastFiredAt: string | null;
  silenced: boolean;
  silenceIds: string[];
}
