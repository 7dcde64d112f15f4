import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import http from 'node:http';
import { Client } from 'pg';
import { FakeSlack } from '../test/fakes/slack';
import { firingWebhook } from '../test/support/fixtures';
import { startPostgres } from '../test/support/postgres';
import { startServer } from '../test/support/process';
import { tempDir } from '../test/support/processes';
import type { Figure } from './report';

const TOKEN = 'bench-token-0123456789abcdef';
const GROUPS = 100;
const WEBHOOKS = 10_000;
const SECONDS = 10;

/** The webhook for group `g`, variant `v`: 0 the first notification, 1 a retry of it, 2 an HA peer's copy, 3 the group with one more alert. */
function notification(g: number, v: number): string {
  const p = firingWebhook();
  p.groupKey = `{}/{}:{alertname="db_pool_exhausted",service="svc-${g}"}`;
  p.groupLabels = { alertname: 'db_pool_exhausted', service: `svc-${g}` };
  p.commonLabels = { ...p.commonLabels, service: `svc-${g}` };
  const alert = p.alerts[0]!;
  alert.labels = { ...alert.labels, service: `svc-${g}` };
  alert.fingerprint = (0x1000 + g).toString(16);
  if (v === 2) p.receiver = 'ha-peer';
  if (v === 3) p.alerts.push({ ...alert, labels: { ...alert.labels, pod: `pod-${g}` }, fingerprint: (0x900000 + g).toString(16) });
  return JSON.stringify(p);
}

function vmHwmBytes(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmHWM:\s+(\d+) kB/);
  return m ? Number(m[1]) * 1024 : NaN;
}

/**
 * Alert storm: 10,000 webhooks over 100 groups in 10 s (retries, HA copies and membership
 * changes mixed in) at the real receiver (a child process) with the real PostgreSQL enricher
 * and the fake Slack; runs started, Slack calls and their per-channel rate, the most
 * connections to the monitored database, and the receiver's peak RSS. With `replicas: 2` the
 * webhooks alternate between two receivers sharing a state database on the same PostgreSQL
 * (`state.url`, a database of its own), as behind a load balancer.
 */
