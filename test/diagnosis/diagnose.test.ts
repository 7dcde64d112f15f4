import { CAUSE_IDS, type Cause, type Enrichment } from '../../src/core/diagnostic';
import { diagnose, EXPLAINS, RULES } from '../../src/diagnosis';
import * as f from './fixtures';

const text = (c: Cause | undefined) => [...(c?.evidence ?? []), ...(c?.against ?? [])].join('\n');
const find = (causes: Cause[], id: string) => causes.find((c) => c.id === id);

interface Scenario {
  name: string;
  build: () => Enrichment[];
  top: string;
  /** Each must appear in the top cause's evidence lines. */
  evidence: string[];
  /** Each must appear in one of its actions. */
  actions: string[];
  absent: string[];
}

const scenarios: Scenario[] = [
  {
    name: 'connection leak',
    build: f.leak,
    top: 'connection_leak',
    evidence: [
      '9 sessions idle in transaction',
      'pid 4711 (idle 1m 35s',
      'SELECT id, status FROM orders WHERE customer_id = $1',
      'traffic is flat (1.02x its hour-ago baseline',
      'climbing',
    ],
    actions: [
      'SELECT pg_terminate_backend(4711);',
      'SELECT pg_terminate_backend(4715);',
      "application_name = 'demo-backend'",
      'ALTER ROLE "app" SET idle_in_transaction_session_timeout',
    ],
    absent: [
      'traffic_spike',
      'lock_contention',
      'slow_queries',
      'database_unavailable',
      'database_connection_limit',
      'pool_misconfigured',
      'resource_exhaustion',
    ],
  },
  {
    name: 'slow queries',
    build: f.slow,
    top: 'slow_queries',
    evidence: [
      '9 active queries running longer than 1.0 s',
      'pid 4801 (30 s',
      'SELECT pg_sleep($1), count(*) FROM orders',
      'averages 29 s over 40 calls',
      'p99_latency_high',
    ],
    actions: ['SELECT pg_cancel_backend(4801);', 'statement_timeout'],
    absent: ['lock_contention', 'connection_leak', 'traffic_spike', 'database_unavailable', 'database_connection_limit', 'resource_exhaustion'],
  },
  {
    name: 'lock contention',
    build: f.lock,
    top: 'lock_contention',
    evidence: [
      'root blocker pid 4711',
      'idle in transaction for 1m 01s',
      'blocks 9 sessions directly (pid 4712',
      '9 sessions wait on locks',
      'longest wait 55 s',
      'UPDATE orders SET status = $1 WHERE id = $2',
    ],
    actions: ['SELECT pg_terminate_backend(4711);', 'lock_timeout'],
    absent: ['slow_queries', 'connection_leak', 'traffic_spike', 'database_unavailable', 'database_connection_limit', 'pool_misconfigured'],
  },
  {
    name: 'traffic spike',
    build: f.spike,
    top: 'traffic_spike',
    evidence: ['request rate 160/s against 50.0/s an hour ago (3.20x', 'GET /api/orders: 130/s (was 30.0/s, 4.33x)', '10 of 10 connections'],
    actions: ['GET /api/orders', "Raise the pool's max from 10 to 17", '160/s × 0.08 s'],
    absent: ['connection_leak', 'slow_queries', 'lock_contention', 'database_unavailable', 'database_connection_limit'],
  },
  {
    name: 'database down',
    build: f.down,
    top: 'database_unavailable',
    evidence: ['"app" cannot be reached (unreachable): connect ECONNREFUSED', '42 connection errors', 'error_rate_high'],
    actions: ['pg_isready', '"app"'],
    absent: ['database_connection_limit', 'connection_leak', 'slow_queries', 'lock_contention', 'traffic_spike'],
  },
  {
    name: 'connection limit',
    build: f.connectionLimit,
    top: 'database_connection_limit',
    evidence: ['97 of 97 usable connections in use (100%; max_connections 100, 3 reserved)', 'reporting 85', 'too many clients'],
    actions: ["application_name = 'reporting'", 'PgBouncer'],
    absent: ['database_unavailable', 'traffic_spike', 'slow_queries', 'lock_contention'],
  },
  {
    name: 'undersized pool',
    build: f.undersized,
    top: 'pool_misconfigured',
    evidence: ["Little's law: 100/s × 0.11 s mean hold ≈ 11 connections", '110% of it'],
    actions: ["Raise the pool's max from 10 to 15"],
    absent: ['traffic_spike', 'connection_leak', 'slow_queries', 'lock_contention', 'database_unavailable'],
  },
  {
    name: 'IO-bound server',
    build: f.ioBound,
    top: 'resource_exhaustion',
    evidence: ['IO/DataFileRead ×4', 'LWLock/BufferMapping ×2', 'pid 5001'],
    actions: ['iostat', 'LWLock waits'],
    absent: ['lock_contention', 'traffic_spike', 'connection_leak', 'database_unavailable'],
  },
  {
    name: 'PgBouncer pool full, database healthy',
    build: f.poolerFull,
    top: 'pooler_saturated',
    evidence: [
      'PgBouncer "main-pooler", pool app/app (transaction pooling) is full at pool_size 20 (20 server connections): 35 clients waiting for a server connection, the oldest for 4.2 s',
      'waiting in app/app: demo-backend 35',
      'PostgreSQL behind it has room: "app" 75 of 97 ordinary slots free',
    ],
    actions: ["Raise PgBouncer's pool_size for database app from 20 by the 35 waiting clients (to about 55): [databases] app = ... pool_size=55"],
    absent: ['database_connection_limit', 'database_unavailable', 'connection_leak', 'lock_contention'],
  },
];

