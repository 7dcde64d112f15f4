import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Diagnostic } from '../../src/core/diagnostic';
import type { LogsEvidence, PoolEvidence, PostgresEvidence } from '../../src/core/evidence';
import { startFakeDockerEngine, type FakeDockerEngine } from '../fakes/docker-engine';
import { FakeSlack } from '../fakes/slack';
import { auth, testApp } from '../support/app';
import { firingPayload } from '../support/fixtures';
import { startAlertmanager, type AlertmanagerServer } from '../support/alertmanager';
import { startMetricsTarget, type MetricsTarget } from '../support/metrics-target';
import { RUNBOOK_RELATED_ALERTS } from '../../src/enrichers/related_alerts/settings';
import type { RelatedAlertsEvidence } from '../../src/core/evidence';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { startPrometheus, type PrometheusServer } from '../support/prometheus';

/**
 * Issue 7, security: alert labels are attacker-controlled text (anyone who can make an alert fire,
 * or who holds the webhook token). Through the real app and real servers:
 * - PromQL: a label copied into the pool selector cannot break out of its string literal; the
 *   real Prometheus selects exactly the series whose label equals the hostile text.
 * - SQL: a `database` label is only ever a lookup key among configured databases.
 * - Slack: a mention in a label or annotation arrives escaped in what the fake Slack recorded.
 * - Logs: a `service` label picks among configured sources by name, never a path or container.
 * - Alertmanager: a label copied into the related-alerts filter matches exactly its own value.
 */

const json = { 'content-type': 'application/json' };
const enrich = async (t: Awaited<ReturnType<typeof testApp>>, labels: Record<string, string>, startsAt?: string) => {
  const res = await t.app.inject({
    method: 'POST',
    url: '/enrich?wait=true&notify=false',
    headers: { ...json, ...auth },
    payload: JSON.stringify({ alert: { labels: { alertname: 'db_pool_exhausted', ...labels }, ...(startsAt ? { startsAt } : {}) } }),
  });
  expect(res.statusCode).toBe(200);
  return res.json<Diagnostic>();
};

describe('PromQL string break-out (real Prometheus)', () => {
  const BREAKOUTS = [
    'api"} or db_connection_pool_size{service=~".+',
    'api\\"} or vector(1000) or {service=\\"',
    "api'} or vector(1000) #",
    'api`} or vector(1000)',
    'api\n} or vector(1000) {x="',
    '.*',
    'a\tb\u0001c\u007f',
    'ünï 🔥 \\x41',
  ];
  // Each hostile value has its own series with a distinct total; the honest ones hold big numbers.
  const totals = (i: number) => 10 * (i + 1);
  let target: MetricsTarget;
  let prom: PrometheusServer;
  let t: Awaited<ReturnType<typeof testApp>>;
  const startsAt = new Date(Date.now() - 60_000).toISOString();

  beforeAll(async () => {
    target = await startMetricsTarget();
    const set = (service: string, total: number) => {
      target.set('db_connection_pool_size', { service, state: 'total' }, total);
      target.set('db_connection_pool_size', { service, state: 'active' }, total - 1);
      target.set('db_connection_pool_size', { service, state: 'idle' }, 1);
    };
    set('api', 1_000);
    set('other', 5_000);
    BREAKOUTS.forEach((s, i) => set(s, totals(i)));
    prom = await startPrometheus({ target, backfill: [{ from: Date.now() - 10 * 60_000, to: Date.now(), stepMs: 15_000 }] });
    t = await testApp({
      sources: { prometheus: { url: prom.url } },
      routes: [{ match: { alertname: 'db_pool_exhausted' }, enrichers: [{ name: 'pool', options: { copyLabels: ['service'] } }], notifiers: ['console'] }],
    });
  }, 60_000);
  afterAll(async () => {
    await t?.app.close();
    await prom?.stop();
    await target?.close();
  });

  test.each(BREAKOUTS.map((s, i) => [s, i] as const))('service=%j selects only its own series', async (service, i) => {
    const d = await enrich(t, { service }, startsAt);
    const pool = d.enrichments[0]!;
    expect(pool.status).toBe('ok');
    const ev = pool.evidence as unknown as PoolEvidence;
    expect(ev.total).toBe(totals(i));
    expect(ev.active).toBe(totals(i) - 1);
    // the queries it ran, re-run on the real Prometheus, see only series carrying exactly that label value
    expect(pool.queries?.length).toBeGreaterThan(0);
    // Each query is re-run whole on the real Prometheus: every series it selects carries exactly
    // this label value (an injected `or vector(1000)` or `{service=~".+"}` would bring others).
    let selected = 0;
    for (const q of pool.queries!) {
      const series = await prom.query(q.query);
      selected += series.length;
      for (const s of series) expect(s.metric.service).toBe(service);
    }
    // the discovery lookup alone selects the three state series of this service
    expect(selected).toBeGreaterThanOrEqual(3);
  });

  test('the honest value still works (the check can pass and fail)', async () => {
    const d = await enrich(t, { service: 'api' }, startsAt);
    expect((d.enrichments[0]!.evidence as unknown as PoolEvidence).total).toBe(1_000);
  });
});

