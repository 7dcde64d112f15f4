import type { TrafficEvidence } from '../../src/core/evidence';
import type { TableSection } from '../../src/core/diagnostic';
import type { EnricherDeps } from '../../src/enrichers';
import { createTrafficEnricher, trafficModule, trafficVerdict } from '../../src/enrichers/traffic/enricher';
import { settingsSchema } from '../../src/enrichers/traffic/settings';
import { runEnrichers } from '../../src/pipeline/enrich';
import { createSourceClients } from '../../src/sources';
import { sourcesConfigSchema } from '../../src/sources/config';
import { createPrometheusClient } from '../../src/sources/prometheus';
import { capturingLogger } from '../support/capture';
import { alertGroup } from '../support/groups';
import { closedPortUrl, startCannedServer, startHangingServer, type StubServer } from '../support/http-stubs';
import { startMetricsTarget, type MetricsTarget } from '../support/metrics-target';
import { startPrometheus, type PrometheusServer } from '../support/prometheus';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const STEP = 15_000;
const METRIC = 'http_requests_total';

/*
 * Request counters backfilled around a day ago and over the last 70 minutes (every 15 s), then
 * served live. Each grows at `before` req/s until T0-10m and at `after` req/s from then on, so
 * rate()[5m] now sees `after` and the same window an hour or a day earlier sees `before`.
 *   checkout: /api/orders 10 -> 30 (the spike), /api/users 5, /health 1   => 16 -> 36, spike
 *   billing:  /api/invoices 20 -> 4                                       => drop
 *   search:   /api/search 8 -> 10                                         => normal
 *   nightly:  /batch 2 -> 2.4, absent an hour ago                         => baseline: a day ago
 *   newsvc:   /api/new 3, exists only for the last 10 minutes             => unknown
 */
let T0: number;
const counter =
  (before: number, after: number, present: (t: number) => boolean = () => true) =>
  (t: number) => {
    if (!present(t)) return null;
    const start = T0 - 2 * DAY;
    const switchAt = T0 - 10 * MIN;
    return t < switchAt ? (before * (t - start)) / 1000 : (before * (switchAt - start)) / 1000 + (after * (t - switchAt)) / 1000;
  };

let target: MetricsTarget;
let prom: PrometheusServer;
const stubs: StubServer[] = [];

beforeAll(async () => {
  T0 = Math.floor(Date.now() / STEP) * STEP;
  target = await startMetricsTarget();
  const set = (service: string, endpoint: string, fn: (t: number) => number | null) => target.set(METRIC, { service, endpoint, code: '200' }, fn);
  set('checkout', '/api/orders', counter(10, 30));
  set('checkout', '/api/users', counter(5, 5));
  set('checkout', '/health', counter(1, 1));
  set('billing', '/api/invoices', counter(20, 4));
  set('search', '/api/search', counter(8, 10));
  set(
    'nightly',
    '/batch',
    counter(2, 2.4, (t) => t < T0 - DAY + 30 * MIN || t > T0 - 20 * MIN),
  );
  set(
    'newsvc',
    '/api/new',
    counter(3, 3, (t) => t > T0 - 10 * MIN),
  );
  prom = await startPrometheus({
    target,
    backfill: [
      { from: T0 - DAY - 15 * MIN, to: T0 - DAY + 5 * MIN, stepMs: STEP },
      { from: T0 - HOUR - 15 * MIN, to: T0, stepMs: STEP },
    ],
  });
});
afterAll(async () => {
  await prom?.stop();
  await target?.close();
  await Promise.all(stubs.map((s) => s.close()));
});

const ctx = (service: string | null) => ({
  group: alertGroup([{ labels: { alertname: 'db_pool_exhausted', ...(service ? { service } : {}) } }]),
  signal: AbortSignal.timeout(10_000),
  logger: capturingLogger().logger,
  now: new Date(),
});
const enricher = (settings: object = { copyLabels: ['service'] }) =>
  createTrafficEnricher(settingsSchema.parse(settings), { prometheus: createPrometheusClient({ url: prom.url, timeoutMs: 5_000 }) });
const evidenceOf = async (service: string | null, settings?: object) => {
  const r = await enricher(settings).enrich(ctx(service));
  return { r, ev: r.evidence as unknown as TrafficEvidence };
};