describe('diagnose: scenarios', () => {
  test.each(scenarios)('$name: top cause, evidence, actions, absent causes', (s) => {
    const causes = diagnose(s.build(), f.group);
    expect(causes[0]?.id).toBe(s.top);
    const top = causes[0]!;
    for (const e of s.evidence) expect(top.evidence.join('\n')).toContain(e);
    for (const a of s.actions) expect(top.actions.join('\n')).toContain(a);
    for (const id of s.absent) expect(find(causes, id)).toBeUndefined();
    expect(top.confidence).toBeGreaterThanOrEqual(0.6);
    expect(top.confidence).toBeLessThanOrEqual(0.95);
    for (const c of causes) expect(c.evidence.length).toBeGreaterThan(0);
    for (const c of causes) expect(c.actions.length).toBeGreaterThan(0);
  });

  test('healthy: nothing stands out', () => {
    expect(diagnose(f.healthy(), f.group)).toEqual([]);
  });

  test('no enrichments, or none ok: no causes', () => {
    expect(diagnose([], f.group)).toEqual([]);
    expect(
      diagnose(
        f.leak().map((e) => ({ ...e, status: 'error' as const })),
        f.group,
      ),
    ).toEqual([]);
    expect(
      diagnose(
        f.lock().map((e) => ({ ...e, status: 'timeout' as const })),
        f.group,
      ),
    ).toEqual([]);
  });

  test('every rule has its own cause id from CAUSE_IDS', () => {
    expect(RULES).toHaveLength(CAUSE_IDS.length);
    const ids = new Set<string>();
    for (const build of [f.leak, f.slow, f.lock, f.spike, f.down, f.connectionLimit, f.undersized, f.ioBound, f.poolerFull])
      for (const c of diagnose(build(), f.group)) ids.add(c.id);
    expect([...ids].sort()).toEqual([...CAUSE_IDS].sort());
  });
});

