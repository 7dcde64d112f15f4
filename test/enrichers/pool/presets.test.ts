import type { AlertGroup } from '../../../src/core/alert';
import type { FieldsSection, SeriesSection, TableSection, TextSection } from '../../../src/core/diagnostic';
import type { EnrichmentResult } from '../../../src/core/enricher';
import { discoverLayout, namesInAlertExpressions } from '../../../src/enrichers/pool/discovery';
import { createPoolEnricher } from '../../../src/enrichers/pool/enricher';
import { poolEvidenceSchema, type PoolEvidence } from '../../../src/core/evidence';
import { settingsSchema } from '../../../src/enrichers/pool/settings';
import { GO_SQL, HIKARICP_MICROMETER, OTEL_LEGACY, OTEL_SEMCONV, PGBOUNCER, allLayouts, layoutsOf, type PoolLayout } from '../../../src/enrichers/pool/layouts';
import { readPools, type PoolInstanceReading } from '../../../src/enrichers/pool/read';
import { createPrometheusClient } from '../../../src/sources/prometheus';
import type { LabelMatcher } from '../../../src/sources/promql';
import { capturingLogger } from '../../support/capture';
import { alertGroup } from '../../support/groups';
import { counterAt, startMetricsTarget, type MetricsTarget } from '../../support/metrics-target';
import { startPrometheus, type PrometheusServer } from '../../support/prometheus';
import { caught } from '../../support/wait';
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
  const hikari = fixture('04-hikaricp-micrometer.txt')
    .vary('hikaricp_connections_active', pool1, hikariActive)
    .vary('hikaricp_connections_idle', pool1, (t) => 20 - hikariActive(t))
    .vary('hikaricp_connections_pending', pool1, (t) => (t >= T0 - 10 * MIN ? 37 : 0))
    .vary('hikaricp_connections_timeout_total', pool1, counterAt(112, 0.2, T0 - 10 * MIN))
    .vary('hikaricp_connections_usage_seconds_count', pool1, counterAt(184101, 10, since))
    .vary('hikaricp_connections_usage_seconds_sum', pool1, counterAt(20734.118, 4, since));
  const otel = fixture('05-otel-db-client-connection.txt').vary(
    'db_client_connections_timeouts_total',
    { pool_name: 'HikariPool-1' },
    counterAt(57, 0.5, since),
  );
  const go = fixture('06-go-sql-dbstats.txt')
    .vary('go_sql_wait_duration_seconds_total', { db_name: 'orders' }, counterAt(8121.55, 3, since))
    .vary('go_sql_wait_count_total', { db_name: 'orders' }, counterAt(40917, 2, since));
  const pgbouncer = fixture('07-pgbouncer-exporter.txt');
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
      {
        pool: 'HikariPool-1',
        inUse: 20,
        idle: 0,
        limit: 20,
        limitStatus: 'set',
        available: 0,
        waiting: 37,
        timeouts: 0.2,
        holdSeconds: 0.4,
        saturated: true,
        signals: ['available', 'waiting', 'timeouts'],
      },
      {
        pool: 'HikariPool-2-readonly',
        inUse: 1,
        idle: null,
        limit: 10,
        limitStatus: 'set',
        available: 9,
        waiting: null,
        timeouts: null,
        holdSeconds: null,
        saturated: false,
        signals: [],
      },
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
      {
        pool: 'db.internal.example:5432/app',
        inUse: 10,
        idle: 0,
        limit: null,
        limitStatus: 'absent',
        available: null,
        waiting: 23,
        timeouts: null,
        holdSeconds: null,
        saturated: true,
        signals: ['waiting'],
      },
    ]);
    expect(r.instances[0]!.instance).toBe('4b6f0c1e-7d2a-4a51-9b3e-0f6c2a9d1e77');
    expect(r.instances[0]!.labels.job).toBe('shop/checkout');
  });

  test('otel, older conventions (Java agent HikariCP): usage by state, max, pending, timeouts', async () => {
    const r = await read(OTEL_LEGACY);
    expect(r.instances.map(numbers)).toEqual([
      {
        pool: 'HikariPool-1',
        inUse: 20,
        idle: 0,
        limit: 20,
        limitStatus: 'set',
        available: 0,
        waiting: 41,
        timeouts: 0.5,
        holdSeconds: null,
        saturated: true,
        signals: ['available', 'waiting', 'timeouts'],
      },
    ]);
    expect(r.instances[0]!.labels.job).toBe('shop/payments');
  });

  test('go-sql: max_open 0 is no limit (not "−143 available"), the other pool is saturated with goroutines waiting', async () => {
    const r = await read(GO_SQL);
    expect(r.instances.map(numbers)).toEqual([
      {
        pool: 'orders',
        inUse: 25,
        idle: 0,
        limit: 25,
        limitStatus: 'set',
        available: 0,
        waiting: 3,
        timeouts: null,
        holdSeconds: null,
        saturated: true,
        signals: ['available', 'waiting'],
      },
      {
        pool: 'sessions',
        inUse: 143,
        idle: 2,
        limit: null,
        limitStatus: 'unlimited',
        available: null,
        waiting: 0,
        timeouts: null,
        holdSeconds: null,
        saturated: false,
        signals: [],
      },
    ]);
    expect(r.instances[1]!.utilization).toBeNull();
  });

  test('pgbouncer: server connections against the database’s pool_size, clients waiting; the admin console is no pool', async () => {
    const r = await read(PGBOUNCER);
    expect(r.instances.map(numbers)).toEqual([
      {
        pool: 'app/app',
        inUse: 20,
        idle: 0,
        limit: 20,
        limitStatus: 'set',
        available: 0,
        waiting: 143,
        timeouts: null,
        holdSeconds: null,
        saturated: true,
        signals: ['available', 'waiting'],
      },
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
    expect(d.present.find((p) => p.layout.id === 'go-sql')!.found.sort()).toEqual([
      'go_sql_idle_connections',
      'go_sql_in_use_connections',
      'go_sql_max_open_connections',
      'go_sql_wait_duration_seconds_total',
    ]);
    // The OTel Node.js service exports no limit and no timeouts: only what exists is listed.
    expect(d.present.find((p) => p.layout.id === 'otel')!.found.sort()).toEqual(['db_client_connection_count', 'db_client_connection_pending_requests']);
  });

  test('the alert’s own expression names the layout: it wins over the order', async () => {
    const url = `http://prometheus:9090/graph?g0.expr=${encodeURIComponent('go_sql_max_open_connections - go_sql_in_use_connections < 2')}&g0.tab=1`;
    const d = await discoverWith(allLayouts(RUNBOOK), [], url);
    expect(d.chosen!.layout.id).toBe('go-sql');
    expect(d.reason).toMatch(
      /the alert's own expression reads `go_sql_in_use_connections`, `go_sql_max_open_connections`|the alert's own expression reads `go_sql_max_open_connections`, `go_sql_in_use_connections`/,
    );
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

describe('the pool enricher (presets, discovery, mapping) against the same Prometheus', () => {
  const enrich = (options: Record<string, unknown>, labels: Record<string, string> = { alertname: 'db_pool_exhausted' }, extra: Partial<AlertGroup> = {}) =>
    createPoolEnricher(settingsSchema.parse(options), { prometheus: client() }).enrich({
      group: alertGroup([{ labels, startsAt: new Date(T0 - MIN).toISOString() }], extra),
      signal: AbortSignal.timeout(10_000),
      logger: capturingLogger().logger,
      now: new Date(T0),
    });
  const fieldsOf = (r: EnrichmentResult) =>
    Object.fromEntries(r.sections.find((s): s is FieldsSection => s.type === 'fields')!.fields.map((f) => [f.label, f.value]));
  const notesOf = (r: EnrichmentResult) => (r.sections.find((s): s is TextSection => s.type === 'text' && s.title === 'Notes')?.text ?? '').split('\n');

  test('auto, restricted to the alert’s app: HikariCP found and read; the saturated pool named, the healthy one beside it changes nothing', async () => {
    const r = await enrich({ copyLabels: ['application'] }, { alertname: 'db_pool_exhausted', application: 'checkout' });
    const ev = r.evidence as unknown as PoolEvidence;
    expect(ev.layout).toEqual({ id: 'hikaricp-micrometer', preset: 'hikaricp', title: 'HikariCP via Micrometer' });
    expect(ev.present).toEqual(['hikaricp-micrometer']);
    expect(ev.saturatedPools).toEqual(['HikariPool-1']);
    expect(ev.saturated).toBe(true);
    expect(ev.pools.map((p) => [p.name, p.saturated, p.saturatedInstances])).toEqual([
      ['HikariPool-1', true, [target.address]],
      ['HikariPool-2-readonly', false, []],
    ]);
    // the rules' numbers are the saturated pool's alone (20 of 20), not 21 of 30 with the read-only pool
    expect({ active: ev.active, total: ev.total, available: ev.available, waiting: ev.waiting, utilization: ev.utilization }).toEqual({
      active: 20,
      total: 20,
      available: 0,
      waiting: 37,
      utilization: 1,
    });
    expect(ev.timeoutsPerSecond).toBeCloseTo(0.2, 6);
    expect(ev.meanHoldSeconds).toBeCloseTo(0.4, 6);
    expect(ev.saturatedSince).toBe(new Date(T0 - 10 * MIN).toISOString());
    expect(ev.activeTrend).toBe('climbing');
    expect(ev.perInstance).toEqual([{ instance: target.address, active: 20, idle: 0, total: 20, available: 0, utilization: 1 }]);
    expect(poolEvidenceSchema.safeParse(ev).success).toBe(true);

    const f = fieldsOf(r);
    expect(f['Read as']).toMatch(/^HikariCP via Micrometer \(found .*`hikaricp_connections_active`/);
    expect(f.Saturated).toBe(`HikariPool-1 on ${target.address} (0 of 20 available, 37 waiting, 0.200/s acquire timeouts)`);
    const table = r.sections.find((s): s is TableSection => s.type === 'table')!;
    expect(table.rows.map((row) => row.slice(0, 6))).toEqual([
      ['HikariPool-1', target.address, '20', '0', '20', '0'],
      ['HikariPool-2-readonly', target.address, '1', 'n/a', '10', '9'],
    ]);
    const charts = r.sections.filter((s): s is SeriesSection => s.type === 'series');
    expect(charts.map((c) => c.title)).toEqual(['HikariPool-1: connections, last 30 min']);
    expect(charts[0]!.series.map((x) => x.name)).toEqual(['in use', 'limit', 'waiting']);
    expect(r.summary).toMatch(
      /^HikariPool-1 saturated: 20\/20 in use \(100\.0%\), 37 waiting, 0\.200\/s acquire timeouts; since .*; in use climbing \(\+0\.\d\d\/min\)$/,
    );
    expect(r.queries!.map((x) => x.query)).toContain('hikaricp_connections_active{application="checkout"}');
  });

  test('auto over everything: several layouts exist, the choice and its reason are a line', async () => {
    const r = await enrich({});
    expect((r.evidence as unknown as PoolEvidence).present).toEqual(['hikaricp-micrometer', 'otel', 'otel-legacy', 'go-sql', 'pgbouncer']);
    expect(notesOf(r)[0]).toMatch(
      /^Several pool layouts exist \(hikaricp-micrometer, otel, otel-legacy, go-sql, pgbouncer\); reading hikaricp-micrometer because it comes first .*Set enrichers\.pool\.preset to read another\.$/,
    );
  });

  test('preset go-sql: max_open 0 is a line saying "no limit", the saturated pool is named', async () => {
    const r = await enrich({ preset: 'go-sql' });
    const ev = r.evidence as unknown as PoolEvidence;
    expect(ev.saturatedPools).toEqual(['orders']);
    expect(ev.pools.find((p) => p.name === 'sessions')).toEqual(
      expect.objectContaining({ limit: null, limitStatus: 'unlimited', available: null, saturated: false }),
    );
    expect(notesOf(r)).toContain(
      `sessions on ${target.address}: the limit series says 0, which means no limit: available connections do not apply; saturation is read from waiting requests and the database side.`,
    );
    expect(fieldsOf(r).Saturated).toBe(`orders on ${target.address} (0 of 25 available, 3 waiting)`);
  });

  test('preset otel, the Node.js service: no limit series said so, waits alone make it saturated', async () => {
    const r = await enrich({ preset: 'otel', copyLabels: ['job'] }, { alertname: 'db_pool_exhausted', job: 'shop/checkout' });
    const ev = r.evidence as unknown as PoolEvidence;
    expect([ev.layout!.id, ev.saturated, ev.total, ev.available, ev.waiting]).toEqual(['otel', true, null, null, 23]);
    expect(notesOf(r)).toContain(
      'db.internal.example:5432/app on 4b6f0c1e-7d2a-4a51-9b3e-0f6c2a9d1e77: the limit query found no series, so available connections are unknown (never assumed); saturation is read from waiting requests.',
    );
  });

  test('a preset with no series for the alert: the section says what it looked for and which keys fix it', async () => {
    const r = await enrich({ preset: 'pgbouncer', copyLabels: ['application'] }, { alertname: 'db_pool_exhausted', application: 'checkout' });
    expect(r.summary).toBe(`no pool metrics found (looked for ${PGBOUNCER.names.length} metric names)`);
    const text = (r.sections[0] as TextSection).text;
    expect(text).toMatch(
      /^No pool metrics found: looked for `pgbouncer_pools_server_active_connections`, .* \(preset pgbouncer\) with `\{__name__=~".*",application="checkout"\}` in the last 30 min\. Set enrichers\.pool\.preset .*enrichers\.pool\.mapping/,
    );
    expect((r.evidence as unknown as PoolEvidence).pools).toEqual([]);
  });

  test('Alertmanager left alerts out: only the grouped-by label restricts the queries; the listed pods do not, and that is said', async () => {
    const labels = { alertname: 'db_pool_exhausted', application: 'checkout', pod: 'api-1' };
    const r = await enrich({ preset: 'hikaricp', copyLabels: ['application', 'pod'] }, labels, {
      truncatedAlerts: 3,
      groupLabels: { alertname: 'db_pool_exhausted', application: 'checkout' },
    });
    expect(r.queries!.map((x) => x.query)).toContain('hikaricp_connections_active{application="checkout"}');
    expect(notesOf(r)).toContain(
      "Alertmanager left 3 alerts of this group out of the notification, so the queries are not restricted to the listed alerts' `pod` (that would leave the others out).",
    );
    // The same alert without truncation is restricted by its pod, which these series lack: nothing is found.
    const narrow = await enrich({ preset: 'hikaricp', copyLabels: ['application', 'pod'] }, labels);
    expect(narrow.summary).toMatch(/^no pool metrics found/);
  });

  test('a mapping without inUse adds to the discovered layout; the older holdTimeQuery applies to the runbook naming only', async () => {
    const r = await enrich(
      { copyLabels: ['application'], mapping: { waiting: 'hikaricp_connections_pending{$matchers} * 2' }, holdTimeQuery: 'sum(db_pool_hold{$matchers})' },
      { alertname: 'db_pool_exhausted', application: 'checkout' },
    );
    const ev = r.evidence as unknown as PoolEvidence;
    expect([ev.layout!.id, ev.waiting]).toEqual(['hikaricp-micrometer', 74]);
    expect(ev.meanHoldSeconds).toBeCloseTo(0.4, 6);
  });

  test('a hand-written mapping: a refused expression is a line naming the key; Prometheus refusing all of it is an error naming the key', async () => {
    const mapping = { inUse: 'go_sql_in_use_connections{$matchers}', limit: 'go_sql_max_open_connections{$matchers}', idle: 'sum(' };
    const r = await enrich({ mapping, poolLabels: ['db_name'] });
    const ev = r.evidence as unknown as PoolEvidence;
    expect(ev.layout!.id).toBe('mapping');
    expect(ev.pools.map((p) => [p.name, p.inUse, p.limitStatus])).toEqual([
      ['orders', 25, 'set'],
      ['sessions', 143, 'unlimited'],
    ]);
    expect(notesOf(r).find((l) => l.startsWith('idle: '))).toMatch(
      /^idle: Prometheus refused `sum\(`: prometheus \/api\/v1\/query: bad_data: .*parse error.*\. Change enrichers\.pool\.mapping\.idle\.$/,
    );
    const e = await caught(enrich({ mapping: { inUse: 'sum(' } }));
    expect(e.message).toMatch(/^Prometheus refused every pool query: inUse: .*bad_data.* \(change enrichers\.pool\.mapping\)$/);
  });
});
