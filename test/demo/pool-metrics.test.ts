import { Registry } from 'prom-client';
import { POOL_METRICS, registerPoolMetrics } from '../../demo/backend/pool-metrics';
import { parseDemoArgs } from '../../demo/run';
import { allLayouts } from '../../src/enrichers/pool/layouts';

/** The demo backend's pool in each layout: what pagefirst's discovery looks for, and nothing of another layout. */
describe('demo backend --pool-metrics', () => {
  const layouts = allLayouts({ metric: 'db_connection_pool_size', stateLabel: 'state', states: { active: 'active', idle: 'idle', total: 'total' } });
  const expected: Record<(typeof POOL_METRICS)[number], string> = {
    runbook: 'runbook',
    hikaricp: 'hikaricp-micrometer',
    otel: 'otel',
    'go-sql': 'go-sql',
    pgbouncer: 'pgbouncer',
  };

  test.each(POOL_METRICS.map((m) => [m]))('%s: the layout pagefirst reads, with its pool named and the pool’s numbers', async (m) => {
    const registry = new Registry();
    const pool = { totalCount: 10, idleCount: 1, waitingCount: 4 };
    const instruments = registerPoolMetrics(m, registry, pool, 10);
    instruments.hold(0.25);
    instruments.acquired(0.5, true);
    instruments.acquireTimeout();
    const text = await registry.metrics();
    const names = new Set(
      text
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => l.split(/[{ ]/)[0]!),
    );
    const present = layouts.filter((l) => names.has(l.names[0]!)).map((l) => l.id);
    expect(present).toEqual([expected[m]]);
    const layout = layouts.find((l) => l.id === expected[m])!;
    // every name the layout's discovery lists that the demo exports exists, and in use is 9 (10 open, 1 idle)
    const inUseLine = text.split('\n').find((l) => l.startsWith(layout.names[0]!) && !l.includes('idle"'));
    expect(inUseLine).toBeDefined();
    if (m !== 'runbook') expect(inUseLine).toMatch(/ 9$/);
    // the pool is named by the layout's pool labels (any of them: OpenTelemetry has two spellings)
    if (layout.poolLabels.length) expect(layout.poolLabels.filter((l) => text.includes(`${l}="`))).not.toEqual([]);
  });

  test('npm run demo -- --pool-metrics NAME passes the layout on; an unknown one is refused by name', () => {
    expect(parseDemoArgs(['--pool-metrics', 'otel'])).toEqual(expect.objectContaining({ poolMetrics: 'otel', scenario: 'leak' }));
    expect(parseDemoArgs([])).toEqual(expect.objectContaining({ poolMetrics: 'runbook' }));
    expect(() => parseDemoArgs(['--pool-metrics=c3p0'])).toThrow('--pool-metrics must be one of runbook, hikaricp, otel, go-sql, pgbouncer (got c3p0)');
  });
});