describe('roots rank above the symptoms they explain', () => {
  test('lock chain waiters are not counted as slow queries', () => {
    const causes = diagnose(f.lock(), f.group);
    expect(find(causes, 'slow_queries')).toBeUndefined();
  });

  test('a weak lock chain still ranks above strong unrelated slow queries, which say why', () => {
    const e = f.lock();
    const pg = e.find((x) => x.enricher === 'postgres')!.evidence as any;
    const database = pg.databases[0];
    database.blockingChains = [{ ...database.blockingChains[0], waitingPids: [4712], longestWaitMs: 400, blockerAgeMs: 900 }];
    database.longRunning = [
      f.session(4712, { waitEventType: 'Lock', waitEvent: 'transactionid', queryAgeMs: 400 }),
      ...[4801, 4802, 4803, 4804, 4805, 4806, 4807, 4808].map((pid) => f.session(pid, { queryAgeMs: 20_000, query: 'SELECT * FROM big_report' })),
    ];
    const causes = diagnose(e, f.group);
    const lock = find(causes, 'lock_contention')!;
    const slow = find(causes, 'slow_queries')!;
    expect(lock).toBeDefined();
    expect(slow).toBeDefined();
    expect(lock.confidence).toBeGreaterThan(slow.confidence);
    expect(slow.against!.join('\n')).toContain('explained by lock_contention');
    expect(lock.against!.join('\n')).toContain('the longest lock wait is only 400 ms');
  });

  test('the pool is not "too small" when a leak, slow queries or a spike hold it', () => {
    for (const build of [f.spike, f.slow, f.ioBound]) {
      const causes = diagnose(build(), f.group);
      const pool = find(causes, 'pool_misconfigured');
      if (pool) expect(pool.confidence).toBeLessThan(causes[0]!.confidence);
    }
    const spike = find(diagnose(f.spike(), f.group), 'pool_misconfigured')!;
    expect(spike.against!.join('\n')).toContain('traffic rose (3.20x');
  });

  test('slow queries beside a lock chain name the lock-bound pids they leave out', () => {
    const e = f.lock();
    const database = (e.find((x) => x.enricher === 'postgres')!.evidence as any).databases[0];
    database.longRunning.push(f.session(4990, { queryAgeMs: 12_000, query: 'SELECT * FROM big_report' }));
    const causes = diagnose(e, f.group);
    const slow = find(causes, 'slow_queries')!;
    expect(slow.evidence.join('\n')).toContain('pid 4990');
    expect(slow.evidence.join('\n')).not.toContain('pid 4712');
    expect(slow.against!.join('\n')).toContain('(pid 4712, 4713');
    expect(find(causes, 'lock_contention')!.confidence).toBeGreaterThan(slow.confidence);
    expect(causes[0]!.id).toBe('lock_contention');
  });

  test('a row-lock queue whose chains list only queued waiters: the idle-in-transaction holder is the probable root, not a leak', () => {
    const e = f.lock();
    const database = (e.find((x) => x.enricher === 'postgres')!.evidence as any).databases[0];
    // As pg_blocking_pids reports a tuple-lock queue: 4712 waits on the holder, the rest on 4712 and on each other;
    // the enricher lists the chains with most waiters, so the holder's own chain (1 waiter) is cut.
    database.blockingChains = [
      {
        blockerPid: 4712,
        blockerUser: 'app',
        blockerApplication: 'demo-backend',
        blockerState: 'active',
        blockerQuery: 'UPDATE orders SET status = $1 WHERE id = $2',
        blockerAgeMs: 55_000,
        waitingPids: [4713, 4714, 4715, 4716, 4717, 4718, 4719, 4720],
        longestWaitMs: 54_000,
      },
      {
        blockerPid: 4713,
        blockerUser: 'app',
        blockerApplication: 'demo-backend',
        blockerState: 'active',
        blockerQuery: 'UPDATE orders SET status = $1 WHERE id = $2',
        blockerAgeMs: 54_000,
        waitingPids: [4714, 4715, 4716, 4717, 4718, 4719, 4720],
        longestWaitMs: 53_000,
      },
    ];
    const causes = diagnose(e, f.group);
    expect(causes[0]!.id).toBe('lock_contention');
    expect(causes[0]!.evidence[0]).toContain('probable root blocker pid 4711 on "app"');
    expect(causes[0]!.evidence.join('\n')).toContain('9 sessions wait on locks');
    expect(causes[0]!.evidence.join('\n')).toContain('queued behind them: pid 4712 (active) blocks 8');
    expect(causes[0]!.actions.join('\n')).toContain('SELECT pg_terminate_backend(4711);');
    expect(causes[0]!.actions.join('\n')).not.toContain('pg_cancel_backend(4712)');
    expect(find(causes, 'connection_leak')).toBeUndefined();
    expect(find(causes, 'slow_queries')).toBeUndefined();
  });

  test('an active blocker that waits on nothing is a certain root; it is cancelled before it is terminated', () => {
    const e = f.lock();
    const database = (e.find((x) => x.enricher === 'postgres')!.evidence as any).databases[0];
    const upd = 'UPDATE orders SET total = total * $1';
    database.idleInTransaction = [];
    database.longRunning = [f.session(4711, { queryAgeMs: 70_000, query: upd }), ...database.longRunning];
    database.blockingChains[0] = { ...database.blockingChains[0], blockerState: 'active', blockerQuery: upd };
    const causes = diagnose(e, f.group);
    expect(causes[0]!.id).toBe('lock_contention');
    expect(causes[0]!.evidence[0]).toContain('root blocker pid 4711');
    expect(causes[0]!.actions[0]).toContain('SELECT pg_cancel_backend(4711);');
    expect(causes[0]!.actions[0]).toContain('SELECT pg_terminate_backend(4711);');
    // The long UPDATE holds the lock: it is lock contention's root, not a slow query.
    expect(find(causes, 'slow_queries')).toBeUndefined();
  });

  test('the relation table only names known cause ids', () => {
    for (const x of EXPLAINS) {
      expect(CAUSE_IDS).toContain(x.root);
      expect(CAUSE_IDS).toContain(x.symptom);
    }
  });
});