describe('SQL through the database label (real PostgreSQL)', () => {
  let pg: TestPostgres;
  let t: Awaited<ReturnType<typeof testApp>>;
  beforeAll(async () => {
    pg = await startPostgres();
    const monitorUrl = await pg.createRole('pf_inject_monitor', 'Inj3ct-pw', { monitor: true });
    const admin = await pg.connect();
    await admin.query('DROP TABLE IF EXISTS x; CREATE TABLE x (id int); INSERT INTO x VALUES (1), (2)');
    if (pg.statStatements) await admin.query('SELECT pg_stat_statements_reset()');
    await admin.end();
    t = await testApp(
      {
        sources: { postgres: [{ name: 'orders', url: '${PG_URL}' }] },
        routes: [{ match: { alertname: 'db_pool_exhausted' }, enrichers: ['postgres'], notifiers: ['console'] }],
      },
      { PG_URL: monitorUrl },
    );
  }, 60_000);
  afterAll(async () => {
    await t?.app.close();
    await pg?.stop();
  });

  test.each(["'; DROP TABLE x; --", "orders'; DROP TABLE x; --", 'orders" OR 1=1 --', '$1; DROP TABLE x'])(
    'database=%j names no configured database: no SQL error, table intact',
    async (database) => {
      const d = await enrich(t, { database });
      const e = d.enrichments[0]!;
      expect(e.status).toBe('ok');
      const ev = e.evidence as unknown as PostgresEvidence;
      // not a lookup key: the configured database (and only it) was queried, without any failure
      expect(ev.databases.map((db) => db.name)).toEqual(['orders']);
      expect(ev.databases[0]!.failure).toBeNull();
      expect(ev.databases[0]!.maxConnections).toBeGreaterThan(0);
      expect(JSON.stringify(e.sections)).toContain('names no configured database');
      const admin = await pg.connect();
      try {
        expect((await admin.query('SELECT count(*)::int AS n FROM x')).rows[0].n).toBe(2);
        if (pg.statStatements) {
          const seen = await admin.query(`SELECT query FROM pg_stat_statements WHERE query ILIKE '%DROP TABLE x%' OR query ILIKE '%1=1%'`);
          expect(seen.rows).toEqual([]);
        }
      } finally {
        await admin.end();
      }
    },
  );
});

describe('Slack mentions in labels and annotations (fake Slack)', () => {
  test('arrive escaped in every message the fake Slack recorded', async () => {
    const fake = await FakeSlack.start();
    const t = await testApp({
      slack: {
        token: fake.token,
        apiUrl: fake.url,
        alertsChannel: 'C0ALERTS',
        incidentChannel: 'C0INCIDENT',
        threadSearchWaitMs: 0,
        channelIntervalMs: 0,
        chart: false,
        timeoutMs: 2_000,
      },
      routes: [{ match: { alertname: 'db_pool_exhausted' }, enrichers: [] }],
    });
    try {
      const p = firingPayload();
      const hostile = {
        team: '<!channel>',
        instance: '<@U0BOSS> <!here|here>',
        pod: '<!subteam^S0ONCALL>',
        ns: '<#C0GENERAL>',
        link: '<http://evil.example|click me>',
      };
      Object.assign(p.alerts[0].labels, hostile);
      Object.assign(p.commonLabels, hostile);
      p.commonAnnotations.summary = 'pool <!everyone> nearly exhausted';
      p.alerts[0].annotations.summary = p.commonAnnotations.summary;
      const res = await t.app.inject({ method: 'POST', url: '/webhook', headers: { ...json, ...auth }, payload: JSON.stringify(p) });
      expect(res.statusCode).toBe(202);
      const d = await t.pipeline.wait(res.json().id);
      expect(d.notifications).toEqual([expect.objectContaining({ notifier: 'slack', status: 'sent' })]);
      const posts = fake.calls.filter((c) => c.method === 'chat.postMessage' || c.method === 'chat.update');
      expect(posts.length).toBeGreaterThanOrEqual(2);
      const sent = JSON.stringify(posts.map((c) => c.args));
      for (const m of ['<!channel>', '<@U0BOSS>', '<!here', '<!subteam', '<#C0GENERAL>', '<!everyone>', '<http://evil.example']) expect(sent).not.toContain(m);
      // the text is still there, as text
      expect(sent).toContain('&lt;!channel&gt;');
      expect(sent).toContain('&lt;!everyone&gt;');
    } finally {
      await t.app.close();
      await fake.close();
    }
  });
});

