/**
 * Issue 15: several replicas on one PostgreSQL behave, from Alertmanager's and Slack's side, like
 * one receiver that never goes down. Real processes: a state PostgreSQL, receiver processes on
 * it (`state.url`), a real Alertmanager pair gossiping on 127.0.0.1, and the fake Slack (its
 * records say what was posted). Each case waits for a positive signal (a row, a post), never a
 * fixed time.
 */
import { FakeSlack, type FakeHandler } from '../fakes/slack';
import { firingPayload } from '../support/fixtures';
import { ensureBuilt } from '../support/process';
import { until } from '../support/wait';
import { kill, postWebhook, startAlertmanagerPair, startReplica, startStateDb, type StateDb } from './cluster';

const ALERTS = 'C0ALERTS';
const INCIDENT = 'C0INCIDENT';

let db: StateDb;
let fake: FakeSlack;
const stops: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  ensureBuilt();
  db = await startStateDb();
}, 120_000);
beforeEach(async () => {
  fake = await FakeSlack.start();
  await db.query(
    'DROP TABLE IF EXISTS runs, idempotency, notifications, alert_groups, group_cooldown, notifier_state, run_leases, send_slots, pagefirst_schema',
  );
});
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s().catch(() => {});
  await fake.close();
});
afterAll(() => db?.stop());

function replicaLines(): string[] {
  return [
    `slack: { token: "${fake.token}", apiUrl: "${fake.url}", alertsChannel: ${ALERTS}, incidentChannel: ${INCIDENT}, threadSearchWaitMs: 0, channelIntervalMs: 100, chart: false, timeoutMs: 3000, retries: 0 }`,
    'routes: [ { match: { alertname: db_pool_exhausted }, enrichers: [] } ]',
    'pipeline: { leaseMs: 1500, pollMs: 200, shutdownGraceMs: 1000, notify: { budgetMs: 60000, maxAttempts: 100, initialBackoffMs: 200, maxBackoffMs: 1000 } }',
  ];
}

async function replica(name: string) {
  const r = await startReplica(name, db.url, replicaLines());
  stops.push(() => kill(r, 'SIGKILL'));
  return r;
}

const diagnostics = () => fake.callsOf('chat.postMessage').filter((c) => c.ok && JSON.stringify(c.args.blocks ?? '').includes('pf_header_'));
const groupPayload = (groupKey: string, service = 'checkout') => {
  const p = firingPayload();
  p.groupKey = groupKey;
  p.commonLabels = { ...p.commonLabels, service };
  for (const a of p.alerts) a.labels = { ...a.labels, service };
  return p;
};
const runs = () =>
  db.query<{ id: string; group_key: string; state: string; attempts: number }>('SELECT id, group_key, state, attempts FROM runs ORDER BY created_at');

test('an Alertmanager pair, each peer sending to its own replica: one run, one thread, one diagnostic', async () => {
  const [r1, r2] = [await replica('am-1'), await replica('am-2')];
  const peers = await startAlertmanagerPair([r1.url, r2.url]);
  stops.push(
    () => peers[0].stop(),
    () => peers[1].stop(),
  );
  await until('the peers to gossip', async () => (await peers[0].peers()) === 2 && (await peers[1].peers()) === 2, 30_000, 200);
  const alert = { labels: { alertname: 'db_pool_exhausted', service: 'checkout', severity: 'critical' }, annotations: { summary: 'pool exhausted' } };
  // Prometheus sends every alert to every peer
  await Promise.all(peers.map((p) => p.postAlerts([alert])));
  await until('the diagnostic in Slack', () => diagnostics().length > 0, 60_000, 100);
  await until('the run to be done', async () => (await runs()).every((r) => r.state === 'done') || undefined, 30_000, 100);
  expect((await runs()).length).toBe(1);
  expect(diagnostics()).toHaveLength(1);
  expect(fake.topLevel(ALERTS)).toHaveLength(1); // our one thread parent
  expect(fake.topLevel(INCIDENT)).toHaveLength(1);
}, 120_000);

test('a storm of duplicates spread over three replicas: one run and one thread per group', async () => {
  const rs = [await replica('storm-1'), await replica('storm-2'), await replica('storm-3')];
  const groups = [
    '{}:{alertname="db_pool_exhausted", service="a"}',
    '{}:{alertname="db_pool_exhausted", service="b"}',
    '{}:{alertname="db_pool_exhausted", service="c"}',
  ];
  const posts = groups.flatMap((g, gi) => Array.from({ length: 30 }, (_, i) => ({ url: rs[(gi + i) % rs.length]!.url, body: groupPayload(g, `svc-${gi}`) })));
  const answers = await Promise.all(posts.map((p) => postWebhook(p.url, p.body)));
  expect(answers.map((a) => a.status)).toEqual(answers.map(() => 202));
  expect(answers.filter((a) => !a.body.duplicate)).toHaveLength(groups.length);
  await until(
    'every run done',
    async () => {
      const r = await runs();
      return r.length === groups.length && r.every((x) => x.state === 'done');
    },
    60_000,
    100,
  );
  expect(new Set((await runs()).map((r) => r.group_key))).toEqual(new Set(groups));
  expect(diagnostics()).toHaveLength(groups.length);
  expect(fake.topLevel(ALERTS)).toHaveLength(groups.length);
  expect(fake.topLevel(INCIDENT)).toHaveLength(groups.length);
}, 120_000);

