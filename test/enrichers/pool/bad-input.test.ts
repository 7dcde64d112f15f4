import { HIKARICP_PROMETHEUS, OTEL_UTF8, runbookLayout, type PoolLayout } from '../../../src/enrichers/pool/layouts';
import type { PoolMapping } from '../../../src/enrichers/pool/mapping';
import { readPools } from '../../../src/enrichers/pool/read';
import { createPrometheusClient, PrometheusError } from '../../../src/sources/prometheus';
import { counterAt, startMetricsTarget, type MetricsTarget } from '../../support/metrics-target';
import { startPrometheus, type PrometheusServer } from '../../support/prometheus';
import { caught } from '../../support/wait';
import { exposition, fixture, serve } from './exposition';

const MIN = 60_000;
const STEP = 15_000;
const RUNBOOK = runbookLayout({ metric: 'db_connection_pool_size', stateLabel: 'state', states: { active: 'active', idle: 'idle', total: 'total' } });

/*
 * An application with two pools exported in the runbook's naming plus a `pool` label the runbook
 * layout does not know (prom-client's text format, as the demo backend writes it), and HikariCP's
 * own Prometheus tracker (simpleclient's format) with a saturated "orders" pool beside a quiet
 * "reports" one.
 */
const RUNBOOK_TWO_POOLS = `# HELP db_connection_pool_size Connections of the application pool by state
# TYPE db_connection_pool_size gauge
db_connection_pool_size{service="checkout",pod="api-1",pool="main",state="total"} 20
db_connection_pool_size{service="checkout",pod="api-1",pool="main",state="active"} 20
db_connection_pool_size{service="checkout",pod="api-1",pool="main",state="idle"} 0
db_connection_pool_size{service="checkout",pod="api-1",pool="reports",state="total"} 10
db_connection_pool_size{service="checkout",pod="api-1",pool="reports",state="active"} 1
db_connection_pool_size{service="checkout",pod="api-1",pool="reports",state="idle"} 9
`;

let T0: number;
let target: MetricsTarget;
let prom: PrometheusServer;

beforeAll(async () => {
  T0 = Math.floor(Date.now() / STEP) * STEP;
  const since = T0 - 40 * MIN;
  const hikari = fixture('hikaricp-prometheus.txt')
    .vary('hikaricp_connection_timeout_total', { pool: 'orders' }, counterAt(3, 0.1, since))
    .vary('hikaricp_connection_usage_millis_count', { pool: 'orders' }, counterAt(52210, 5, since))
    .vary('hikaricp_connection_usage_millis_sum', { pool: 'orders' }, counterAt(1.4977e7, 6000, since));
  target = await startMetricsTarget();
  serve(target, [exposition(RUNBOOK_TWO_POOLS), hikari]);
  prom = await startPrometheus({ target, backfill: [{ from: since, to: T0, stepMs: STEP }] });
});
afterAll(async () => {
  await prom?.stop();
  await target?.close();
});

const read = (mapping: PoolMapping, poolLabels: readonly string[] = []) =>
  readPools(createPrometheusClient({ url: prom.url, timeoutMs: 5_000 }), mapping, {
    at: new Date(T0 - MIN),
    start: new Date(T0 - 30 * MIN),
    end: new Date(T0),
    stepSeconds: 15,
    matchers: [],
    poolLabels,
    instanceLabels: ['pod', 'instance'],
    availableThreshold: 2,
    trendMinutes: 10,
    flatSlopePerMinute: 0.1,
    signal: AbortSignal.timeout(10_000),
  });
const layout = (l: PoolLayout) => read(l.mapping, l.poolLabels);

describe('pool readings from bad or ambiguous input', () => {
  test('a limit series with several values for one pool is "ambiguous" with its values, never summed into one limit', async () => {
    const r = await layout(RUNBOOK);
    expect(r.instances).toHaveLength(1);
    const p = r.instances[0]!;
    expect({ limitStatus: p.limitStatus, limitValues: p.limitValues, limit: p.limit, available: p.available, saturated: p.saturated }).toEqual({
      limitStatus: 'ambiguous',
      limitValues: [10, 20],
      limit: null,
      available: null,
      saturated: null,
    });
    // With the label that tells the pools apart, each is read alone: the saturated one beside the quiet one.
    const apart = await read(RUNBOOK.mapping, ['pool']);
    expect(apart.instances.map((x) => [x.pool, x.instance, x.inUse, x.limit, x.available, x.saturated])).toEqual([
      ['main', 'api-1', 20, 20, 0, true],
      ['reports', 'api-1', 1, 10, 9, false],
    ]);
  });

  test('a mapping with one expression Prometheus rejects: that query carries Prometheus’ answer, the others are read', async () => {
    const r = await read({ ...RUNBOOK.mapping, idle: 'sum(', waiting: 'rate(db_connection_pool_size{$matchers})' }, ['pool']);
    const failed = r.queries.filter((q) => q.error !== null);
    expect(failed.map((q) => q.quantity)).toEqual(['idle', 'waiting', 'waiting']);
    expect(failed[0]!.error).toMatch(/bad_data: .*parse error/);
    expect(failed[1]!.error).toMatch(/bad_data: .*(range vector|expected type)/);
    expect(r.instances.map((x) => [x.pool, x.inUse, x.idle, x.waiting])).toEqual([
      ['main', 20, null, null],
      ['reports', 1, null, null],
    ]);
  });

  test('a mapping Prometheus rejects entirely throws one PrometheusError naming each quantity', async () => {
    const e = await caught(read({ inUse: 'sum(', idle: null, limit: 'x{', waiting: null, timeouts: null, holdSeconds: null }));
    expect(e).toBeInstanceOf(PrometheusError);
    expect(e.errorType).toBe('bad_data');
    expect(e.message).toMatch(/^Prometheus refused every pool query: inUse: .*bad_data.*; limit: .*bad_data/);
  });

  test('the UTF-8 OpenTelemetry layout on this Prometheus 2.42: refused as a parse error, nothing crashes', async () => {
    const e = await caught(layout(OTEL_UTF8));
    expect(e).toBeInstanceOf(PrometheusError);
    expect(e.message).toMatch(/^Prometheus refused every pool query: inUse: /);
  });

  test('hikaricp (HikariCP’s own Prometheus tracker, simpleclient format): pools read apart, hold time in seconds', async () => {
    const r = await layout(HIKARICP_PROMETHEUS);
    expect(r.queries.filter((q) => q.error !== null)).toEqual([]);
    expect(
      r.instances.map((x) => ({
        pool: x.pool,
        inUse: x.inUse,
        idle: x.idle,
        limit: x.limit,
        waiting: x.waiting,
        timeouts: x.timeouts && Math.round(x.timeouts * 1000) / 1000,
        hold: x.holdSeconds && Math.round(x.holdSeconds * 1000) / 1000,
        saturated: x.saturated,
        signals: x.signals,
      })),
    ).toEqual([
      { pool: 'orders', inUse: 10, idle: 0, limit: 10, waiting: 5, timeouts: 0.1, hold: 1.2, saturated: true, signals: ['available', 'waiting', 'timeouts'] },
      { pool: 'reports', inUse: 0, idle: 2, limit: 5, waiting: 0, timeouts: 0, hold: null, saturated: false, signals: [] },
    ]);
  });
});
