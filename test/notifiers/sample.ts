import type { AlertGroup } from '../../src/core/alert';
import type { Diagnostic } from '../../src/core/diagnostic';

/** A realistic diagnostic of the fixture alert: pool with a series, postgres table, logs code, a failed and a skipped enricher. */
export function sampleDiagnostic(over: Partial<Diagnostic> = {}): Diagnostic {
  const start = Date.parse('2026-11-27T06:25:16.301Z');
  const points = (f: (i: number) => number): Array<[number, number]> => Array.from({ length: 31 }, (_, i) => [start - 30 * 60_000 + i * 60_000, f(i)]);
  return {
    id: 'run-1',
    alertname: 'db_pool_exhausted',
    status: 'firing',
    groupKey: '{}/{}:{alertname="db_pool_exhausted"}',
    fingerprints: ['e214ec06c8c5d0da'],
    trigger: 'webhook',
    startedAt: '2026-11-27T06:26:00.000Z',
    finishedAt: '2026-11-27T06:26:02.000Z',
    durationMs: 2000,
    enrichments: [
      {
        enricher: 'pool',
        status: 'ok',
        durationMs: 120,
        summary: '19 of 20 connections active, climbing 0.6/min',
        sections: [
          {
            type: 'fields',
            title: 'Pool now',
            fields: [
              { label: 'active', value: '19' },
              { label: 'idle', value: '1' },
              { label: 'total', value: '20' },
              { label: 'utilization', value: '95%' },
            ],
          },
          {
            type: 'series',
            title: 'Connections',
            series: [
              { name: 'active', points: points((i) => 1 + Math.round(i * 0.6)) },
              { name: 'idle', points: points((i) => 19 - Math.round(i * 0.6)) },
              { name: 'total', points: points(() => 20) },
            ],
          },
        ],
        evidence: {},
        queries: [{ source: 'prometheus', query: 'sum(db_connection_pool_size{state="active"})', start: '2026-11-27T05:55:16Z', end: '2026-11-27T06:25:16Z' }],
      },
      {
        enricher: 'postgres',
        status: 'ok',
        durationMs: 80,
        summary: '3 sessions idle in transaction for over 5 minutes',
        sections: [
          {
            type: 'table',
            title: 'Idle in transaction',
            columns: ['pid', 'application', 'idle for', 'query'],
            rows: [
              ['4242', 'api', '6m 10s', 'UPDATE orders SET status = $1 WHERE id = $2'],
              ['4243', 'api', '5m 2s', 'SELECT 1'],
            ],
          },
        ],
        evidence: {},
      },
      {
        enricher: 'logs',
        status: 'ok',
        durationMs: 40,
        summary: '57 pool timeout lines',
        sections: [{ type: 'code', title: 'Sample lines', code: 'ERROR pool timeout after 30000ms\nERROR pool timeout after 30000ms' }],
        evidence: {},
      },
      {
        enricher: 'traffic',
        status: 'timeout',
        durationMs: 3000,
        error: 'timeout after 3000 ms',
        summary: 'no answer: timeout after 3000 ms',
        sections: [],
        evidence: {},
      },
      {
        enricher: 'related_alerts',
        status: 'skipped',
        durationMs: 0,
        error: 'alertmanager not configured',
        summary: 'skipped: alertmanager not configured',
        sections: [],
        evidence: {},
      },
    ],
    causes: [
      {
        id: 'connection_leak',
        title: 'Connection leak',
        confidence: 0.82,
        evidence: ['active climbs steadily while traffic is flat', '3 sessions idle in transaction'],
        actions: ['Restart the leaking instance', 'Find the code path that does not release connections'],
      },
      {
        id: 'slow_queries',
        title: 'Slow queries',
        confidence: 0.31,
        evidence: ['one query over 30 s'],
        actions: ['Check pg_stat_statements for the slowest query'],
      },
    ],
    notifications: [],
    alert: {
      labels: { alertname: 'db_pool_exhausted', severity: 'critical', team: 'backend' },
      annotations: {
        summary: 'DB connection pool nearly exhausted',
        runbook_url: 'https://runbooks.example.com/db-pool',
        description: 'Only 1 free connections left',
      },
      startsAt: '2026-11-27T06:25:16.301Z',
      generatorURL: 'http://vm:19090/graph?g0.expr=up&g0.tab=1',
      externalURL: 'http://vm:19093',
    },
    ...over,
  };
}

/** The alert group of the sample (as the pipeline hands it to notifiers). */
export function sampleGroup(status: 'firing' | 'resolved' = 'firing'): AlertGroup {
  return {
    groupKey: '{}/{}:{alertname="db_pool_exhausted"}',
    status,
    receiver: 'pagefirst',
    groupLabels: { alertname: 'db_pool_exhausted' },
    commonLabels: { alertname: 'db_pool_exhausted', severity: 'critical', team: 'backend' },
    commonAnnotations: { summary: 'DB connection pool nearly exhausted' },
    externalURL: 'http://vm:19093',
    truncatedAlerts: 0,
    alerts: [
      {
        status,
        labels: { alertname: 'db_pool_exhausted', severity: 'critical', team: 'backend' },
        annotations: {},
        startsAt: '2026-11-27T06:25:16.301Z',
        endsAt: status === 'resolved' ? '2026-11-27T06:40:16.301Z' : '0001-01-01T00:00:00Z',
        generatorURL: 'http://vm:19090/graph?g0.expr=up',
        fingerprint: 'e214ec06c8c5d0da',
      },
    ],
  };
}
