/**
 * Grafana-managed alerts at POST /webhook: the body Grafana's webhook contact point sends (written
 * from Grafana's documented format, test/fixtures/grafana) is admitted like Alertmanager's, routed
 * by its alertname, and its diagnostic keeps Grafana's links and values, in the stored Diagnostic
 * and in the Slack message.
 */
import type { Diagnostic } from '../../src/core/diagnostic';
import dbPool from '../fixtures/grafana/db-pool-exhausted.json';
import { FakeSlack, type FakeMessage } from '../fakes/slack';
import { auth, testApp, TOKEN } from '../support/app';
import { until } from '../support/wait';

let fake: FakeSlack;
beforeAll(async () => {
  fake = await FakeSlack.start();
});
afterAll(async () => {
  await fake.close();
});

type App = Awaited<ReturnType<typeof testApp>>;
let t: App | undefined;
afterEach(async () => {
  await t?.app.close();
  t = undefined;
});

function slackApp() {
  return testApp({
    slack: { token: fake.token, apiUrl: fake.url, alertsChannel: 'C0ALERTS', threadSearchWaitMs: 0, channelIntervalMs: 0, chart: false },
    routes: [{ match: { alertname: 'db_pool_exhausted' }, enrichers: [] }],
  });
}

/** POST /webhook as Grafana does (JSON), with Bearer auth unless `authorization` is given. */
const post = (body: unknown, authorization = auth.authorization) =>
  t!.app.inject({ method: 'POST', url: '/webhook', headers: { authorization, 'content-type': 'application/json' }, payload: JSON.stringify(body) });

/** Every mrkdwn text of a message. */
const textOf = (m: FakeMessage) => JSON.stringify(m.blocks ?? []);

test("Grafana's body is diagnosed like Alertmanager's: same route, and its panel, dashboard, silence and values in the Diagnostic and in Slack", async () => {
  t = await slackApp();
  // Grafana's "Authorization Header" setting: scheme Bearer (its default), credentials = server.auth.token
  const res = await post(dbPool);
  expect(res.statusCode).toBe(202);
  const d: Diagnostic = await t.pipeline.wait(res.json().id);
  expect(d).toMatchObject({ alertname: 'db_pool_exhausted', status: 'firing', route: { index: 0 }, fingerprints: ['5a6b0c1d2e3f4a5b'] });
  const a = dbPool.alerts[0]!;
  expect(d.alert).toMatchObject({
    sender: 'grafana',
    panelURL: a.panelURL,
    dashboardURL: a.dashboardURL,
    silenceURL: a.silenceURL,
    imageURL: a.imageURL,
    values: [{ fingerprint: a.fingerprint, values: { A: 10, B: 10, C: 1 } }],
  });
  expect(d.notifications).toEqual([expect.objectContaining({ notifier: 'slack', status: 'sent' })]);

  const message = fake.messages.find((m) => m.channel === 'C0ALERTS' && m.thread_ts && m.thread_ts !== m.ts && textOf(m).includes('pf_header'))!;
  const text = textOf(message);
  // Slack escapes & in link URLs; the links are Grafana's own, labelled as such
  expect(text).toContain(`<${a.panelURL.replace(/&/g, '&amp;')}|Grafana panel of the alert rule>`);
  expect(text).toContain(`<${a.silenceURL.replace(/&/g, '&amp;')}|Silence in Grafana>`);
  expect(text).toContain('Alert rule in Grafana');
  expect(text).toContain('Values that fired');
  expect(text).toContain('A=10 B=10 C=1');
  // no Alertmanager silence or Prometheus graph built from Grafana's own URLs
  expect(text).not.toContain('#/silences/new');
  expect(text).not.toContain('grafana.example/graph');
});

test('Grafana with HTTP Basic auth (any username, server.auth.token as password) is accepted; a wrong password is 401 and nothing runs', async () => {
  t = await slackApp();
  const basic = (password: string) => `Basic ${Buffer.from(`grafana:${password}`).toString('base64')}`;
  const body = structuredClone(dbPool);
  body.alerts[0]!.fingerprint = '0a0b0c0d0e0f0a0b';
  const bad = await post(body, basic('nope'));
  expect(bad.statusCode).toBe(401);
  const ok = await post(body, basic(TOKEN));
  expect(ok.statusCode).toBe(202);
  const d: Diagnostic = await t.pipeline.wait(ok.json().id);
  expect(d.alert?.sender).toBe('grafana');
});

test("Grafana's resolve (state ok) resolves the same group in the same thread", async () => {
  t = await slackApp();
  const firing = structuredClone(dbPool);
  firing.groupKey = `${dbPool.groupKey}-resolve`;
  const first = await post(firing);
  await t.pipeline.wait(first.json().id);
  const resolved = structuredClone(firing);
  resolved.status = 'resolved';
  resolved.state = 'ok';
  resolved.alerts[0]!.status = 'resolved';
  resolved.alerts[0]!.endsAt = '2026-11-27T06:52:00+01:00';
  const second = await post(resolved);
  expect(second.statusCode).toBe(202);
  const d: Diagnostic = await t.pipeline.wait(second.json().id);
  expect(d.status).toBe('resolved');
  expect(d.groupKey).toBe(firing.groupKey);
  await until('the resolve reply', () => fake.messages.some((m) => JSON.stringify(m.blocks ?? []).includes('Resolved after')), 5_000);
});
