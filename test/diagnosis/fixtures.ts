import type { AlertGroup } from '../../src/core/alert';
import { emptyDatabase } from '../../src/enrichers/postgres/evidence';
import type { Enrichment } from '../../src/core/diagnostic';
import type { LogsEvidence, PgDatabaseEvidence, PgSession, PoolEvidenceInput, RelatedAlertsEvidence, TrafficEvidence } from '../../src/core/evidence';

/** Evidence fixtures for the diagnosis tests: a healthy baseline and one builder per scenario. */

export const group: AlertGroup = {
  groupKey: '{}:{alertname="db_pool_exhausted"}',
  status: 'firing',
  receiver: 'pagefirst',
  groupLabels: { alertname: 'db_pool_exhausted' },
  commonLabels: { alertname: 'db_pool_exhausted', severity: 'critical' },
  commonAnnotations: {},
  externalURL: 'http://alertmanager:9093',
  truncatedAlerts: 0,
  alerts: [],
};

export function enrichment(enricher: string, evidence: object, status: Enrichment['status'] = 'ok'): Enrichment {
  return {
    enricher,
    status,
    durationMs: 12,
    summary: `${enricher} summary`,
    sections: [],
    evidence: evidence as Record<string, unknown>,
    ...(status === 'ok' ? {} : { error: 'boom' }),
  };
}

export function pool(o: Partial<PoolEvidenceInput> = {}): PoolEvidenceInput {
  const active = o.active ?? 3;
  const total = o.total ?? 10;
  return {
    active,
    idle: total - active,
    total,
    available: total - active,
    utilization: active / total,
    perInstance: [{ instance: 'backend:8000', active, idle: total - active, total, available: total - active, utilization: active / total }],
    windowMinutes: 30,
    saturatedSince: null,
    activeSlopePerMinute: 0,
    activeTrend: 'flat',
    meanHoldSeconds: 0.01,
    waitingClients: 0,
    ...o,
  };
}

export const saturatedPool = (o: Partial<PoolEvidenceInput> = {}) =>
  pool({
    active: 10,
    idle: 0,
    available: 0,
    utilization: 1,
    saturatedSince: '2026-11-27T06:40:12Z',
    perInstance: [{ instance: 'backend:8000', active: 10, idle: 0, total: 10, available: 0, utilization: 1 }],
    ...o,
  });

export function traffic(o: Partial<TrafficEvidence> = {}): TrafficEvidence {
  return {
    verdict: 'normal',
    totalNow: 51,
    totalHourAgo: 50,
    totalDayAgo: 48,
    ratio: 1.02,
    baseline: 'hour',
    endpoints: [
      { endpoint: 'GET /api/orders', now: 31, hourAgo: 30, dayAgo: 29, ratio: 1.03 },
      { endpoint: 'GET /api/users', now: 20, hourAgo: 20, dayAgo: 19, ratio: 1 },
    ],
    topMovers: ['GET /api/orders'],
    spikeRatio: 1.5,
    dropRatio: 0.5,
    ...o,
  };
}

export function session(pid: number, o: Partial<PgSession> = {}): PgSession {
  return {
    pid,
    user: 'app',
    application: 'demo-backend',
    clientAddr: '10.0.0.7',
    state: 'active',
    waitEventType: null,
    waitEvent: null,
    queryAgeMs: 12,
    xactAgeMs: 12,
    stateAgeMs: 12,
    query: 'SELECT id, total FROM orders WHERE id = $1',
    owner: null,
    tool: null,
    backendType: 'client backend',
    leaderPid: null,
    ...o,
  };
}

/** A reachable database of the scenarios; what it does not set reads as not measured (the enricher's own empty evidence). */
export function db(o: Partial<PgDatabaseEvidence> = {}): PgDatabaseEvidence {
  return {
    ...emptyDatabase('app'),
    reachable: true,
    serverVersionNum: 150004,
    maxConnections: 100,
    reservedConnections: 3,
    connections: 14,
    byState: { idle: 12, active: 2 },
    byApplication: { 'demo-backend': 13, pagefirst: 1 },
    byUser: { app: 13, monitor: 1 },
    topStatements: [{ query: 'SELECT id, total FROM orders WHERE id = $1', calls: 120_000, meanMs: 0.4, totalMs: 48_000 }],
    ...o,
  };
}