describe('what speaks against a cause', () => {
  test('a leak during a traffic spike is weakened and says why', () => {
    const e = f.spike();
    const leak = f.leak().find((x) => x.enricher === 'postgres')!;
    const causes = diagnose(
      e.map((x) => (x.enricher === 'postgres' ? leak : x)),
      f.group,
    );
    const c = find(causes, 'connection_leak')!;
    expect(c.against!.join('\n')).toContain('traffic rose (3.20x its hour-ago baseline');
    expect(find(causes, 'traffic_spike')!.against!.join('\n')).toContain('idle in transaction (pid 4711');
  });

  test('a spike with a pool that is not saturated says so', () => {
    const e = f.spike().map((x) => (x.enricher === 'pool' ? f.enrichment('pool', f.pool()) : x));
    const c = find(diagnose(e, f.group), 'traffic_spike')!;
    expect(c.against!.join('\n')).toContain('not saturated');
  });

  test('without PostgreSQL evidence a leak is only suspected from the trend, with no pid invented', () => {
    const e = f.leak().filter((x) => x.enricher !== 'postgres');
    const c = find(diagnose(e, f.group), 'connection_leak')!;
    expect(c.confidence).toBeLessThan(0.6);
    expect(c.actions.join('\n')).not.toContain('pg_terminate_backend');
    expect(c.against!.join('\n')).toContain('no PostgreSQL evidence');
    expect(text(c)).toContain('climbing');
  });

  test('connections checked out but idle on the server are a leak without idle-in-transaction sessions', () => {
    const e = f
      .leak()
      .map((x) =>
        x.enricher === 'postgres' ? f.enrichment('postgres', { databases: [f.db({ connections: 12, byState: { active: 1, idle: 11 }, idleSettled: 11 })] }) : x,
      );
    const c = find(diagnose(e, f.group), 'connection_leak')!;
    expect(c.evidence.join('\n')).toContain('sees only 1 working (active or in a transaction) and 11 idle sessions (idle for 2.0 s or more)');
    expect(c.against!.join('\n')).toContain("no session of the application's has been idle in transaction");
  });

  test('sessions idle only between two queries (a busy pool, a client short of CPU) are not a held-idle leak', () => {
    const busy = f.db({ connections: 12, byState: { active: 1, idle: 11 }, idleSettled: 0 });
    const e = f.leak().map((x) => (x.enricher === 'postgres' ? f.enrichment('postgres', { databases: [busy] }) : x));
    const c = find(diagnose(e, f.group), 'connection_leak');
    // Only the pool's climbing trend can still suggest a leak; never the idle sessions.
    expect(c?.evidence.join('\n') ?? '').not.toContain('sees only');
    const settled = f.db({ connections: 12, byState: { active: 1, idle: 11 }, idleSettled: 11 });
    const held = find(
      diagnose(
        f.leak().map((x) => (x.enricher === 'postgres' ? f.enrichment('postgres', { databases: [settled] }) : x)),
        f.group,
      ),
      'connection_leak',
    )!;
    expect(held.confidence).toBeGreaterThan(c?.confidence ?? 0);
  });
});

