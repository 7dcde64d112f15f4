/**
 * End to end, connection leak, with the backend's pool exported as a real pool library does
 * (--pool-metrics): HikariCP through Micrometer, OpenTelemetry's db.client.connection.*, Go's
 * database/sql collector and pgbouncer_exporter. The
 * receiver runs with deploy's settings (enrichers.pool.preset: auto): it finds the layout itself,
 * reads the pool from it, names the saturated pool in the leak's evidence, and charts it.
 */
import type { PoolEvidence } from '../../src/core/evidence';
import { chartsInThread, expectOneDiagnostic, startStack, type Stack } from './stack';

describe.each([
  { poolMetrics: 'hikaricp' as const, layout: 'hikaricp-micrometer', pool: 'HikariPool-1' },
  { poolMetrics: 'otel' as const, layout: 'otel', pool: 'demo-backend' },
  { poolMetrics: 'go-sql' as const, layout: 'go-sql', pool: 'app' },
  { poolMetrics: 'pgbouncer' as const, layout: 'pgbouncer', pool: 'app/app' },
])('leak with the pool exported as $poolMetrics', ({ poolMetrics, layout, pool }) => {
  let stack: Stack;
  // The first start may build dist/ and .demo-dist/ (scripts/ensure-build.mjs) before anything runs.
  beforeAll(async () => {
    stack = await startStack({ chart: true, poolMetrics });
  }, 120_000);
  afterAll(() => stack?.stop(), 60_000);

  test('connection_leak first; the pool found by discovery, read from its layout, named, charted', async () => {
    await stack.induce('leak');
    const got = await stack.waitForDiagnostic();
    const d = expectOneDiagnostic(got, 'connection_leak');
    const e = d.enrichments.find((x) => x.enricher === 'pool')!;
    expect(e.status).toBe('ok');
    const ev = e.evidence as unknown as PoolEvidence;
    expect(ev.layout!.id).toBe(layout);
    expect(ev.present).toEqual([layout]);
    expect(ev.saturatedPools).toEqual([pool]);
    expect(ev.total).toBe(10);
    expect(ev.available).toBeLessThan(2);
    // The onset comes from the layout's series over the window (a range query). The trend needs more
    // history than this run has; test/enrichers/pool/presets.test.ts reads it from backfilled series.
    expect(ev.saturatedSince).not.toBeNull();
    expect(d.causes[0]!.evidence.join('\n')).toContain(`pool ${pool}: `);
    // The chart of the saturated pool's series is in the thread, once.
    const files = await chartsInThread(stack, got);
    expect(files).toHaveLength(1);
  }, 90_000);
});