export async function benchStorm(opts: { replicas?: 1 | 2 } = {}): Promise<Figure[]> {
  const replicas = opts.replicas ?? 1;
  const label = replicas === 1 ? 'storm' : 'storm, 2 replicas on PostgreSQL';
  const dir = tempDir('bench-storm');
  const pg = await startPostgres();
  let stateUrl: string | undefined;
  if (replicas > 1) {
    const c = await pg.connect();
    await c.query('CREATE DATABASE pagefirst_state');
    await c.end();
    stateUrl = pg.url({ database: 'pagefirst_state' });
  }
  const monitorUrl = await pg.createRole('pagefirst_monitor', 'monitor-pass', { monitor: true });
  const slack = await FakeSlack.start();
  for (let g = 0; g < GROUPS; g++)
    slack.seedAlertmanagerPage('C0ALERTS', {
      groupLabels: { alertname: 'db_pool_exhausted', service: `svc-${g}` },
      labels: { alertname: 'db_pool_exhausted', severity: 'critical', team: 'backend', service: `svc-${g}` },
      at: Date.now() - 1000,
    });
  const servers: Array<Awaited<ReturnType<typeof startServer>>> = [];
  for (let r = 0; r < replicas; r++) {
    const config = join(dir, `pagefirst-${r}.yml`);
    writeFileSync(
      config,
      [
        `server: { host: 127.0.0.1, auth: { token: "${TOKEN}" } }`,
        stateUrl ? `state: { url: "${stateUrl}" }` : `state: { path: "${join(dir, 'state.sqlite')}" }`,
        // one application_name per replica: its connections to the monitored database are counted apart
        `sources: { postgres: [ { name: main, url: "${monitorUrl}", applicationName: pagefirst-${r} } ] }`,
        `slack: { token: "${slack.token}", apiUrl: "${slack.url}", alertsChannel: C0ALERTS, incidentChannel: C0INCIDENT, threadSearchWaitMs: 0 }`,
        'routes: [ { match: { alertname: db_pool_exhausted }, enrichers: [postgres] } ]',
      ].join('\n'),
    );
    servers.push(
      await startServer(['--config', config], {}, 20_000).catch(async (e) => {
        for (const s of servers) s.child.kill('SIGTERM');
        await pg.stop();
        throw e;
      }),
    );
  }

  // sample the monitored database: our sessions by application_name
  const admin = await pg.connect();
  let maxConns = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const r = await admin.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'pagefirst-%' AND datname = 'postgres' GROUP BY application_name",
      );
      maxConns = Math.max(maxConns, ...r.rows.map((x) => x.n));
      await new Promise((res) => setTimeout(res, 20));
    }
  })();

  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  let n = 0;
  const post = (body: string) =>
    new Promise<number>((resolve) => {
      const req = http.request(
        `${servers[n++ % servers.length]!.url}/webhook`,
        { method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, 'content-length': Buffer.byteLength(body) } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', () => resolve(0));
      req.end(body);
    });
  const statuses = new Map<number, number>();
  const started = Date.now();
  const interval = (SECONDS * 1000) / WEBHOOKS;
  const inflight = new Set<Promise<void>>();
  for (let i = 0; i < WEBHOOKS; i++) {
    const due = started + i * interval;
    const wait = due - Date.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const g = i % GROUPS;
    const round = Math.floor(i / GROUPS);
    const v = round === 0 ? 0 : round % 10 === 3 ? 3 : round % 3 === 1 ? 2 : 1;
    const p = post(notification(g, v)).then((status) => {
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    });
    inflight.add(p);
    // p's own failure reaches the Promise.all below; this copy of it only keeps the set current
    void p.finally(() => inflight.delete(p));
  }
  await Promise.all(inflight);
  const sendSeconds = (Date.now() - started) / 1000;

  // wait until every run is done (Slack allows about one message per second per channel)
  const count = await stateCounter(stateUrl ?? join(dir, 'state.sqlite'));
  const deadline = Date.now() + 400_000;
  let pending = Infinity;
  while (Date.now() < deadline) {
    pending = await count("SELECT count(*) AS n FROM runs WHERE state != 'done'");
    if (pending === 0) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const drainSeconds = (Date.now() - started) / 1000;
  const runs = await count('SELECT count(*) AS n FROM runs');
  const failed = await count("SELECT count(*) AS n FROM notifications WHERE status != 'sent'");
  await count.close();
  const peakRss = Math.max(...servers.map((s) => vmHwmBytes(s.child.pid!)));
  sampling = false;
  await sampler;
  for (const s of servers) s.child.kill('SIGTERM');
  await Promise.all(servers.map((s) => s.exited));
  agent.destroy();

  const posts = slack.calls.filter((c) => c.method === 'chat.postMessage' && c.ok);
  const perChannel = new Map<string, number[]>();
  for (const c of posts) {
    const ch = String(c.args.channel);
    perChannel.set(ch, [...(perChannel.get(ch) ?? []), c.time]);
  }
  let maxPerSecond = 0;
  for (const times of perChannel.values()) {
    times.sort((a, b) => a - b);
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i]! - times[j]! >= 1000) j++;
      maxPerSecond = Math.max(maxPerSecond, i - j + 1);
    }
  }
  const groupsWithDiagnostic = new Set(posts.filter((c) => c.args.channel === 'C0ALERTS' && c.args.thread_ts).map((c) => String(c.args.thread_ts))).size;
  const rejected = slack.calls.filter((c) => !c.ok).length;
  await slack.close();
  await admin.end();
  await pg.stop();

  const accepted = [...statuses.entries()].map(([s, n]) => `${s}: ${n}`).join(', ');
  return [
    {
      name: `${label}: webhooks answered`,
      value: `${WEBHOOKS} in ${sendSeconds.toFixed(1)} s (${accepted})`,
      goal: 'all 202',
      pass: statuses.get(202) === WEBHOOKS,
    },
    { name: `${label}: runs started`, value: `${runs} for ${GROUPS} groups`, goal: `${GROUPS} (one per group per cool-down)`, pass: runs === GROUPS },
    {
      name: `${label}: Slack messages, most in any second to one channel`,
      value: `${posts.length} messages; at most ${maxPerSecond}/s per channel; ${rejected} rejected calls`,
      goal: '<= 1/s per channel (a burst of 2 tolerated), none rejected',
      pass: maxPerSecond <= 2 && rejected === 0,
    },
    {
      name: `${label}: diagnostics delivered`,
      value: `${groupsWithDiagnostic} page threads answered, ${failed} failed notifications, all done after ${drainSeconds.toFixed(0)} s`,
      goal: `${GROUPS}, none lost`,
      pass: groupsWithDiagnostic === GROUPS && failed === 0 && pending === 0,
    },
    { name: `${label}: most connections to the monitored database, per replica`, value: String(maxConns), goal: '1', pass: maxConns === 1 },
    {
      name: `${label}: receiver peak RSS${replicas > 1 ? ' (the larger replica)' : ''}`,
      value: `${(peakRss / 2 ** 20).toFixed(0)} MB`,
      goal: '< 200 MB',
      pass: peakRss < 200 * 2 ** 20,
    },
  ];
}

/** `SELECT count(*) AS n ...` on the state store: the SQLite file (read-only) or the PostgreSQL database. */
async function stateCounter(where: string): Promise<((sql: string) => Promise<number>) & { close(): Promise<void> }> {
  if (where.startsWith('postgres')) {
    const c = new Client({ connectionString: where });
    await c.connect();
    return Object.assign(async (sql: string) => Number((await c.query<{ n: string }>(sql)).rows[0]!.n), { close: () => c.end() });
  }
  const db = new Database(where, { readonly: true, fileMustExist: true });
  // better-sqlite3 is synchronous: the executors turn its throws into rejections, as the PostgreSQL side's are.
  const count = (sql: string) => new Promise<number>((resolve) => resolve((db.prepare(sql).get() as { n: number }).n));
  const close = () =>
    new Promise<void>((resolve) => {
      db.close();
      resolve();
    });
  return Object.assign(count, { close });
}
