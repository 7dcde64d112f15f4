import type { Enricher } from '../../src/core/enricher';
import type { PoolEvidenceInput } from '../../src/core/evidence';
import { toAlertGroup, webhookPayloadSchema } from '../../src/alertmanager/payload';
import { slackConfigSchema } from '../../src/slack/config';
import { createSlackNotifier } from '../../src/slack/notifier';
import { SqliteStore } from '../../src/store/sqlite';
import { Store } from '../../src/store/store';
import { FakeSlack, checkMessage } from '../fakes/slack';
import { firingPayload, resolvedPayload } from '../support/fixtures';
import { testPipeline } from '../support/pipeline';

/** A pool enricher that answers like the real one would for a leak: climbing active, a series for the chart. */
function stubPool(): Enricher {
  return {
    name: 'pool',
    async enrich(ctx) {
      const end = Date.parse(ctx.group.alerts[0]!.startsAt);
      const pts = (f: (i: number) => number): Array<[number, number]> => Array.from({ length: 31 }, (_, i) => [end - (30 - i) * 60_000, f(i)]);
      const evidence: PoolEvidenceInput = {
        active: 19,
        idle: 1,
        total: 20,
        available: 1,
        utilization: 0.95,
        perInstance: [],
        windowMinutes: 30,
        saturatedSince: new Date(end - 5 * 60_000).toISOString(),
        activeSlopePerMinute: 0.6,
        activeTrend: 'climbing',
        meanHoldSeconds: null,
        waitingClients: null,
      };
      return {
        summary: '19 of 20 connections active, climbing 0.6/min',
        sections: [
          {
            type: 'fields',
            fields: [
              { label: 'active', value: '19' },
              { label: 'total', value: '20' },
            ],
          },
          {
            type: 'series',
            title: 'Connections',
            series: [
              { name: 'active', points: pts((i) => Math.round(i * 0.6)) },
              { name: 'idle', points: pts((i) => 20 - Math.round(i * 0.6)) },
              { name: 'total', points: pts(() => 20) },
            ],
          },
        ],
        evidence: evidence as unknown as Record<string, unknown>,
        queries: [{ source: 'prometheus', query: 'sum(db_connection_pool_size{state="active"})' }],
      };
    },
  };
}

it('the fixture alert: one threaded diagnostic, one incident summary with a permalink, a chart; the resolve in the same thread', async () => {
  const fake = await FakeSlack.start();
  const store = new Store(':memory:');
  const state = new SqliteStore(store);
  try {
    const config = slackConfigSchema.parse({
      token: fake.token,
      apiUrl: fake.url,
      alertsChannel: 'C0ALERTS',
      incidentChannel: 'C0INCIDENT',
      threadSearchWaitMs: 1_000,
      threadSearchPollMs: 200,
      channelIntervalMs: 100,
      timeoutMs: 2_000,
    });
    const slack = createSlackNotifier(config, { store: state, links: { grafana: 'http://grafana:3000', grafanaDashboard: 'd/db/database-health' } });
    const { pipeline } = testPipeline({ store, stateStore: state, enrichers: [stubPool()], notifiers: [slack], secrets: [fake.token] });
    // Alertmanager's Slack receiver posted the page a moment after the alert started.
    const page = fake.seedAlertmanagerPage('C0ALERTS', {
      groupLabels: { alertname: 'db_pool_exhausted' },
      labels: firingPayload().commonLabels,
      summary: 'DB connection pool nearly exhausted',
    });

    const parse = (p: unknown) => toAlertGroup(webhookPayloadSchema(100).parse(p));
    const firing = await pipeline.wait((await pipeline.admit(parse(firingPayload()), 'webhook')).id);
    expect(firing.notifications).toEqual([
      { notifier: 'slack', status: 'sent', detail: `thread ${fake.origin}/archives/C0ALERTS/p${page.ts.replace('.', '')}` },
    ]);
    const resolved = await pipeline.wait((await pipeline.admit(parse(resolvedPayload()), 'webhook')).id);
    expect(resolved.notifications[0]!.status).toBe('sent');

    expect(fake.topLevel('C0ALERTS')).toEqual([page]);
    const thread = fake.replies('C0ALERTS', page.ts);
    const kinds = thread.map((m) => (m.files ? 'chart' : JSON.stringify(m.blocks).match(/"block_id":"(pf_header|pf_resolved)_/)?.[1]));
    expect(kinds).toEqual(['pf_header', 'chart', 'pf_resolved']);
    expect(JSON.stringify(thread[0]!.blocks)).toContain('db_pool_exhausted');
    expect(JSON.stringify(thread[2]!.blocks)).toContain('Resolved after 15m 00s');
    const incident = fake.topLevel('C0INCIDENT');
    expect(incident).toHaveLength(1);
    expect(JSON.stringify(incident[0]!.blocks)).toContain(`${fake.origin}/archives/C0ALERTS/p${page.ts.replace('.', '')}|`);
    expect(JSON.stringify(incident[0]!.blocks)).toContain('Resolved after 15m 00s');
    // Nothing sent would be refused by Slack's documented limits.
    const sent = fake.calls.filter((c) => c.method === 'chat.postMessage' || c.method === 'chat.update');
    expect(sent.every((c) => c.ok && checkMessage(c.args as never) === undefined)).toBe(true);
    expect(fake.calls.every((c) => c.ok)).toBe(true);
  } finally {
    store.close();
    await fake.close();
  }
});
