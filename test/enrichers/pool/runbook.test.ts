import type { FieldsSection, SeriesSection, TableSection, TextSection } from '../../../src/core/diagnostic';
import type { EnricherDeps } from '../../../src/enrichers';
import { createPoolEnricher, poolModule } from '../../../src/enrichers/pool/enricher';
import type { PoolEvidence } from '../../../src/core/evidence';
import { settingsSchema } from '../../../src/enrichers/pool/settings';
import { slopePerMinute } from '../../../src/enrichers/pool/trend';
import { runEnrichers } from '../../../src/pipeline/enrich';
import { createSourceClients } from '../../../src/sources';
import { sourcesConfigSchema } from '../../../src/sources/config';
import { createPrometheusClient } from '../../../src/sources/prometheus';
import { capturingLogger } from '../../support/capture';
import { alertGroup } from '../../support/groups';
import { closedPortUrl, startCannedServer, startHangingServer, type StubServer } from '../../support/http-stubs';
import { counterAt, startMetricsTarget, type MetricsTarget } from '../../support/metrics-target';
import { startPrometheus, type PrometheusServer } from '../../support/prometheus';

const MIN = 60_000;
const STEP = 15_000;
const METRIC = 'db_connection_pool_size';

/*
 * The runbook's naming, backfilled for 40 minutes before T0 every 15 s and served live after it:
 * service "checkout", pods api-1 and api-2 with 10 connections each. api-2 sits at 10 in use.
 * api-1 has 5 in use until T0-20m, then leaks one connection every 4 minutes (reaching 10 at T0),
 * so it has fewer than 2 available from T0-4m (9 in use). A second service, "billing", has its own
 * quiet pool: another pool, never added to checkout's.
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
const evidenceOf = (r: { evidence: Record<string, unknown> }) => r.evidence as unknown as PoolEvidence;

describe('pool enricher, the runbook’s naming, against the real Prometheus', () => {
  test('settings: parsing {} gives the defaults (discovery, the runbook’s names)', () => {
    expect(settingsSchema.parse({})).toEqual({
      preset: 'auto',
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
    expect(settingsSchema.safeParse({ metric: '' }).success).toBe(false);
    expect(settingsSchema.safeParse({ preset: 'c3p0' }).success).toBe(false);
    expect(settingsSchema.safeParse({ copyLabels: ['service.name'] }).success).toBe(true);
    expect(settingsSchema.safeParse({ mapping: { inUse: '' } }).success).toBe(false);
    expect(settingsSchema.safeParse({ mapping: { active: 'x' } }).success).toBe(false);
    expect(settingsSchema.safeParse({ windowMinuts: 30 }).success).toBe(false);
  });

  test('at the alert’s time: the pool per instance, onset of saturation, climbing trend, hold time and timeouts', async () => {
    const settings = settingsSchema.parse({
      copyLabels: ['service'],
      holdTimeQuery: 'avg(db_pool_hold_seconds{service="checkout"})',
      waitingQuery: 'sum(rate(db_pool_wait_timeouts_total{service="checkout"}[1m]))',
    });
    const alertAt = T0 - 2 * MIN;
    const now = new Date();
    const r = await createPoolEnricher(settings, { prometheus: client() }).enrich(ctx(alertAt, now));
    const ev = evidenceOf(r);

    expect(ev.layout!.id).toBe('runbook');
    // At T0-2m api-1 has 9 of 10 in use, api-2 10 of 10; the "pending" state is not a state the layout reads.
    expect({ active: ev.active, idle: ev.idle, total: ev.total, available: ev.available }).toEqual({ active: 19, idle: 1, total: 20, available: 1 });
    expect(ev.utilization).toBeCloseTo(0.95, 10);
    expect(ev.saturatedPools).toEqual(['checkout']);
    expect(ev.perInstance).toEqual([
      { instance: 'api-2', active: 10, idle: 0, total: 10, available: 0, utilization: 1 },
      { instance: 'api-1', active: 9, idle: 1, total: 10, available: 1, utilization: 0.9 },
    ]);
    const [api2, api1] = ev.pools[0]!.instances;
    // api-2 had none available all window; api-1 went below 2 at T0-4m: the first 15 s step at or after it.
    expect(Date.parse(api2!.saturatedSince!)).toBeLessThan(now.getTime() - 29 * MIN);
    const onset = Date.parse(api1!.saturatedSince!);
    expect(onset).toBeGreaterThanOrEqual(T0 - 4 * MIN);
    expect(onset).toBeLessThan(T0 - 4 * MIN + STEP);
    expect(ev.saturatedSince).toBe(api2!.saturatedSince);
    // One connection per 4 minutes over the last 10 minutes: about +0.25/min.
    expect(ev.activeTrend).toBe('climbing');
    expect(ev.activeSlopePerMinute!).toBeGreaterThan(0.15);
    expect(ev.activeSlopePerMinute!).toBeLessThan(0.45);
    expect(ev.windowMinutes).toBe(30);
    expect(ev.meanHoldSeconds).toBe(2.5);
    expect(ev.timeoutsPerSecond).toBeCloseTo(0.5, 6);
    expect(ev.waitingClients).toBeCloseTo(0.5, 6);

    const fields = r.sections.find((s): s is FieldsSection => s.type === 'fields')!;
    expect(fields.fields).toEqual(
      expect.arrayContaining([
        { label: 'In use', value: '19' },
        { label: 'Available', value: '1' },
        { label: 'Utilization', value: '95.0%' },
      ]),
    );
    const table = r.sections.find((s): s is TableSection => s.type === 'table')!;
    expect(table.columns[1]).toBe('pod');
    expect(table.rows.map((row) => row.slice(0, 2))).toEqual([
      ['checkout', 'api-2'],
      ['checkout', 'api-1'],
    ]);
    const series = r.sections.find((s): s is SeriesSection => s.type === 'series')!;
    expect(series.series.map((s) => s.name)).toEqual(['in use', 'limit']);
    const inUse = series.series[0]!.points;
    expect(inUse.length).toBeGreaterThanOrEqual(115);
    expect(inUse[0]![0]).toBeGreaterThanOrEqual(now.getTime() - 30 * MIN);
    // The window starts after T0-20m+... : the chart shows the climb from 15 to 20.
    expect(inUse.find(([t]) => t < T0 - 21 * MIN)![1]).toBe(15);
    expect(inUse.at(-1)![1]).toBe(20);
    expect(series.series[1]!.points.every(([, v]) => v === 20)).toBe(true);

    expect(r.queries!.map((q) => q.query)).toEqual([
      '{__name__=~"db_connection_pool_size|hikaricp_connections_active|hikaricp_connections_pending|hikaricp_connections_max|hikaricp_connections_idle|hikaricp_connections_timeout_total|hikaricp_connections_usage_seconds_count|hikaricp_active_connections|hikaricp_pending_threads|hikaricp_max_connections|hikaricp_idle_connections|hikaricp_connection_timeout_total|hikaricp_connection_usage_millis_count|db_client_connection_count|db_client_connection_pending_requests|db_client_connection_max|db_client_connection_timeouts_total|db_client_connection_timeouts|db_client_connection_use_time_seconds_count|db_client_connection_use_time_count|db_client_connections_usage|db_client_connections_pending_requests|db_client_connections_max|db_client_connections_timeouts_total|db_client_connections_timeouts|db_client_connections_use_time_milliseconds_count|db_client_connections_use_time_count|db\\\\.client\\\\.connection\\\\.count|db\\\\.client\\\\.connection\\\\.pending_requests|db\\\\.client\\\\.connection\\\\.max|db\\\\.client\\\\.connection\\\\.timeouts_total|db\\\\.client\\\\.connection\\\\.timeouts|db\\\\.client\\\\.connection\\\\.use_time_seconds_count|db\\\\.client\\\\.connection\\\\.use_time_count|go_sql_in_use_connections|go_sql_wait_duration_seconds_total|go_sql_max_open_connections|go_sql_idle_connections|pgbouncer_pools_server_active_connections|pgbouncer_pools_client_waiting_connections|pgbouncer_databases_pool_size|pgbouncer_pools_server_idle_connections",service="checkout"}',
      'db_connection_pool_size{state="active",service="checkout"}',
      'db_connection_pool_size{state="idle",service="checkout"}',
      'db_connection_pool_size{state="total",service="checkout"}',
      settings.waitingQuery,
      settings.holdTimeQuery,
    ]);
    for (const q of r.queries!) expect(Date.parse(q.end!) - Date.parse(q.start!)).toBe(30 * MIN);
    expect(r.summary).toMatch(/^checkout saturated: 19\/20 in use \(95\.0%\), 0\.500\/s acquire timeouts; since .*; in use climbing \(\+0\.\d\d\/min\)$/);
  });

  test('$matchers in holdTimeQuery and waitingQuery restricts them to the alert’s pool too', async () => {
    const settings = settingsSchema.parse({
      copyLabels: ['service'],
      matchers: [{ name: 'pod', op: '!=', value: 'api-9' }],
      holdTimeQuery: 'avg(db_pool_hold_seconds{$matchers})',
      waitingQuery: 'sum(rate(db_pool_wait_timeouts_total{$matchers}[1m]))',
    });
    const r = await createPoolEnricher(settings, { prometheus: client() }).enrich(ctx(T0 - 2 * MIN));
    const ev = evidenceOf(r);
    // The aggregation keeps each pod apart: checkout's pods hold 2 and 3 s (mean 2.5), time out 0.5/s; billing's 9 s and 4/s are another pool.
    expect(ev.meanHoldSeconds).toBe(2.5);
    expect(ev.timeoutsPerSecond).toBeCloseTo(0.5, 6);
    expect(r.queries!.map((q) => q.query).slice(4)).toEqual([
      'sum(rate(db_pool_wait_timeouts_total{pod!="api-9",service="checkout"}[1m]))',
      'avg(db_pool_hold_seconds{pod!="api-9",service="checkout"})',
    ]);
  });

  test('without copyLabels the other service’s pool is a pool of its own: named, never added to the saturated one', async () => {
    const r = await createPoolEnricher(settingsSchema.parse({ holdTimeQuery: 'db_pool_hold_seconds{$matchers}' }), { prometheus: client() }).enrich(
      ctx(T0 - 2 * MIN),
    );
    const ev = evidenceOf(r);
    expect(ev.pools.map((p) => [p.name, p.inUse, p.limit, p.saturated, p.holdSeconds])).toEqual([
      ['checkout', 19, 20, true, 2.5],
      ['billing', 1, 10, false, 9],
    ]);
    expect([ev.active, ev.total, ev.meanHoldSeconds]).toEqual([19, 20, 2.5]);
    // An extra matcher from config restricts again.
    const r2 = await createPoolEnricher(settingsSchema.parse({ matchers: [{ name: 'service', op: '!=', value: 'checkout' }] }), {
      prometheus: client(),
    }).enrich(ctx(T0 - 2 * MIN));
    expect(evidenceOf(r2).pools.map((p) => p.name)).toEqual(['billing']);
    expect(evidenceOf(r2).saturated).toBe(false);
    expect(r2.summary).toMatch(/^1 pool, none saturated: 1\/10 in use/);
  });

  test('a count aggregated past the pools’ labels is given to no pool, and that is a line', async () => {
    const r = await createPoolEnricher(settingsSchema.parse({ waitingQuery: 'sum(rate(db_pool_wait_timeouts_total{$matchers}[1m]))' }), {
      prometheus: client(),
    }).enrich(ctx(T0 - 2 * MIN));
    const ev = evidenceOf(r);
    expect(ev.pools.map((p) => [p.name, p.timeoutsPerSecond])).toEqual([
      ['checkout', null],
      ['billing', null],
    ]);
    const notes = (r.sections.find((s): s is TextSection => s.type === 'text' && s.title === 'Notes')?.text ?? '').split('\n');
    expect(notes).toContain(
      "4.500/s acquire timeouts for {} covers several of the 2 pools, so it is given to none: aggregate the mapping's expression by the pool's labels (enrichers.pool.poolLabels, instanceLabels).",
    );
  });

  test('an alert older than the window is evaluated now, from the live target', async () => {
    // The pool recovers: api-1 releases 6 connections. Wait until Prometheus has scraped that.
    target.set(METRIC, { service: 'checkout', pod: 'api-1', state: 'active' }, 4);
    target.set(METRIC, { service: 'checkout', pod: 'api-1', state: 'idle' }, 6);
    await prom.waitForData(`${METRIC}{pod="api-1",state="active"} == 4`);
    const r = await createPoolEnricher(settingsSchema.parse({ copyLabels: ['service'] }), { prometheus: client() }).enrich(ctx(Date.now() - 3 * 3_600_000));
    const ev = evidenceOf(r);
    expect(ev.pools[0]!.instances.find((p) => p.instance === 'api-1')).toEqual(
      expect.objectContaining({ inUse: 4, idle: 6, limit: 10, available: 6, utilization: 0.4, saturated: false }),
    );
    // api-2 is still full: the pool is saturated on api-2 only, and the numbers are the pool's.
    expect(ev.pools[0]!.saturatedInstances).toEqual(['api-2']);
    expect({ active: ev.active, idle: ev.idle, total: ev.total, available: ev.available, utilization: ev.utilization }).toEqual({
      active: 14,
      idle: 6,
      total: 20,
      available: 6,
      utilization: 0.7,
    });
    expect(r.sections[0]).toEqual(expect.objectContaining({ title: expect.stringMatching(/^Connection pool now/) }));
  });

  test('no matching series: ok, the section says what was looked for and which keys fix it', async () => {
    const r = await createPoolEnricher(settingsSchema.parse({ metric: 'no_such_pool_metric', preset: 'runbook' }), { prometheus: client() }).enrich(
      ctx(T0 - 2 * MIN),
    );
    const ev = evidenceOf(r);
    expect(ev).toEqual(
      expect.objectContaining({ layout: null, pools: [], saturated: null, active: null, total: null, perInstance: [], activeTrend: 'unknown' }),
    );
    expect(r.summary).toBe('no pool metrics found (looked for 1 metric names)');
    expect((r.sections[0] as TextSection).text).toMatch(/^No pool metrics found: looked for `no_such_pool_metric` \(preset runbook\)/);
  });

  test('hostile alert label values are escaped into every query and select nothing else', async () => {
    const labels = { alertname: 'db_pool_exhausted', service: 'checkout"} or vector(1) or x{a="' };
    const c = {
      group: alertGroup([{ labels, startsAt: new Date(T0 - 2 * MIN).toISOString() }]),
      signal: AbortSignal.timeout(10_000),
      logger: capturingLogger().logger,
      now: new Date(),
    };
    const r = await createPoolEnricher(settingsSchema.parse({ copyLabels: ['service'] }), { prometheus: client() }).enrich(c);
    expect(evidenceOf(r).pools).toEqual([]);
    expect(r.queries![0]!.query).toContain('service="checkout\\"} or vector(1) or x{a=\\""');
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
        [60_000, 5],
      ]),
    ).toBeNull();
    expect(
      slopePerMinute([
        [0, 5],
        [60_000, NaN],
        [120_000, 5],
        [180_000, 5],
      ]),
    ).toBe(0);
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

  test('Prometheus rejects the lookup (bad regex from config): error with bad_data', async () => {
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
