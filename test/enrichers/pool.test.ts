import type { PoolEvidence } from '../../src/core/evidence';
import type { SeriesSection, TableSection, FieldsSection } from '../../src/core/diagnostic';
import type { EnricherDeps } from '../../src/enrichers';
import { createPoolEnricher, poolModule, settingsSchema, slopePerMinute } from '../../src/enrichers/pool';
import { configSchema } from '../../src/config/schema';
import { compileRoutes } from '../../src/pipeline/compile';
import { runEnrichers } from '../../src/pipeline/enrich';
import { createSourceClients } from '../../src/sources';
import { sourcesConfigSchema } from '../../src/sources/config';
import { createPrometheusClient } from '../../src/sources/prometheus';
import { capturingLogger } from '../support/capture';
import { alertGroup } from '../support/groups';
import { closedPortUrl, startCannedServer, startHangingServer, type StubServer } from '../support/http-stubs';
import { counterAt, startMetricsTarget, type MetricsTarget } from '../support/metrics-target';
import { startPrometheus, type PrometheusServer } from '../support/prometheus';

const MIN = 60_000;
const STEP = 15_000;
const METRIC = 'db_connection_pool_size';

/*
 * The scenario, backfilled for 40 minutes before T0 every 15 s and served live after it:
 * service "checkout", pods api-1 and api-2 with 10 connections each. api-2 sits at 10 active.
 * api-1 has 5 active until T0-20m, then leaks one connection every 4 minutes (reaching 10 at T0).
 * So the pool's available connections (20 - active) drop below 2 exactly at T0-4m, when api-1
 * reaches 9. A second service, "billing", has its own quiet pool that must not be counted.
 */
let T0: number;
const api1Active = (t: number) => (t < T0 - 20 * MIN ? 5 : Math.min(10, 5 + Math.floor((t - (T0 - 20 * MIN)) / (4 * MIN))));

let target: MetricsTarget;
let prom: PrometheusServer;
const stubs: StubServer[] = [];

beforeAll(async () => {
  T0 = Math.floor(Date.now() / STEP) * STEP;
  target = await startMetricsTarget();
  const checkout = { service: 'checkout' };
  target.set(METRIC, { ...checkout, pod: 'api-1', state: 'active' }, api1Active);
  target.set(METRIC, { ...checkout, pod: 'api-1', state: 'idle' }, (t) => 10 - api1Active(t));
  target.set(METRIC, { ...checkout, pod: 'api-1', state: 'total' }, 10);
  target.set(METRIC, { ...checkout, pod: 'api-2', state: 'active' }, 10);
  target.set(METRIC, { ...checkout, pod: 'api-2', state: 'idle' }, 0);
  target.set(METRIC, { ...checkout, pod: 'api-2', state: 'total' }, 10);
  target.set(METRIC, { ...checkout, pod: 'api-2', state: 'pending' }, 77);
  target.set(METRIC, { service: 'billing', pod: 'bill-1', state: 'active' }, 1);
  target.set(METRIC, { service: 'billing', pod: 'bill-1', state: 'idle' }, 9);
  target.set(METRIC, { service: 'billing', pod: 'bill-1', state: 'total' }, 10);
  target.set('db_pool_hold_seconds', { ...checkout, pod: 'api-1' }, 2);
  target.set('db_pool_hold_seconds', { ...checkout, pod: 'api-2' }, 3);
  target.set('db_pool_hold_seconds', { service: 'billing', pod: 'bill-1' }, 9);
  target.set('db_pool_wait_timeouts_total', { service: 'billing', pod: 'bill-1' }, counterAt(0, 4, T0 - 40 * MIN));
  target.set('db_pool_wait_timeouts_total', { ...checkout, pod: 'api-2' }, counterAt(0, 0.5, T0 - 40 * MIN));
  prom = await startPrometheus({ target, backfill: [{ from: T0 - 40 * MIN, to: T0, stepMs: STEP }] });
});
afterAll(async () => {
  await prom?.stop();
  await target?.close();
  await Promise.all(stubs.map((s) => s.close()));
});

const group = (startsAt: number, labels: Record<string, string> = { alertname: 'db_pool_exhausted', service: 'checkout', severity: 'page' }) =>
  alertGroup([{ labels, startsAt: new Date(startsAt).toISOString() }]);