describe('traffic enricher against the real Prometheus with backfilled baselines', () => {
  test('settings defaults and validation', () => {
    expect(settingsSchema.parse({})).toEqual({
      metric: 'http_requests_total',
      endpointLabel: 'endpoint',
      rateWindow: '5m',
      matchers: [],
      copyLabels: [],
      spikeRatio: 1.5,
      dropRatio: 0.5,
      topMovers: 5,
    });
    expect(settingsSchema.safeParse({ rateWindow: '5 minutes' }).success).toBe(false);
    expect(settingsSchema.safeParse({ spikeRatio: 0.4, dropRatio: 0.5 }).success).toBe(false);
    expect(settingsSchema.safeParse({ topMovers: 6 }).success).toBe(false);
  });

  test('spike: 36 req/s now against 16 an hour and a day ago, per endpoint, the mover named', async () => {
    const { r, ev } = await evidenceOf('checkout');
    expect(ev.verdict).toBe('spike');
    expect(ev.baseline).toBe('hour');
    expect(ev.totalNow).toBeCloseTo(36, 6);
    expect(ev.totalHourAgo).toBeCloseTo(16, 6);
    expect(ev.totalDayAgo).toBeCloseTo(16, 6);
    expect(ev.ratio).toBeCloseTo(2.25, 6);
    expect([ev.spikeRatio, ev.dropRatio]).toEqual([1.5, 0.5]);
    expect(ev.endpoints.map((e) => e.endpoint)).toEqual(['/api/orders', '/api/users', '/health']);
    const orders = ev.endpoints[0]!;
    expect(orders.now).toBeCloseTo(30, 6);
    expect(orders.hourAgo).toBeCloseTo(10, 6);
    expect(orders.dayAgo).toBeCloseTo(10, 6);
    expect(orders.ratio).toBeCloseTo(3, 6);
    expect(ev.endpoints[1]!.ratio).toBeCloseTo(1, 6);
    expect(ev.topMovers).toEqual(['/api/orders']);

    const table = r.sections.find((s): s is TableSection => s.type === 'table')!;
    expect(table.columns).toEqual(['endpoint', 'now', '1h ago', '1d ago', 'ratio']);
    expect(table.rows[0]).toEqual(['/api/orders', '30.00', '10.00', '10.00', '3.00x']);
    expect(r.summary).toBe('spike: 36.00 req/s now vs 16.00 an hour ago (2.25x); top movers: /api/orders');
    expect(r.queries!.map((q) => q.query)).toEqual([
      'sum by (endpoint) (rate(http_requests_total{service="checkout"}[5m]))',
      'sum by (endpoint) (rate(http_requests_total{service="checkout"}[5m] offset 1h))',
      'sum by (endpoint) (rate(http_requests_total{service="checkout"}[5m] offset 1d))',
    ]);
    expect(r.queries!.every((q) => q.source === 'prometheus' && q.start && q.end)).toBe(true);
  });

  test('drop, normal, a day-ago baseline, and unknown without any baseline', async () => {
    const billing = (await evidenceOf('billing')).ev;
    expect([billing.verdict, billing.baseline]).toEqual(['drop', 'hour']);
    expect(billing.ratio).toBeCloseTo(0.2, 6);
    expect(billing.topMovers).toEqual(['/api/invoices']);

    const search = (await evidenceOf('search')).ev;
    expect(search.verdict).toBe('normal');
    expect(search.ratio).toBeCloseTo(1.25, 6);

    const nightly = (await evidenceOf('nightly')).ev;
    expect([nightly.verdict, nightly.baseline, nightly.totalHourAgo]).toEqual(['normal', 'day', null]);
    expect(nightly.ratio).toBeCloseTo(1.2, 6);
    expect(nightly.endpoints[0]).toEqual(expect.objectContaining({ endpoint: '/batch', hourAgo: null }));

    const { r, ev } = await evidenceOf('newsvc');
    expect(ev).toEqual(expect.objectContaining({ verdict: 'unknown', ratio: null, baseline: null, totalHourAgo: null, totalDayAgo: null }));
    expect(ev.totalNow).toBeCloseTo(3, 6);
    expect(r.summary).toMatch(/no baseline/);
  });

  test('thresholds, metric labels and window are configurable', async () => {
    // A 1.25x rise is a spike at a 1.2 threshold.
    expect((await evidenceOf('search', { copyLabels: ['service'], spikeRatio: 1.2 })).ev.verdict).toBe('spike');
    // Grouped by service over every series, rate over 2m: five "endpoints".
    const { ev } = await evidenceOf(null, { endpointLabel: 'service', rateWindow: '2m', matchers: [{ name: 'code', value: '200' }] });
    expect(ev.endpoints.map((e) => e.endpoint).sort()).toEqual(['billing', 'checkout', 'newsvc', 'nightly', 'search']);
    expect(ev.topMovers[0]).toBe('checkout');
    expect(ev.endpoints.find((e) => e.endpoint === 'billing')!.now).toBeCloseTo(4, 6);
    // Nothing matches: unknown, not a failure.
    const none = await evidenceOf('checkout', { copyLabels: ['service'], metric: 'nope_total' });
    expect(none.ev.verdict).toBe('unknown');
    expect(none.r.summary).toMatch(/^no request metrics found/);
  });

  test('copied labels: from the firing alerts only; with alerts left out by Alertmanager, only grouped-by labels restrict the query', async () => {
    const g = alertGroup([
      { labels: { alertname: 'db_pool_exhausted', service: 'checkout' } },
      { labels: { alertname: 'db_pool_exhausted', service: 'search' } },
    ]);
    g.alerts[1]!.status = 'resolved';
    const run = (group: typeof g) =>
      enricher({ copyLabels: ['service'] }).enrich({ group, signal: AbortSignal.timeout(10_000), logger: capturingLogger().logger, now: new Date() });
    // the resolved alert's service does not widen the query
    expect((await run(g)).queries![0]!.query).toContain('{service="checkout"}');
    const truncated = await run({ ...g, truncatedAlerts: 2, groupLabels: { alertname: 'db_pool_exhausted' } });
    expect(truncated.queries![0]!.query).not.toContain('service=');
    expect(JSON.stringify(truncated.sections)).toContain(
      "Alertmanager left 2 alerts of this group out of the notification, so the queries are not restricted to the listed alerts' `service`",
    );
  });

  test('the verdict function at its edges', () => {
    expect(trafficVerdict(1.5, 1.5, 0.5)).toBe('spike');
    expect(trafficVerdict(0.5, 1.5, 0.5)).toBe('drop');
    expect(trafficVerdict(1.49, 1.5, 0.5)).toBe('normal');
    expect(trafficVerdict(null, 1.5, 0.5)).toBe('unknown');
  });
});