describe('log sources chosen by a label', () => {
  let docker: FakeDockerEngine;
  let dir: string;
  let t: Awaited<ReturnType<typeof testApp>>;
  beforeAll(async () => {
    docker = await startFakeDockerEngine();
    docker.containers.set('api-1', {
      tty: false,
      entries: [{ stream: 2, time: new Date().toISOString(), text: 'ERROR pool timeout exceeded when trying to connect' }],
    });
    docker.containers.set('secret-db', {
      tty: false,
      entries: [{ stream: 1, time: new Date().toISOString(), text: 'database password=hunter2 connection SECRET-CONTAINER-LINE' }],
    });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-inject-logs-'));
    fs.writeFileSync(path.join(dir, 'api.log'), '2026-11-27T06:40:00.000Z ERROR connection refused by database\n');
    fs.writeFileSync(path.join(dir, 'private.log'), 'database connection PRIVATE-FILE-LINE\n');
    t = await testApp({
      sources: {
        logs: [
          { name: 'api', docker: { socket: docker.socketPath, container: 'api-1' } },
          { name: 'apifile', file: { path: path.join(dir, 'api.log') } },
        ],
      },
      routes: [{ match: { alertname: 'db_pool_exhausted' }, enrichers: ['logs'], notifiers: ['console'] }],
    });
  });
  afterAll(async () => {
    await t?.app.close();
    await docker?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test.each(['../../etc/passwd', '/etc/passwd', path.join('..', 'private.log'), 'secret-db', 'api/../secret-db', 'api-1/../../secret-db'])(
    'service=%j reads only configured sources',
    async (service) => {
      docker.requests.length = 0;
      const d = await enrich(t, { service, container: 'secret-db', path: '/etc/passwd', file: path.join(dir, 'private.log') });
      const e = d.enrichments[0]!;
      expect(e.status).toBe('ok');
      const ev = e.evidence as unknown as LogsEvidence;
      expect(ev.sources.map((s) => s.name).sort()).toEqual(['api', 'apifile']);
      expect(ev.sources.every((s) => s.error === null)).toBe(true);
      expect(docker.requests.length).toBeGreaterThan(0);
      for (const r of docker.requests) expect(r).toMatch(/\/containers\/api-1\//);
      const all = JSON.stringify(d);
      for (const leak of ['root:x:0:0', 'SECRET-CONTAINER-LINE', 'PRIVATE-FILE-LINE', 'hunter2']) expect(all).not.toContain(leak);
      expect(all).toContain('pool timeout exceeded'); // what the configured sources hold is read
    },
  );

  test('a label naming a configured source picks just that one', async () => {
    docker.requests.length = 0;
    const d = await enrich(t, { service: 'apifile' });
    expect((d.enrichments[0]!.evidence as unknown as LogsEvidence).sources.map((s) => s.name)).toEqual(['apifile']);
    expect(docker.requests).toEqual([]);
  });
});

describe('Alertmanager filter matchers from labels (real Alertmanager)', () => {
  const VALUES = ['backend', 'a"b', 'a\\b', 'a\nb', 'a\tb', 'a\u0001b', 'a,b', 'a}b', '{x="y"}', 'a=~".*', '\\"', 'ünï 🔥'];
  let am: AlertmanagerServer;
  let t: Awaited<ReturnType<typeof testApp>>;
  beforeAll(async () => {
    am = await startAlertmanager();
    const other = RUNBOOK_RELATED_ALERTS[0];
    await am.postAlerts(VALUES.map((team, i) => ({ labels: { alertname: other, team, instance: `i${i}` } })));
    t = await testApp({
      sources: { alertmanager: { url: am.url } },
      routes: [
        { match: { alertname: 'db_pool_exhausted' }, enrichers: [{ name: 'related_alerts', options: { matchLabels: ['team'] } }], notifiers: ['console'] },
      ],
    });
  }, 30_000);
  afterAll(async () => {
    await t?.app.close();
    await am?.stop();
  });

  test.each(VALUES.map((v, i) => [v, i] as const))('team=%j finds exactly its own related alert', async (team, i) => {
    const d = await enrich(t, { team });
    const e = d.enrichments[0]!;
    expect(e.status).toBe('ok');
    const related = (e.evidence as unknown as RelatedAlertsEvidence).related;
    expect(related.map((r) => r.labels.instance)).toEqual([`i${i}`]);
  });
});