const ctx = (startsAt: number, now = new Date()) => ({ group: group(startsAt), signal: AbortSignal.timeout(10_000), logger: capturingLogger().logger, now });
const client = () => createPrometheusClient({ url: prom.url, timeoutMs: 5_000 });

describe('pool enricher against the real Prometheus', () => {
  test('settings: parsing {} gives the runbook defaults', () => {
    expect(settingsSchema.parse({})).toEqual({
      metric: 'db_connection_pool_size',
      stateLabel: 'state',
      states: { active: 'active', idle: 'idle', total: 'total' },
      matchers: [],
      copyLabels: [],
      instanceLabels: ['pod', 'instance'],
      windowMinutes: 30,
      trendMinutes: 10,
      availableThreshold: 2,
      flatSlopePerMinute: 0.1,
      holdTimeQuery: null,
      waitingQuery: null,
    });
    expect(settingsSchema.safeParse({ metric: 'bad-metric' }).success).toBe(false);
    expect(settingsSchema.safeParse({ copyLabels: ['not a label'] }).success).toBe(false);
    expect(settingsSchema.safeParse({ windowMinuts: 30 }).success).toBe(false);
  });

  test('at the alert’s time: totals, per instance, onset of saturation, climbing trend, hold time and waits', async () => {
    const settings = settingsSchema.parse({
      copyLabels: ['service'],
      holdTimeQuery: 'avg(db_pool_hold_seconds{service="checkout"})',
      waitingQuery: 'sum(rate(db_pool_wait_timeouts_total{service="checkout"}[1m]))',
    });
    const alertAt = T0 - 2 * MIN;
    const now = new Date();
    const r = await createPoolEnricher(settings, { prometheus: client() }).enrich(ctx(alertAt, now));
    const ev = r.evidence as unknown as PoolEvidence;

    // At T0-2m api-1 has 9 of 10 active, api-2 10 of 10; billing and the "pending" state are not counted.
    expect({ active: ev.active, idle: ev.idle, total: ev.total, available: ev.available }).toEqual({ active: 19, idle: 1, total: 20, available: 1 });
    expect(ev.utilization).toBeCloseTo(0.95, 10);
    expect(ev.perInstance).toEqual([
      { instance: 'api-2', active: 10, idle: 0, total: 10, available: 0, utilization: 1 },
      { instance: 'api-1', active: 9, idle: 1, total: 10, available: 1, utilization: 0.9 },
    ]);

    // Available went below 2 at T0-4m: the first 15 s step at or after it.
    const onset = Date.parse(ev.saturatedSince!);
    expect(onset).toBeGreaterThanOrEqual(T0 - 4 * MIN);
    expect(onset).toBeLessThan(T0 - 4 * MIN + STEP);
    // One connection per 4 minutes over the last 10 minutes: about +0.25/min.
    expect(ev.activeTrend).toBe('climbing');
    expect(ev.activeSlopePerMinute!).toBeGreaterThan(0.15);
    expect(ev.activeSlopePerMinute!).toBeLessThan(0.45);
    expect(ev.windowMinutes).toBe(30);
    expect(ev.meanHoldSeconds).toBe(2.5);
    expect(ev.waitingClients).toBeCloseTo(0.5, 6);
    expect(Object.keys(ev).sort()).toEqual(
      [
        'active',
        'idle',
        'total',
        'available',
        'utilization',
        'perInstance',
        'windowMinutes',
        'saturatedSince',
        'activeSlopePerMinute',
        'activeTrend',
        'meanHoldSeconds',
        'waitingClients',
      ].sort(),
    );

    // Sections: key numbers, a table per instance, the series for the chart.
    const fields = r.sections.find((s): s is FieldsSection => s.type === 'fields')!;
    expect(fields.fields).toEqual(
      expect.arrayContaining([
        { label: 'Active', value: '19' },
        { label: 'Available', value: '1' },
        { label: 'Utilization', value: '95.0%' },
      ]),
    );
    const table = r.sections.find((s): s is TableSection => s.type === 'table')!;
    expect(table.columns[0]).toBe('pod');
    expect(table.rows.map((row) => row[0])).toEqual(['api-2', 'api-1']);
    const series = r.sections.find((s): s is SeriesSection => s.type === 'series')!;
    expect(series.series.map((s) => s.name)).toEqual(['active', 'idle', 'total']);
    const active = series.series[0]!.points;
    expect(active.length).toBeGreaterThanOrEqual(115);
    expect(active[0]![0]).toBeGreaterThanOrEqual(now.getTime() - 30 * MIN);
    // The window starts after T0-20m+... : the chart shows the climb from 15 to 20.
    expect(active.find(([t]) => t < T0 - 21 * MIN)![1]).toBe(15);
    expect(active.at(-1)![1]).toBe(20);
    expect(series.series[2]!.points.every(([, v]) => v === 20)).toBe(true);

    expect(r.queries).toEqual([
      expect.objectContaining({
        source: 'prometheus',
        query: 'sum by (state, pod, instance) (db_connection_pool_size{service="checkout",state=~"active|idle|total"})',
      }),
      expect.objectContaining({ source: 'prometheus', query: 'sum by (state) (db_connection_pool_size{service="checkout",state=~"active|idle|total"})' }),
      expect.objectContaining({ query: settings.holdTimeQuery }),
      expect.objectContaining({ query: settings.waitingQuery }),
    ]);
    for (const q of r.queries!) expect(Date.parse(q.end!) - Date.parse(q.start!)).toBe(30 * MIN);
    expect(r.summary).toMatch(/^19\/20 connections active \(95\.0%\), 1 available; below 2 available since .*; active climbing \(\+0\.\d\d\/min\)$/);
  });

  test('$matchers in holdTimeQuery and waitingQuery restricts them to the alert’s pool too', async () => {
    const settings = settingsSchema.parse({
      copyLabels: ['service'],
      matchers: [{ name: 'pod', op: '!=', value: 'api-9' }],
      holdTimeQuery: 'avg(db_pool_hold_seconds{$matchers})',
      waitingQuery: 'sum(rate(db_pool_wait_timeouts_total{$matchers}[1m]))',
    });
    const r = await createPoolEnricher(settings, { prometheus: client() }).enrich(ctx(T0 - 2 * MIN));
    const ev = r.evidence as unknown as PoolEvidence;
    // checkout's pods only: (2 + 3) / 2 s and 0.5 waits/s; billing's 9 s and 4/s would show otherwise
    expect(ev.meanHoldSeconds).toBe(2.5);
    expect(ev.waitingClients).toBeCloseTo(0.5, 6);
    expect(r.queries!.map((q) => q.query).slice(2)).toEqual([
      'avg(db_pool_hold_seconds{pod!="api-9",service="checkout"})',
      'sum(rate(db_pool_wait_timeouts_total{pod!="api-9",service="checkout"}[1m]))',
    ]);
    // without any matcher it still reads as PromQL: every pool counts
    const all = await createPoolEnricher(settingsSchema.parse({ holdTimeQuery: 'avg(db_pool_hold_seconds{$matchers})' }), { prometheus: client() }).enrich(
      ctx(T0 - 2 * MIN),
    );
    expect((all.evidence as unknown as PoolEvidence).meanHoldSeconds).toBeCloseTo(14 / 3, 9);
    expect(all.queries![2]!.query).toBe('avg(db_pool_hold_seconds{})');
  });

  test('without copyLabels the other service’s pool is counted too (the selector really restricts)', async () => {
    const r = await createPoolEnricher(settingsSchema.parse({}), { prometheus: client() }).enrich(ctx(T0 - 2 * MIN));
    const ev = r.evidence as unknown as PoolEvidence;
    expect([ev.active, ev.total]).toEqual([20, 30]);
    expect(ev.perInstance.map((p) => p.instance).sort()).toEqual(['api-1', 'api-2', 'bill-1']);
    // An extra matcher from config restricts again.
    const r2 = await createPoolEnricher(settingsSchema.parse({ matchers: [{ name: 'service', op: '!=', value: 'checkout' }] }), {
      prometheus: client(),
    }).enrich(ctx(T0 - 2 * MIN));
    expect((r2.evidence as unknown as PoolEvidence).active).toBe(1);
  });

  test('an alert older than the window is evaluated now, from the live target', async () => {
    // The pool recovers: api-1 releases 6 connections. Wait until Prometheus has scraped that.
    target.set(METRIC, { service: 'checkout', pod: 'api-1', state: 'active' }, 4);
    target.set(METRIC, { service: 'checkout', pod: 'api-1', state: 'idle' }, 6);
    await prom.waitForData(`${METRIC}{pod="api-1",state="active"} == 4`);
    const r = await createPoolEnricher(settingsSchema.parse({ copyLabels: ['service'] }), { prometheus: client() }).enrich(ctx(Date.now() - 3 * 3_600_000));
    const ev = r.evidence as unknown as PoolEvidence;
    expect({ active: ev.active, idle: ev.idle, total: ev.total, available: ev.available, utilization: ev.utilization }).toEqual({
      active: 14,
      idle: 6,
      total: 20,
      available: 6,
      utilization: 0.7,
    });
    expect(ev.perInstance.find((p) => p.instance === 'api-1')).toEqual({ instance: 'api-1', active: 4, idle: 6, total: 10, available: 6, utilization: 0.4 });
    // The onset within the window is still reported.
    expect(Math.abs(Date.parse(ev.saturatedSince!) - (T0 - 4 * MIN))).toBeLessThan(STEP);
    expect(r.sections[0]).toEqual(expect.objectContaining({ title: expect.stringMatching(/^Connection pool now/) }));
  });

  test('no matching series: ok with nulls and an unknown trend; a failing optional query is a note, not a failure', async () => {
    const r = await createPoolEnricher(settingsSchema.parse({ metric: 'no_such_pool_metric', waitingQuery: 'sum(' }), { prometheus: client() }).enrich(
      ctx(T0 - 2 * MIN),
    );
    const ev = r.evidence as unknown as PoolEvidence;
    expect(ev).toEqual(
      expect.objectContaining({
        active: null,
        idle: null,
        total: null,
        available: null,
        utilization: null,
        perInstance: [],
        saturatedSince: null,
        activeSlopePerMinute: null,
        activeTrend: 'unknown',
        waitingClients: null,
      }),
    );
    expect(r.summary).toMatch(/^no pool metrics found/);
    expect(JSON.stringify(r.sections)).toMatch(/Waiting query failed: .*bad_data/);
  });

  test('hostile alert label values are escaped into the selector and select nothing else', async () => {
    const labels = { alertname: 'db_pool_exhausted', service: 'checkout"} or vector(1) or x{a="' };
    const c = {
      group: alertGroup([{ labels, startsAt: new Date(T0 - 2 * MIN).toISOString() }]),
      signal: AbortSignal.timeout(10_000),
      logger: capturingLogger().logger,
      now: new Date(),
    };
    const r = await createPoolEnricher(settingsSchema.parse({ copyLabels: ['service'] }), { prometheus: client() }).enrich(c);
    expect((r.evidence as unknown as PoolEvidence).active).toBeNull();
    expect(r.queries![0]!.query).toContain('service="checkout\\"} or vector(1) or x{a=\\""');
  });

  test('configured per route: enrichers.pool defaults merged with a route’s options, through the config schema and compileRoutes', async () => {
    const config = configSchema.parse({
      sources: { prometheus: { url: prom.url, timeoutMs: 3_000 } },
      enrichers: { pool: { windowMinutes: 20, availableThreshold: 1 } },
      routes: [{ match: { alertname: 'db_pool_exhausted' }, enrichers: [{ name: 'pool', options: { copyLabels: ['service'] } }, 'traffic'] }],
    });
    const { routes } = compileRoutes(config, { clients: createSourceClients(config.sources), history: { runsOf: () => [] } });
    const [pool] = routes[0]!.enrichers;
    // Evaluated as of T0 (the end of the backfill): the live target has recovered since (see above).
    const r = await pool!.enrich(ctx(T0 - 2 * MIN, new Date(T0)));
    const ev = r.evidence as unknown as PoolEvidence;
    expect(ev.windowMinutes).toBe(20);
    expect(ev.active).toBe(19);
    // With threshold 1, saturation (available 0) began when api-1 reached 10 at T0.
    expect(Math.abs(Date.parse(ev.saturatedSince!) - T0)).toBeLessThan(STEP);
    expect(r.queries![0]!.query).toContain('service="checkout"');
    const bad = configSchema.safeParse({ routes: [{ enrichers: [{ name: 'pool', options: { metric: 'bad-name', copyLabels: ['a b'] } }] }] });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => i.path.join('.')).sort()).toEqual(['routes.0.enrichers.0.options.copyLabels.0', 'routes.0.enrichers.0.options.metric']);
  });

  test('slopePerMinute is least squares per minute', () => {
    expect(
      slopePerMinute([
        [0, 1],
        [60_000, 2],
        [120_000, 3],
      ]),
    ).toBeCloseTo(1, 10);
    expect(
      slopePerMinute([
        [0, 5],
        [30_000, 5],
        [60_000, 5],
      ]),
    ).toBe(0);
    expect(
      slopePerMinute([
        [0, 1],
        [60_000, 2],
      ]),
    ).toBeNull();
  });
});