export function logs(o: Partial<LogsEvidence> = {}): LogsEvidence {
  return {
    sources: [{ name: 'backend', kind: 'file', scanned: 2000, matched: 0, error: null }],
    matched: 0,
    groups: [],
    signals: { too_many_clients: 0, pool_timeout: 0, connection_refused: 0, connection_error: 0, other: 0 },
    ...o,
  };
}

export function related(names: string[] = []): RelatedAlertsEvidence {
  return {
    related: names.map((alertname) => ({ alertname, labels: { alertname }, startsAt: '2026-11-27T06:39:00Z', state: 'active' })),
    firedBeforeCount: 0,
    lastFiredAt: null,
    silenced: false,
    silenceIds: [],
  };
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

/** Everything normal: nothing should stand out. */
export function healthy(): Enrichment[] {
  return [
    enrichment('pool', pool()),
    enrichment('traffic', traffic()),
    enrichment('postgres', { databases: [db()] }),
    enrichment('logs', logs()),
    enrichment('related_alerts', related()),
  ];
}

/** 9 connections checked out and left idle in transaction (pids 4711..4719), traffic flat. */
export function leak(): Enrichment[] {
  const leaked = range(4711, 9).map((pid, i) =>
    session(pid, {
      state: 'idle in transaction',
      stateAgeMs: 95_000 - i * 1000,
      xactAgeMs: 95_100 - i * 1000,
      queryAgeMs: 95_000 - i * 1000,
      query: 'SELECT id, status FROM orders WHERE customer_id = $1 FOR SHARE',
    }),
  );
  return [
    enrichment('pool', saturatedPool({ active: 9, idle: 1, available: 1, utilization: 0.9, activeTrend: 'climbing', activeSlopePerMinute: 0.6 })),
    enrichment('traffic', traffic()),
    enrichment('postgres', {
      databases: [
        db({ connections: 13, byState: { 'idle in transaction': 9, active: 1, idle: 3 }, idleInTransaction: leaked, oldestTransactions: leaked.slice(0, 3) }),
      ],
    }),
    enrichment('logs', logs()),
    enrichment('related_alerts', related()),
  ];
}

/** 9 queries sleeping in pg_sleep for 30 s (pids 4801..4809), no lock waits. */
export function slow(): Enrichment[] {
  const q = 'SELECT pg_sleep($1), count(*) FROM orders WHERE created_at > $2';
  const running = range(4801, 9).map((pid, i) =>
    session(pid, { queryAgeMs: 30_000 - i * 500, xactAgeMs: 30_000 - i * 500, waitEventType: 'Timeout', waitEvent: 'PgSleep', query: q }),
  );
  return [
    enrichment('pool', saturatedPool({ meanHoldSeconds: 2.4 })),
    enrichment(
      'traffic',
      traffic({
        totalNow: 4,
        totalHourAgo: 4.1,
        ratio: 0.98,
        endpoints: [{ endpoint: 'GET /api/report', now: 4, hourAgo: 4.1, dayAgo: 4, ratio: 0.98 }],
        topMovers: [],
      }),
    ),
    enrichment('postgres', {
      databases: [
        db({
          connections: 12,
          byState: { active: 10, idle: 2 },
          longRunning: running,
          topStatements: [{ query: q, calls: 40, meanMs: 29_000, totalMs: 1_160_000 }],
        }),
      ],
    }),
    enrichment('logs', logs()),
    enrichment('related_alerts', related(['p99_latency_high'])),
  ];
}

/** pid 4711 holds a row lock idle in transaction; pids 4712..4720 wait on it. */
export function lock(): Enrichment[] {
  const update = 'UPDATE orders SET status = $1 WHERE id = $2';
  const blocker = session(4711, { state: 'idle in transaction', stateAgeMs: 60_000, xactAgeMs: 61_000, queryAgeMs: 60_000, query: update });
  const waiters = range(4712, 9).map((pid, i) =>
    session(pid, { waitEventType: 'Lock', waitEvent: 'transactionid', queryAgeMs: 55_000 - i * 1000, xactAgeMs: 55_000 - i * 1000, query: update }),
  );
  return [
    enrichment('pool', saturatedPool({ meanHoldSeconds: 0.02 })),
    enrichment('traffic', traffic()),
    enrichment('postgres', {
      databases: [
        db({
          connections: 13,
          byState: { active: 10, 'idle in transaction': 1, idle: 2 },
          longRunning: waiters,
          idleInTransaction: [blocker],
          oldestTransactions: [blocker, ...waiters.slice(0, 2)],
          blockingChains: [
            {
              blockerPid: 4711,
              blockerUser: 'app',
              blockerApplication: 'demo-backend',
              blockerState: 'idle in transaction',
              blockerQuery: update,
              blockerAgeMs: 61_000,
              waitingPids: waiters.map((w) => w.pid),
              longestWaitMs: 55_000,
            },
          ],
        }),
      ],
    }),
    enrichment('logs', logs()),
    enrichment('related_alerts', related(['p99_latency_high'])),
  ];
}

/** Requests at 3.2x their hour-ago rate, GET /api/orders 4.3x; the pool saturates. */
export function spike(): Enrichment[] {
  return [
    enrichment('pool', saturatedPool({ meanHoldSeconds: 0.08, waitingClients: 2.5, activeTrend: 'climbing', activeSlopePerMinute: 1.2 })),
    enrichment(
      'traffic',
      traffic({
        verdict: 'spike',
        totalNow: 160,
        totalHourAgo: 50,
        ratio: 3.2,
        endpoints: [
          { endpoint: 'GET /api/orders', now: 130, hourAgo: 30, dayAgo: 29, ratio: 4.33 },
          { endpoint: 'GET /api/users', now: 30, hourAgo: 20, dayAgo: 19, ratio: 1.5 },
        ],
        topMovers: ['GET /api/orders', 'GET /api/users'],
      }),
    ),
    enrichment('postgres', { databases: [db({ connections: 12, byState: { active: 10, idle: 2 }, longRunning: [session(4901, { queryAgeMs: 40 })] })] }),
    enrichment('logs', logs({ matched: 6, signals: { too_many_clients: 0, pool_timeout: 6, connection_refused: 0, connection_error: 0, other: 0 } })),
    enrichment('related_alerts', related(['p99_latency_high'])),
  ];
}

/** The database refuses connections; the backend logs ECONNREFUSED. */
export function down(): Enrichment[] {
  return [
    enrichment('pool', saturatedPool({ activeTrend: 'climbing', activeSlopePerMinute: 3 })),
    enrichment('traffic', traffic()),
    enrichment('postgres', {
      databases: [
        db({
          reachable: false,
          failure: { kind: 'unreachable', message: 'connect ECONNREFUSED 127.0.0.1:5432' },
          maxConnections: null,
          reservedConnections: null,
          connections: null,
          byState: {},
          byApplication: {},
          byUser: {},
          topStatements: null,
        }),
      ],
    }),
    enrichment(
      'logs',
      logs({
        matched: 42,
        groups: [
          {
            shape: 'pg connection error: connect ECONNREFUSED <addr>',
            count: 42,
            firstSeen: '2026-11-27T06:39:00Z',
            lastSeen: '2026-11-27T06:41:00Z',
            signal: 'connection_refused',
          },
        ],
        signals: { too_many_clients: 0, pool_timeout: 0, connection_refused: 42, connection_error: 0, other: 0 },
      }),
    ),
    enrichment('related_alerts', related(['error_rate_high'])),
  ];
}

/** The server has 97 of 97 usable connections in use, 85 of them by "reporting". */
export function connectionLimit(): Enrichment[] {
  return [
    enrichment('pool', saturatedPool()),
    enrichment('traffic', traffic()),
    enrichment('postgres', {
      databases: [db({ connections: 97, byState: { idle: 80, active: 17 }, byApplication: { reporting: 85, 'demo-backend': 11, pagefirst: 1 } })],
    }),
    enrichment(
      'logs',
      logs({
        matched: 12,
        groups: [
          {
            shape: 'pg connection error: sorry, too many clients already',
            count: 12,
            firstSeen: '2026-11-27T06:39:00Z',
            lastSeen: '2026-11-27T06:41:00Z',
            signal: 'too_many_clients',
          },
        ],
        signals: { too_many_clients: 12, pool_timeout: 0, connection_refused: 0, connection_error: 0, other: 0 },
      }),
    ),
    enrichment('related_alerts', related(['error_rate_high'])),
  ];
}

/** A PgBouncer pool at its pool_size with clients waiting, the database behind it with room to spare. */
export function poolerFull(): Enrichment[] {
  return [
    enrichment('pool', saturatedPool()),
    enrichment('traffic', traffic()),
    enrichment('postgres', {
      databases: [
        db({
          connections: 21,
          endpoint: {
            pooler: { kind: 'unknown', evidence: 'our transaction runs in server process 4242, but the cancel key names process -9' },
            backendPid: 4242,
          },
          slots: {
            maxConnections: 100,
            superuserReserved: 3,
            reserved: 0,
            usable: 97,
            used: 22,
            unknown: 0,
            freeOrdinary: 75,
            ourTier: 'ordinary',
            whoCanConnect: '75 of 97 ordinary slots are free: any role can connect.',
          },
        }),
      ],
    }),
    enrichment('pgbouncer', {
      poolers: [
        {
          name: 'main-pooler',
          endpoint: 'pgbouncer:6432',
          reachable: true,
          failure: null,
          version: 'PgBouncer 1.18.0',
          poolMode: 'transaction',
          maxClientConn: 1000,
          usedClients: 140,
          clientLimitReached: false,
          queryWaitTimeoutS: 120,
          pools: [
            {
              database: 'app',
              user: 'app',
              poolMode: 'transaction',
              clActive: 20,
              clWaiting: 35,
              maxWaitMs: 4_200,
              svActive: 20,
              svIdle: 0,
              servers: 20,
              poolSize: 20,
              reservePool: 0,
              maxDbConnections: 0,
              dbConnections: 20,
              maxUserConnections: 0,
              userConnections: 20,
              saturated: true,
              limit: 'pool_size',
              limitValue: 20,
              waitingByApplication: [{ application: 'demo-backend', count: 35 }],
            },
          ],
        },
      ],
    }),
    enrichment('related_alerts', related()),
  ];
}

/** Normal traffic that needs more than the pool: 100/s × 0.11 s = 11 connections for a pool of 10. */
export function undersized(): Enrichment[] {
  return [
    enrichment('pool', saturatedPool({ meanHoldSeconds: 0.11, waitingClients: 1.5 })),
    enrichment(
      'traffic',
      traffic({ totalNow: 100, totalHourAgo: 98, ratio: 1.02, endpoints: [{ endpoint: 'GET /api/orders', now: 100, hourAgo: 98, dayAgo: 97, ratio: 1.02 }] }),
    ),
    enrichment('postgres', { databases: [db({ connections: 13, byState: { active: 10, idle: 3 } })] }),
    enrichment('logs', logs()),
    enrichment('related_alerts', related()),
  ];
}

/** Six long queries waiting on disk reads and buffer mapping, no locks. */
export function ioBound(): Enrichment[] {
  const q = 'SELECT * FROM events WHERE payload @> $1';
  const sessions = range(5001, 6).map((pid, i) =>
    session(pid, { queryAgeMs: 8_000 + i * 100, waitEventType: i < 4 ? 'IO' : 'LWLock', waitEvent: i < 4 ? 'DataFileRead' : 'BufferMapping', query: q }),
  );
  return [
    enrichment('pool', saturatedPool({ meanHoldSeconds: 0.4, waitingClients: 0.5 })),
    enrichment('traffic', traffic()),
    enrichment('postgres', { databases: [db({ connections: 14, byState: { active: 10, idle: 4 }, longRunning: sessions })] }),
    enrichment('logs', logs()),
    enrichment('related_alerts', related()),
  ];
}