describe('traffic enricher when Prometheus fails (through runEnrichers)', () => {
  const run = async (url: string, clientTimeoutMs = 5_000) => {
    const e = createTrafficEnricher(settingsSchema.parse({}), { prometheus: createPrometheusClient({ url, timeoutMs: clientTimeoutMs }) });
    const t0 = Date.now();
    const [out] = await runEnrichers(
      [e],
      { group: ctx('checkout').group, logger: capturingLogger().logger, now: new Date() },
      { budgetMs: 2_000, defaultTimeoutMs: 1_000 },
    );
    return { out: out!, took: Date.now() - t0 };
  };
  test('down: error', async () => {
    const { out, took } = await run(await closedPortUrl());
    expect([out.status, out.error]).toEqual(['error', 'prometheus unreachable: ECONNREFUSED']);
    expect(took).toBeLessThan(1_000);
  });
  test('slow: timeout within the enricher’s budget (the pipeline default, 1 s)', async () => {
    const s = await startHangingServer();
    stubs.push(s);
    const { out, took } = await run(s.url, 30_000);
    expect([out.status, out.error]).toEqual(['timeout', 'timeout after 1000 ms']);
    expect(took).toBeLessThan(1_600);
  });
  test('a proxy error page: error with the status', async () => {
    const s = await startCannedServer((_q, res) => res.writeHead(503, { 'Content-Type': 'text/html' }).end('<h1>Service Unavailable</h1>'));
    stubs.push(s);
    const { out } = await run(s.url);
    expect(out.status).toBe('error');
    expect(out.error).toMatch(/HTTP 503/);
  });
  test('skipped where sources.prometheus is not configured', async () => {
    const deps: EnricherDeps = { clients: createSourceClients(sourcesConfigSchema.parse({})), history: { runsOf: () => [] } };
    const [out] = await runEnrichers(
      [trafficModule.create(settingsSchema.parse({}), deps)],
      { group: ctx('x').group, logger: capturingLogger().logger, now: new Date() },
      { budgetMs: 1_000, defaultTimeoutMs: 1_000 },
    );
    expect([out!.status, out!.error]).toEqual(['skipped', 'sources.prometheus is not configured']);
  });
});
