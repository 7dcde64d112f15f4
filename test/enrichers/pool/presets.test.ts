import { discoverLayout, namesInAlertExpressions } from '../../../src/enrichers/pool/discovery';
import { GO_SQL, HIKARICP_MICROMETER, OTEL_LEGACY, OTEL_SEMCONV, PGBOUNCER, allLayouts, layoutsOf, type PoolLayout } from '../../../src/enrichers/pool/layouts';
import { readPools, type PoolInstanceReading } from '../../../src/enrichers/pool/read';
import { createPrometheusClient } from '../../../src/sources/prometheus';
import type { LabelMatcher } from '../../../src/sources/promql';
import { alertGroup } from '../../support/groups';
import { counterAt, startMetricsTarget, type MetricsTarget } from '../../support/metrics-target';
import { startPrometheus, type PrometheusServer } from '../../support/prometheus';
import { fixture, serve } from './exposition';

const MIN = 60_000;
const STEP = 15_000;
const RUNBOOK = { metric: 'db_connection_pool_size', stateLabel: 'state', states: { active: 'active', idle: 'idle', total: 'total' } };

/*
 * One Prometheus scraping four libraries' expositions as they write them (the field samples in
 * fixtures/), with 40 minutes of history backfilled every 15 s before T0:
 * - HikariCP via Micrometer, app "checkout": HikariPool-1 (max 20) climbs from 12 in use at T0-20m
 *   by one every 2 min to 20 at T0-4m; 37 threads pend from T0-10m on and acquisitions time out at
 *   0.2/s; connections are held 0.4 s on average. HikariPool-2-readonly holds 1 of 10.
 * - OpenTelemetry: a Node.js pg.Pool (current conventions, no limit series, 23 requests pending) and
 *   a JVM's HikariPool-1 (older conventions, 20 of 20, 41 pending, 0.5 timeouts/s).
 * - Go database/sql: "orders" 25 of 25 with goroutines waiting (3 s of waiting per second), and
 *   "sessions" with max_open 0 (no limit) and 143 in use.
 * - pgbouncer_exporter: pool app/app 20 server connections of pool_size 20, 143 clients waiting.
 */
let T0: number;
const hikariActive = (t: number) => (t < T0 - 20 * MIN ? 12 : Math.min(20, 12 + Math.floor((t - (T0 - 20 * MIN)) / (2 * MIN))));

let target: MetricsTarget;
let prom: PrometheusServer;

beforeAll(async () => {
  T0 = Math.floor(Date.now() / STEP) * STEP;
  const since = T0 - 40 * MIN;
  const pool1 = { pool: 'HikariPool-1' };
  const hikari = fixture('hikaricp-micrometer.txt')
    .vary('hikaricp_connections_active', pool1, hikariActive)
    .vary('hikaricp_connections_idle', pool1, (t) => 20 - hikariActive(t))
    .vary('hikaricp_connections_pending', pool1, (t) => (t >= T0 - 10 * MIN ? 37 : 0))
    .vary('hikaricp_connections_timeout_total', pool1, counterAt(112, 0.2, T0 - 10 * MIN))
    .vary('hikaricp_connections_usage_seconds_count', pool1, counterAt(184101, 10, since))
    .vary('hikaricp_connections_usage_seconds_sum', pool1, counterAt(20734.118, 4, since));
  const otel = fixture('otel-db-client.txt').vary('db_client_connections_timeouts_total', { pool_name: 'HikariPool-1' }, counterAt(57, 0.5, since));
  const go = fixture('go-sql-dbstats.txt')
    .vary('go_sql_wait_duration_seconds_total', { db_name: 'orders' }, counterAt(8121.55, 3, since))
    .vary('go_sql_wait_count_total', { db_name: 'orders' }, counterAt(40917, 2, since));
  const pgbouncer = fixture('pgbouncer-exporter.txt');
  target = await startMetricsTarget();
  serve(target, [hikari, otel, go, pgbouncer]);
  prom = await startPrometheus({ target, backfill: [{ from: since, to: T0, stepMs: STEP }] });
});
afterAll(async () => {
  await prom?.stop();
  await target?.close();
});

const client = () => createPrometheusClient({ url: prom.url, timeoutMs: 5_000 });
const read = (layout: PoolLayout, matchers: LabelMatcher[] = []) =>
  readPools(client(), layout.mapping, {
    at: new Date(T0 - MIN),
    start: new Date(T0 - 30 * MIN),
    end: new Date(T0),
    stepSeconds: 15,
    matchers,
    poolLabels: layout.poolLabels,
    instanceLabels: ['pod', 'instance'],
    availableThreshold: 2,
    trendMinutes: 10,
    flatSlopePerMinute: 0.1,
    signal: AbortSignal.timeout(10_000),
  });
