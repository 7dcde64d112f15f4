/**
 * The receiver process configured by channel names, as a new user writes them (issue 14's field
 * report): the names are looked up at start and the first page gets its diagnostic; a name that
 * matches no channel stops the start with what to fix.
 */
import { rmSync } from 'node:fs';
import { FakeSlack } from '../fakes/slack';
import { firingPayload } from '../support/fixtures';
import { ensureBuilt, receiverConfig, runServerToExit, startServer, type ServerProcess } from '../support/process';
import { until } from '../support/wait';

const TOKEN = 'names-test-token-0123456789';
let fake: FakeSlack;
const dirs: string[] = [];
let server: ServerProcess | undefined;

beforeAll(async () => {
  ensureBuilt();
  fake = await FakeSlack.start({
    channels: [
      { id: 'C0ALERTS01', name: 'alerts' },
      { id: 'C0INCIDENT1', name: 'incidents', private: true },
    ],
    listPageMax: 1,
  });
}, 120_000);
afterAll(async () => {
  if (server && server.child.exitCode === null) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  await fake.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function config(channels: string) {
  const c = receiverConfig('slack-names', TOKEN, [
    `slack: { token: "${fake.token}", apiUrl: "${fake.url}", ${channels}, threadSearchWaitMs: 3000, threadSearchPollMs: 100, channelIntervalMs: 0, chart: false }`,
    'routes: [ { match: { alertname: db_pool_exhausted }, enrichers: [] } ]',
  ]);
  dirs.push(c.dir);
  return c.config;
}

test('a name that matches no channel stops the start (exit 1) naming the key and the scopes', async () => {
  const r = await runServerToExit(['--config', config(`alertsChannel: "#alerts", incidentChannel: "#incident-room"`)], {});
  expect(r.code).toBe(1);
  expect(r.output).toContain('slack.incidentChannel: no Slack channel named #incident-room');
  expect(r.output).toContain('channels:read');
}, 30_000);

test('configured by names, the first page gets its diagnostic in its thread and the summary goes to the private incident channel', async () => {
  server = await startServer(['--config', config(`alertsChannel: "#alerts", incidentChannel: incidents`)], {});
  expect(server.output()).toContain('Slack channel names looked up');
  const payload = firingPayload();
  const page = fake.seedAlertmanagerPage('C0ALERTS01', { groupLabels: payload.groupLabels, labels: payload.commonLabels });
  const res = await fetch(`${server.url}/webhook`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(payload),
  });
  expect(res.status).toBe(202);
  await until(
    'the diagnostic in the page thread',
    () => fake.replies('C0ALERTS01', page.ts).some((m) => JSON.stringify(m.blocks ?? []).includes('pf_header')),
    15_000,
  );
  await until('the incident summary', () => fake.topLevel('C0INCIDENT1').length === 1, 15_000);
  expect(fake.calls.filter((c) => !c.ok)).toEqual([]);
}, 60_000);