describe('pool enricher when Prometheus fails (through runEnrichers)', () => {
  const run = async (url: string, opts: { clientTimeoutMs?: number; enricherTimeoutMs?: number; settings?: object } = {}) => {
    const enricher = createPoolEnricher(settingsSchema.parse({ ...opts.settings, ...(opts.enricherTimeoutMs ? { timeoutMs: opts.enricherTimeoutMs } : {}) }), {
      prometheus: createPrometheusClient({ url, timeoutMs: opts.clientTimeoutMs ?? 5_000 }),
    });
    const t0 = Date.now();
    const [e] = await runEnrichers(
      [enricher],
      { group: group(T0), logger: capturingLogger().logger, now: new Date() },
      { budgetMs: 3_000, defaultTimeoutMs: 2_000 },
    );
    return { e: e!, took: Date.now() - t0 };
  };

  test('down: error, at once', async () => {
    const { e, took } = await run(await closedPortUrl());
    expect(e.status).toBe('error');
    expect(e.error).toMatch(/prometheus unreachable: ECONNREFUSED/);
    expect(took).toBeLessThan(1_000);
  });

  test('slow (never answers): timeout at the client’s deadline', async () => {
    const s = await startHangingServer();
    stubs.push(s);
    const { e, took } = await run(s.url, { clientTimeoutMs: 400 });
    expect(e.status).toBe('timeout');
    expect(e.error).toMatch(/within 400 ms/);
    expect(took).toBeLessThan(1_500);
  });

  test('slow, and the enricher’s own timeout is shorter: timeout at the enricher’s deadline', async () => {
    const s = await startHangingServer();
    stubs.push(s);
    const { e, took } = await run(s.url, { clientTimeoutMs: 10_000, enricherTimeoutMs: 300 });
    expect(e.status).toBe('timeout');
    expect(e.error).toBe('timeout after 300 ms');
    expect(took).toBeLessThan(1_000);
  });

  test('garbage answers: error naming the bad response', async () => {
    const s = await startCannedServer((_req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html>hello</html>'));
    stubs.push(s);
    const { e } = await run(s.url);
    expect(e.status).toBe('error');
    expect(e.error).toMatch(/not a Prometheus API response/);
  });

  test('Prometheus rejects the query (bad regex from config): error with bad_data', async () => {
    const { e } = await run(prom.url, { settings: { matchers: [{ name: 'service', op: '=~', value: '(' }] } });
    expect(e.status).toBe('error');
    expect(e.error).toMatch(/bad_data/);
  });

  test('the registry entry is skipped where sources.prometheus is not configured', async () => {
    const deps: EnricherDeps = { clients: createSourceClients(sourcesConfigSchema.parse({})), history: { runsOf: () => [] } };
    const [e] = await runEnrichers(
      [poolModule.create(settingsSchema.parse({}), deps)],
      { group: group(T0), logger: capturingLogger().logger, now: new Date() },
      { budgetMs: 1_000, defaultTimeoutMs: 1_000 },
    );
    expect([e!.status, e!.error]).toEqual(['skipped', 'sources.prometheus is not configured']);
  });
});