/** The numbers of a reading, for one comparison. */
const numbers = (p: PoolInstanceReading) => ({
  pool: p.pool,
  inUse: p.inUse,
  idle: p.idle,
  limit: p.limit,
  limitStatus: p.limitStatus,
  available: p.available,
  waiting: p.waiting === null ? null : Math.round(p.waiting * 1000) / 1000,
  timeouts: p.timeouts === null ? null : Math.round(p.timeouts * 1000) / 1000,
  holdSeconds: p.holdSeconds === null ? null : Math.round(p.holdSeconds * 1000) / 1000,
  saturated: p.saturated,
  signals: p.signals,
});

describe('presets against the real Prometheus scraping each library’s exposition', () => {
  test('hikaricp (Micrometer): two pools of one app, read apart; the saturated one named with its waits, timeouts, hold time, onset and trend', async () => {
    const r = await read(HIKARICP_MICROMETER, [{ name: 'application', op: '=', value: 'checkout' }]);
    expect(r.queries.every((q) => q.error === null)).toBe(true);
    expect(r.instances.map(numbers)).toEqual([
      { pool: 'HikariPool-1', inUse: 20, idle: 0, limit: 20, limitStatus: 'set', available: 0, waiting: 37, timeouts: 0.2, holdSeconds: 0.4, saturated: true, signals: ['available', 'waiting', 'timeouts'] },
      { pool: 'HikariPool-2-readonly', inUse: 1, idle: null, limit: 10, limitStatus: 'set', available: 9, waiting: null, timeouts: null, holdSeconds: null, saturated: false, signals: [] },
    ]);
    const [saturated, healthy] = r.instances;
    expect(saturated!.instance).toBe(target.address);
    expect(saturated!.labels).toEqual({ pool: 'HikariPool-1', application: 'checkout', job: 'app', instance: target.address });
    // Threads pended from T0-10m, before the pool ran short of connections (T0-6m): the waits date the onset.
    expect(saturated!.saturatedSince).toBe(new Date(T0 - 10 * MIN).toISOString());
    expect(saturated!.trend).toBe('climbing');
    expect(saturated!.slopePerMinute!).toBeGreaterThan(0.2);
    expect(saturated!.points.inUse.at(-1)![1]).toBe(20);
    expect(saturated!.points.limit.every(([, v]) => v === 20)).toBe(true);
    expect(healthy!.saturatedSince).toBeNull();
    expect(healthy!.trend).toBe('flat');
  });

  test('otel, current conventions (Node.js pg.Pool): no limit series is "absent", never invented; waiting requests alone say saturated', async () => {
    const r = await read(OTEL_SEMCONV);
    expect(r.instances.map(numbers)).toEqual([
      { pool: 'db.internal.example:5432/app', inUse: 10, idle: 0, limit: null, limitStatus: 'absent', available: null, waiting: 23, timeouts: null, holdSeconds: null, saturated: true, signals: ['waiting'] },
    ]);
    expect(r.instances[0]!.instance).toBe('4b6f0c1e-7d2a-4a51-9b3e-0f6c2a9d1e77');
    expect(r.instances[0]!.labels.job).toBe('shop/checkout');
  });

  test('otel, older conventions (Java agent HikariCP): usage by state, max, pending, timeouts', async () => {
    const r = await read(OTEL_LEGACY);
    expect(r.instances.map(numbers)).toEqual([
      { pool: 'HikariPool-1', inUse: 20, idle: 0, limit: 20, limitStatus: 'set', available: 0, waiting: 41, timeouts: 0.5, holdSeconds: null, saturated: true, signals: ['available', 'waiting', 'timeouts'] },
    ]);
    expect(r.instances[0]!.labels.job).toBe('shop/payments');
  });

  test('go-sql: max_open 0 is no limit (not "−143 available"), the other pool is saturated with goroutines waiting', async () => {
    const r = await read(GO_SQL);
    expect(r.instances.map(numbers)).toEqual([
      { pool: 'orders', inUse: 25, idle: 0, limit: 25, limitStatus: 'set', available: 0, waiting: 3, timeouts: null, holdSeconds: null, saturated: true, signals: ['available', 'waiting'] },
      { pool: 'sessions', inUse: 143, idle: 2, limit: null, limitStatus: 'unlimited', available: null, waiting: 0, timeouts: null, holdSeconds: null, saturated: false, signals: [] },
    ]);
    expect(r.instances[1]!.utilization).toBeNull();
  });

  test('pgbouncer: server connections against the database’s pool_size, clients waiting; the admin console is no pool', async () => {
    const r = await read(PGBOUNCER);
    expect(r.instances.map(numbers)).toEqual([
      { pool: 'app/app', inUse: 20, idle: 0, limit: 20, limitStatus: 'set', available: 0, waiting: 143, timeouts: null, holdSeconds: null, saturated: true, signals: ['available', 'waiting'] },
    ]);
    expect(r.queries.map((q) => q.error)).toEqual(r.queries.map(() => null));
  });

  test('a preset whose series are absent reads no pool, without an error', async () => {
    const r = await read(PGBOUNCER, [{ name: 'application', op: '=', value: 'checkout' }]);
    expect(r.instances).toEqual([]);
    expect(r.queries.filter((q) => q.error !== null)).toEqual([]);
  });
});

