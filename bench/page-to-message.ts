import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeSlack } from '../test/fakes/slack';
import { firingWebhook } from '../test/support/fixtures';
import { counterAt, startMetricsTarget } from '../test/support/metrics-target';
import { startPostgres } from '../test/support/postgres';
import { startPrometheus } from '../test/support/prometheus';
import { startServer } from '../test/support/process';
import { tempDir } from '../test/support/processes';
import { quantile, type Figure } from './report';

const TOKEN = 'bench-token-0123456789abcdef';
const PAGES = 20;
/** Pages are spaced so Slack's one-message-per-second pacing never delays one. */
const SPACING_MS = 1_300;

/**
 * Page to message: from a webhook's arrival to the diagnostic's post in the page's thread, with
 * the real PostgreSQL and Prometheus (pool, postgres and traffic enrichers). The baseline is the
 * slowest source of the same run (its longest enricher), so the figure is what the receiver adds.
 */
export async function benchPageToMessage(): Promise<Figure[]> {
  const dir = tempDir('bench-p2m');
  const pg = await startPostgres();
  const monitorUrl = await pg.createRole('pagefirst_monitor', 'monitor-pass', { monitor: true });
  const target = await startMetricsTarget();
  const now = Date.now();
  for (let g = 0; g < PAGES; g++) {
    const service = { service: `svc-${g}` };
    target.set('db_connection_pool_size', { ...service, state: 'active' }, 9);
    target.set('db_connection_pool_size', { ...service, state: 'idle' }, 1);
    target.set('db_connection_pool_size', { ...service, state: 'total' }, 10);
    target.set('http_requests_total', { ...service, endpoint: '/api/orders' }, counterAt(0, 20, now - 2 * 3_600_000));
  }
  const prom = await startPrometheus({ target, backfill: [{ from: now - 2 * 3_600_000, to: now, stepMs: 60_000 }] });
  await prom.waitForData('db_connection_pool_size');
  const slack = await FakeSlack.start();
  const pages = Array.from({ length: PAGES }, (_, g) =>
    slack.seedAlertmanagerPage('C0ALERTS', {
      groupLabels: { alertname: 'db_pool_exhausted', service: `svc-${g}` },
      labels: { alertname: 'db_pool_exhausted', severity: 'critical', service: `svc-${g}` },
      at: Date.now() - 1000,
    }),
  );
  const config = join(dir, 'pagefirst.yml');
  writeFileSync(
    config,
    [
      `server: { host: 127.0.0.1, auth: { token: "${TOKEN}" } }`,
      `state: { path: "${join(dir, 'state.sqlite')}" }`,
      `sources: { prometheus: { url: "${prom.url}" }, postgres: [ { name: main, url: "${monitorUrl}" } ] }`,
      `slack: { token: "${slack.token}", apiUrl: "${slack.url}", alertsChannel: C0ALERTS, threadSearchWaitMs: 0, chart: false }`,
      'enrichers: { pool: { copyLabels: [service] }, traffic: { copyLabels: [service] } }',
      'routes: [ { match: { alertname: db_pool_exhausted }, enrichers: [pool, postgres, traffic] } ]',
    ].join('\n'),
  );
  const server = await startServer(['--config', config], {}, 20_000);
  const total: number[] = [];
  const slowest: number[] = [];
  const added: number[] = [];
  try {
    for (let g = 0; g < PAGES; g++) {
      const p = firingWebhook();
      p.groupKey = `{}/{}:{alertname="db_pool_exhausted",service="svc-${g}"}`;
      p.groupLabels = { alertname: 'db_pool_exhausted', service: `svc-${g}` };
      p.commonLabels = { alertname: 'db_pool_exhausted', severity: 'critical', service: `svc-${g}` };
      const alert = p.alerts[0]!;
      alert.labels = p.commonLabels;
      alert.fingerprint = (0x2000 + g).toString(16);
      alert.startsAt = new Date().toISOString();
      const t0 = Date.now();
      const res = await fetch(`${server.url}/webhook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(p),
      });
      const { id } = (await res.json()) as { id: string };
      const pageTs = pages[g]!.ts;
      let posted: number | undefined;
      for (let i = 0; i < 400 && posted === undefined; i++) {
        posted = slack.calls.find((c) => c.method === 'chat.postMessage' && c.ok && c.args.thread_ts === pageTs)?.time;
        if (posted === undefined) await new Promise((r) => setTimeout(r, 5));
      }
      if (posted === undefined) throw new Error(`no diagnostic for page ${g}`);
      const d = (await (await fetch(`${server.url}/diagnostics/${id}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as {
        enrichments: Array<{ durationMs: number; status: string }>;
      };
      const s = Math.max(...d.enrichments.map((e) => e.durationMs));
      total.push(posted - t0);
      slowest.push(s);
      added.push(posted - t0 - s);
      await new Promise((r) => setTimeout(r, Math.max(0, SPACING_MS - (Date.now() - t0))));
    }
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
    await slack.close();
    await prom.stop();
    await target.close();
    await pg.stop();
  }
  const p50 = quantile(total, 0.5);
  const s50 = quantile(slowest, 0.5);
  return [
    {
      name: 'page to message p50 / p95',
      value: `${p50} / ${quantile(total, 0.95)} ms`,
      goal: `p50 < slowest source p50 + 50 ms = ${s50 + 50} ms`,
      pass: p50 < s50 + 50,
      note: `slowest source p50 ${s50} ms, p95 ${quantile(slowest, 0.95)} ms; added by the receiver p50 ${quantile(added, 0.5)} ms, p95 ${quantile(added, 0.95)} ms; ${PAGES} pages`,
    },
  ];
}
