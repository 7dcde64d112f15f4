import { createConsoleNotifier, renderText } from '../../src/notifiers/console';
import { buildMessageModel, describeChanges, snapshotOf } from '../../src/notifiers/message';
import { textSink } from '../support/capture';
import { sampleDiagnostic } from './sample';

const LINKS = { grafana: 'http://grafana:3000', grafanaDashboard: 'd/db/database-health', prometheus: 'http://prom:9090' };

describe('console notifier', () => {
  it('prints the same content as Slack, as readable text', () => {
    const text = renderText(sampleDiagnostic(), LINKS);
    const lines = text.split('\n');
    expect(lines[1]).toBe('FIRING db_pool_exhausted (critical)  (run run-1, webhook, 2000 ms)');
    expect(lines[2]).toBe('DB connection pool nearly exhausted');
    expect(text).toContain('Most likely: Connection leak (82% confidence)');
    expect(text).toContain('  1. Connection leak [connection_leak] 82%\n       - active climbs steadily while traffic is flat');
    expect(text).toContain('  2. Slow queries [slow_queries] 31%');
    expect(text).toContain('Suggested actions (not executed):\n  > Restart the leaking instance');
    expect(text).toContain('[pool] OK 120 ms: 19 of 20 connections active, climbing 0.6/min');
    expect(text).toContain('    active: 19');
    expect(text).toMatch(/ {4}pid +application +idle for +query\n {4}4242 +api +6m 10s +UPDATE orders/);
    expect(text).toContain('    | ERROR pool timeout after 30000ms');
    expect(text).toContain('    active: 31 points, last 19');
    expect(text).toContain('[traffic] TIMEOUT timed out after 3000 ms: timeout after 3000 ms');
    expect(text).toContain('[related_alerts] SKIPPED skipped: alertmanager not configured');
    expect(text).toContain('  Runbook: https://runbooks.example.com/db-pool');
    expect(text).toMatch(/ {2}Grafana dashboard: http:\/\/grafana:3000\/d\/db\/database-health\?from=\d+&to=\d+/);
    expect(text).toContain('  Prometheus (pool): sum(db_connection_pool_size{state="active"}): http://prom:9090/graph?g0.expr=sum%28db_connection_pool_size');
    expect(text).toContain('  Silence in Alertmanager: http://vm:19093/#/silences/new?filter=');
    expect(text).not.toMatch(/[*`]/); // no Slack markup in the terminal
  });

  it('says so when nothing stands out, and writes to its output', async () => {
    const sink = textSink();
    const n = createConsoleNotifier({ out: sink.out });
    const d = sampleDiagnostic({ causes: [], status: 'resolved' });
    await expect(n.notify(d, {} as never)).resolves.toBe('written to stdout');
    expect(sink.text()).toContain('RESOLVED db_pool_exhausted (critical)');
    expect(sink.text()).toContain('Likely causes: nothing stands out in the evidence.');
  });

  it('the model: Grafana range around the alert and what changed between runs', () => {
    const d = sampleDiagnostic();
    const m = buildMessageModel(d, LINKS);
    const grafana = new URL(m.links.find((l) => l.kind === 'grafana')!.url);
    expect(Number(grafana.searchParams.get('from'))).toBe(Date.parse(d.alert!.startsAt) - 30 * 60_000);
    expect(Number(grafana.searchParams.get('to'))).toBe(Date.parse(d.finishedAt) + 10 * 60_000);
    const before = snapshotOf(m, d);
    const d2 = sampleDiagnostic({
      id: 'run-2',
      causes: [
        { ...d.causes[0]!, confidence: 0.6 },
        { id: 'traffic_spike', title: 'Traffic spike', confidence: 0.4, evidence: [], actions: [] },
      ],
    });
    const after = snapshotOf(buildMessageModel(d2), d2);
    expect(describeChanges(before, after)).toEqual([
      'Connection leak: 82% → 60%',
      'New cause: Traffic spike (40%)',
      'No longer suspected: Slow queries (was 31%)',
    ]);
  });
});