describe('discovery: one lookup of the candidates’ names', () => {
  const discover = (candidates: PoolLayout[], matchers: LabelMatcher[] = []) => discoverWith(candidates, matchers, '');
  const discoverWith = (candidates: PoolLayout[], matchers: LabelMatcher[], generatorURL: string) => {
    const group = alertGroup([{ labels: { alertname: 'db_pool_exhausted' } }]);
    group.alerts[0]!.generatorURL = generatorURL;
    return discoverLayout(client(), candidates, { matchers, start: new Date(T0 - 30 * MIN), end: new Date(T0), group, signal: AbortSignal.timeout(5_000) });
  };

  test('several layouts present: every one is listed and the first in the preferred order is chosen, saying why', async () => {
    const d = await discover(allLayouts(RUNBOOK));
    expect(d.present.map((p) => p.layout.id)).toEqual(['hikaricp-micrometer', 'otel', 'otel-legacy', 'go-sql', 'pgbouncer']);
    expect(d.chosen!.layout.id).toBe('hikaricp-micrometer');
    expect(d.reason).toMatch(/first in the preferred order/);
    expect(d.present.find((p) => p.layout.id === 'go-sql')!.found.sort()).toEqual(['go_sql_idle_connections', 'go_sql_in_use_connections', 'go_sql_max_open_connections', 'go_sql_wait_duration_seconds_total']);
    // The OTel Node.js service exports no limit and no timeouts: only what exists is listed.
    expect(d.present.find((p) => p.layout.id === 'otel')!.found.sort()).toEqual(['db_client_connection_count', 'db_client_connection_pending_requests']);
  });

  test('the alert’s own expression names the layout: it wins over the order', async () => {
    const url = `http://prometheus:9090/graph?g0.expr=${encodeURIComponent('go_sql_max_open_connections - go_sql_in_use_connections < 2')}&g0.tab=1`;
    const d = await discoverWith(allLayouts(RUNBOOK), [], url);
    expect(d.chosen!.layout.id).toBe('go-sql');
    expect(d.reason).toMatch(/the alert's own expression reads `go_sql_in_use_connections`, `go_sql_max_open_connections`|the alert's own expression reads `go_sql_max_open_connections`, `go_sql_in_use_connections`/);
  });

  test('the alert’s matchers narrow the lookup to its own service: one layout, no choice to explain', async () => {
    const d = await discover(allLayouts(RUNBOOK), [{ name: 'job', op: '=', value: 'shop/payments' }]);
    expect(d.present.map((p) => p.layout.id)).toEqual(['otel-legacy']);
    expect(d.chosen!.layout.id).toBe('otel-legacy');
    expect(d.reason).toBe('');
    expect(d.selector).toContain('job="shop/payments"');
  });

  test('a preset with no series: nothing chosen, every name looked for is listed', async () => {
    const d = await discover(layoutsOf('pgbouncer', RUNBOOK), [{ name: 'application', op: '=', value: 'checkout' }]);
    expect(d.chosen).toBeNull();
    expect(d.present).toEqual([]);
    expect(d.lookedFor).toEqual(PGBOUNCER.names);
  });

  test('namesInAlertExpressions reads g0.expr, whole names only (UTF-8 ones inside quotes too)', () => {
    const group = alertGroup([{ labels: { alertname: 'x' } }, { labels: { alertname: 'x' } }]);
    group.alerts[0]!.generatorURL =
      'http://prometheus:9090/graph?g0.expr=%28sum+by+%28%22service.name%22%29+%28%7B%22db.client.connection.max%22%7D%29+-+sum+by+%28%22service.name%22%29+%28%7B%22db.client.connection.count%22%2C%22db.client.connection.state%22%3D%22used%22%7D%29%29+%3C+2&g0.tab=1';
    group.alerts[1]!.generatorURL = 'not a url';
    const names = ['db.client.connection.max', 'db.client.connection.count', 'db_client_connection_max', 'db.client.connection'];
    expect([...namesInAlertExpressions(group, names)].sort()).toEqual(['db.client.connection.count', 'db.client.connection.max']);
  });
});