describe('thresholds', () => {
  const withTraffic = (ratio: number) =>
    f
      .spike()
      .map((x) =>
        x.enricher === 'traffic'
          ? f.enrichment('traffic', f.traffic({ ratio, totalNow: 50 * ratio, totalHourAgo: 50, verdict: ratio >= 1.5 ? 'spike' : 'normal' }))
          : x,
      );

  test('traffic at 1.49x is no spike, at 1.5x it is', () => {
    expect(find(diagnose(withTraffic(1.49), f.group), 'traffic_spike')).toBeUndefined();
    expect(find(diagnose(withTraffic(1.5), f.group), 'traffic_spike')).toBeDefined();
  });

  test('a higher spike ratio scores higher', () => {
    const at = (r: number) => find(diagnose(withTraffic(r), f.group), 'traffic_spike')!.confidence;
    expect(at(2)).toBeLessThan(at(3));
  });

  test('a transaction idle for under 2 s is a request in flight, not a leak', () => {
    const e = f.leak().map((x) => {
      if (x.enricher !== 'postgres') return x;
      const database = f.db({ idleInTransaction: [f.session(4711, { state: 'idle in transaction', stateAgeMs: 1_900 })] });
      return f.enrichment('postgres', { databases: [database] });
    });
    const c = find(diagnose(e, f.group), 'connection_leak');
    expect(text(c)).not.toContain('pid 4711');
  });

  test('a query running under 1 s is not slow', () => {
    const e = f
      .slow()
      .map((x) => (x.enricher === 'postgres' ? f.enrichment('postgres', { databases: [f.db({ longRunning: [f.session(4801, { queryAgeMs: 900 })] })] }) : x));
    expect(find(diagnose(e, f.group), 'slow_queries')).toBeUndefined();
  });

  test('the server at 80% of its usable connections is not at its limit', () => {
    const e = f.connectionLimit().map((x) => {
      if (x.enricher === 'postgres') return f.enrichment('postgres', { databases: [f.db({ connections: 78 })] });
      if (x.enricher === 'logs') return f.enrichment('logs', f.logs());
      return x;
    });
    expect(find(diagnose(e, f.group), 'database_connection_limit')).toBeUndefined();
  });
});

describe('database failures are told apart', () => {
  const failing = (failure: object) =>
    f
      .down()
      .map((x) =>
        x.enricher === 'postgres'
          ? f.enrichment('postgres', { databases: [f.db({ reachable: false, failure: failure as any })] })
          : x.enricher === 'logs'
            ? f.enrichment('logs', f.logs())
            : x,
      );

  test('"too many clients" is the connection limit, not unavailability', () => {
    const causes = diagnose(failing({ kind: 'too_many_clients', message: 'sorry, too many clients already', sqlstate: '53300' }), f.group);
    expect(causes[0]!.id).toBe('database_connection_limit');
    expect(causes[0]!.evidence.join('\n')).toContain('SQLSTATE 53300');
    expect(find(causes, 'database_unavailable')).toBeUndefined();
  });

  test('a refused login of our monitoring role does not mean the database is down', () => {
    const causes = diagnose(failing({ kind: 'auth', message: 'password authentication failed' }), f.group);
    expect(find(causes, 'database_unavailable')).toBeUndefined();
  });

  test('our one connection held by other runs for the whole deadline (busy) says nothing about the database', () => {
    const causes = diagnose(failing({ kind: 'busy', message: 'waited 5000 ms for the connection (other runs hold it)' }), f.group);
    expect(find(causes, 'database_unavailable')).toBeUndefined();
    // the same wait read as the database's own timeout would be "unavailable"
    expect(find(diagnose(failing({ kind: 'timeout', message: 'no answer within 5000 ms' }), f.group), 'database_unavailable')).toBeDefined();
  });

  test('a timeout points at a hung server', () => {
    const c = find(diagnose(failing({ kind: 'timeout', message: 'timeout after 5000 ms' }), f.group), 'database_unavailable')!;
    expect(c.actions.join('\n')).toContain('hung or overloaded');
  });
});