test('a replica SIGKILLed mid-run: another finishes the run, nothing is posted twice', async () => {
  // The incident summary's post hangs until released: the first replica dies waiting for it.
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let reachedIncident = false;
  const post = (fake as unknown as { handlers: Map<string, FakeHandler> }).handlers.get('chat.postMessage')!;
  fake.handle('chat.postMessage', async (args, ctx) => {
    if (args.channel === INCIDENT && !reachedIncident) {
      reachedIncident = true;
      await gate;
    }
    return post(args, ctx);
  });
  const r1 = await replica('kill-1');
  const r2 = await replica('kill-2');
  const first = await postWebhook(r1.url, groupPayload('{}:{alertname="db_pool_exhausted"}'));
  expect(first.status).toBe(202);
  await until('a replica to post the diagnostic and reach the incident summary', () => diagnostics().length === 1 && reachedIncident, 60_000, 50);
  // whichever replica claimed the run (the one admitting it, or the other one's poll) dies now
  const started = (r: typeof r1) => new RegExp(`"runId":"${first.body.id}"[^\\n]*"msg":"run started"`).test(r.output());
  const [holder, other] = started(r1) ? [r1, r2] : [r2, r1];
  expect(started(holder)).toBe(true);
  await kill(holder, 'SIGKILL');
  // its post goes through after it died (the answer is lost), as a post in flight at a crash may
  release();
  await until('the run to be finished by the other replica', async () => (await runs())[0]?.state === 'done' || undefined, 60_000, 100);
  const [run] = await runs();
  expect(run!.attempts).toBe(2);
  expect(other.output()).toMatch(new RegExp(`"runId":"${first.body.id}"[^\n]*"attempt":2[^\n]*"msg":"run started"`));
  expect(diagnostics()).toHaveLength(1);
  expect(fake.topLevel(ALERTS)).toHaveLength(1);
  expect(fake.topLevel(INCIDENT)).toHaveLength(1);
}, 120_000);

test('the state database restarted under load: 503 while it is gone, nothing accepted is lost', async () => {
  const rs = [await replica('restart-1'), await replica('restart-2')];
  const accepted = new Set<string>();
  const statuses: number[] = [];
  let n = 0;
  let load = true;
  const loop = (async () => {
    while (load) {
      const i = n++;
      const a = await postWebhook(rs[i % 2]!.url, groupPayload(`{}:{alertname="db_pool_exhausted", shard="${i}"}`, `svc-${i}`)).catch(() => ({
        status: 0,
        body: undefined,
      }));
      statuses.push(a.status);
      if (a.status === 202) accepted.add(a.body.id);
    }
  })();
  await until('some notifications accepted', () => accepted.size >= 5, 30_000, 50);
  await db.down();
  const before503 = statuses.length;
  await until('intake to answer 503', () => statuses.slice(before503).includes(503), 30_000, 50);
  const ready = await fetch(`${rs[0]!.url}/readyz`);
  expect(ready.status).toBe(503);
  expect(await ready.text()).toMatch(/state database .* is unavailable/);
  await db.up();
  const acceptedBefore = accepted.size;
  await until('intake to accept again', () => accepted.size >= acceptedBefore + 5, 60_000, 50);
  load = false;
  await loop;
  const back = await until(
    'a replica ready again',
    async () => {
      const r = await fetch(`${rs[0]!.url}/readyz`);
      return r.status === 200 ? ((await r.json()) as { store: { kind: string; where: string } }) : undefined;
    },
    30_000,
    100,
  );
  expect(back.store).toEqual({ kind: 'postgres', where: expect.stringContaining('/pagefirst_state') });
  expect(statuses.every((s) => s === 202 || s === 503)).toBe(true);
  for (const r of rs) expect(r.child.exitCode).toBeNull(); // no replica died of it
  await until(
    'every accepted run done',
    async () => {
      const r = await runs();
      return r.length >= accepted.size && r.every((x) => x.state === 'done');
    },
    90_000,
    200,
  );
  const stored = new Set((await runs()).map((r) => r.id));
  for (const id of accepted) expect(stored.has(id)).toBe(true);
  expect(diagnostics()).toHaveLength(stored.size);
}, 180_000);