describe("pool sizing by Little's law", () => {
  test('several instances: the size per instance, and the database room checked', () => {
    const e = f.undersized().map((x) => {
      if (x.enricher === 'pool') {
        return f.enrichment(
          'pool',
          f.saturatedPool({
            total: 20,
            active: 20,
            available: 0,
            meanHoldSeconds: 0.2,
            perInstance: [
              { instance: 'a:8000', active: 10, idle: 0, total: 10, available: 0, utilization: 1 },
              { instance: 'b:8000', active: 10, idle: 0, total: 10, available: 0, utilization: 1 },
            ],
          }),
        );
      }
      if (x.enricher === 'postgres') return f.enrichment('postgres', { databases: [f.db({ maxConnections: 40, reservedConnections: 3, connections: 30 })] });
      return x;
    });
    const c = find(diagnose(e, f.group), 'pool_misconfigured')!;
    // 100/s × 0.2 s = 20 busy; ×1.3 = 26 in total, 13 per instance.
    expect(c.actions[0]).toContain("Raise the pool's max from 10 to 13 per instance (2 instances, 26 in total)");
    // usable 37, others 30 - 20 = 10 → room 27 ≥ 26: no warning.
    expect(c.actions[0]).not.toContain('PgBouncer');
    const tight = e.map((x) =>
      x.enricher === 'postgres' ? f.enrichment('postgres', { databases: [f.db({ maxConnections: 30, reservedConnections: 3, connections: 28 })] }) : x,
    );
    expect(find(diagnose(tight, f.group), 'pool_misconfigured')!.actions[0]).toContain('has room for only 19 of its 27 usable connections');
  });

  test('a pool large enough for the load is not misconfigured', () => {
    const e = f.undersized().map((x) => (x.enricher === 'pool' ? f.enrichment('pool', f.saturatedPool({ meanHoldSeconds: 0.05 })) : x));
    expect(find(diagnose(e, f.group), 'pool_misconfigured')).toBeUndefined();
  });
});

describe('per-pool evidence (presets): waits, pools without a limit, the saturated pool named', () => {
  const withPool = (build: () => Enrichment[], pool: object) => build().map((x) => (x.enricher === 'pool' ? f.enrichment('pool', pool) : x));
  /** An OpenTelemetry pool without a limit series: 10 in use, 23 requests waiting, saturated by the waits alone. */
  const waitsOnly = f.pool({
    active: 10,
    idle: 0,
    total: null,
    available: null,
    utilization: null,
    perInstance: [{ instance: 'node-01', active: 10, idle: 0, total: null, available: null, utilization: null }],
    activeTrend: 'climbing',
    activeSlopePerMinute: 0.8,
    meanHoldSeconds: null,
    waitingClients: null,
    waiting: 23,
    timeoutsPerSecond: null,
    saturated: true,
    saturatedPools: ['db.internal.example:5432/app'],
  });

  test('requests waiting make the pool saturated without a limit: the leak is named with the pool and its waits', () => {
    const causes = diagnose(withPool(f.leak, waitsOnly), f.group);
    const leak = find(causes, 'connection_leak')!;
    expect(causes[0]!.id).toBe('connection_leak');
    expect(leak.evidence).toContain('pool db.internal.example:5432/app: 10 connections checked out');
    expect(leak.evidence).toContain('23 requests wait for a connection');
    // The same evidence without the waits (and so not saturated) weighs less.
    const calm = find(diagnose(withPool(f.leak, { ...waitsOnly, waiting: 0, saturated: null, saturatedPools: [] }), f.group), 'connection_leak')!;
    expect(calm.confidence).toBeLessThan(leak.confidence);
  });

  test('a pool with no limit and no waits measured is not read as exhausted', () => {
    const unlimited = { ...waitsOnly, waiting: null, saturated: null, saturatedPools: [], pools: [] };
    const e = withPool(f.spike, unlimited);
    const spike = find(diagnose(e, f.group), 'traffic_spike')!;
    expect(text(spike)).not.toContain('saturated with it');
    expect(text(spike)).not.toContain('the pool is not saturated');
    // no size to raise: the pool cannot be "too small"
    expect(find(diagnose(withPool(f.undersized, unlimited), f.group), 'pool_misconfigured')).toBeUndefined();
  });

  test('waits and timeouts enter pool_misconfigured and traffic_spike as evidence', () => {
    const waiting = f.saturatedPool({
      meanHoldSeconds: 0.08,
      waiting: 12,
      timeoutsPerSecond: 0.4,
      waitingClients: 0.4,
      saturated: true,
      saturatedPools: ['HikariPool-1'],
    });
    const pm = find(diagnose(withPool(f.undersized, waiting), f.group), 'pool_misconfigured')!;
    expect(pm.evidence).toContain('12 requests wait for a connection, 0.4/s requests time out waiting for a connection');
    expect(pm.evidence).toContain('pool HikariPool-1: 10 of 10 connections checked out (0 available)');
    const spike = find(diagnose(withPool(f.spike, waiting), f.group), 'traffic_spike')!;
    expect(spike.evidence).toContain('12 requests wait for a connection, 0.4/s requests time out waiting for a connection');
  });
});
