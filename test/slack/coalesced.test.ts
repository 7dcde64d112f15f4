import { fingerprintOf } from '../../src/alertmanager/fingerprint';
import { FakeSlack, type FakeMessage } from '../fakes/slack';
import { utc } from '../../src/slack/joined';
import { auth, testApp } from '../support/app';
import { firingPayload } from '../support/fixtures';
import {
  ALERTS,
  INCIDENT,
  buttonClick,
  diagnostics,
  handled,
  interact,
  JSON_CT,
  mention,
  sendEvent,
  settled,
  shortcut,
  slackRuns,
  slackTestConfig,
  type T,
} from './support';

/**
 * Issue 14: a re-run asked from Slack (button, shortcut, mention) that joins a run, because the
 * same alert was re-run less than `pipeline.rerunCooldownMs` ago, tells whoever asked when that
 * run ran (or that it is running), where its result is, and from when a fresh run can be asked
 * for. Through the real app and its signed HTTP endpoints against the fake Slack; the pipeline's
 * clock is injected, so the cool-down passes without waiting.
 */

const COOLDOWN_MS = 60_000;

let fake: FakeSlack;
let t: T;
/** Added to the real time by the pipeline's clock. */
let skew = 0;

beforeAll(async () => {
  fake = await FakeSlack.start({
    channels: [
      { id: ALERTS, name: 'alerts' },
      { id: INCIDENT, name: 'incidents' },
    ],
  });
  t = await testApp(
    {
      server: { rateLimitPerMinute: 1_000 },
      // a call held by the test must not time out meanwhile
      slack: slackTestConfig(fake, { timeoutMs: 10_000 }),
      pipeline: { rerunCooldownMs: COOLDOWN_MS, notify: { budgetMs: 20_000, maxAttempts: 2, initialBackoffMs: 50, maxBackoffMs: 200 } },
      routes: [{ enrichers: [] }],
    },
    {},
    { now: () => Date.now() + skew },
  );
}, 30_000);
afterAll(async () => {
  await t?.app.close();
  await fake?.close();
});

/** `HH:MM:SS UTC` of an epoch-ms time, written here independently of src/. */
const hms = (ms: number) => `${new Date(ms).toISOString().slice(11, 19)} UTC`;

/** A page of its own alert group (`team`) in the alerts channel, diagnosed once by the webhook; its page and our diagnostic message. */
async function diagnosedPage(team: string): Promise<{ page: FakeMessage; diag: FakeMessage }> {
  const fixture = firingPayload();
  fixture.groupKey = `{}/{}:{alertname="db_pool_exhausted", team="${team}"}`;
  fixture.groupLabels = { alertname: 'db_pool_exhausted', team };
  fixture.commonLabels = { ...fixture.commonLabels, team };
  fixture.alerts[0].labels = { ...fixture.alerts[0].labels, team };
  fixture.alerts[0].fingerprint = fingerprintOf(fixture.alerts[0].labels);
  const page = fake.seedAlertmanagerPage(ALERTS, { groupLabels: fixture.groupLabels, labels: fixture.commonLabels });
  const hook = await t.app.inject({ method: 'POST', url: '/webhook', headers: { ...auth, ...JSON_CT }, payload: JSON.stringify(fixture) });
  expect(hook.statusCode).toBe(202);
  await t.pipeline.wait(hook.json().id, AbortSignal.timeout(15_000));
  const [diag] = diagnostics(fake, ALERTS, page.ts);
  expect(diag).toBeDefined();
  return { page, diag: diag! };
}

/** Sends `request` and waits until its background work is done; the log's outcome for it. */
async function ask(request: () => Promise<{ statusCode: number }>): Promise<string> {
  const before = handled(t).length;
  expect((await request()).statusCode).toBe(200);
  await settled(t, before + 1);
  return String(handled(t).at(-1)!.outcome);
}

const lastResponse = () => (fake.responses.at(-1)!.body as { text: string; response_type: string }).text;

test('asked again within the cool-down (button, mention, shortcut): told when it ran, the link to its result and when a fresh run can start; no run starts', async () => {
  const { page, diag } = await diagnosedPage('coalesced-done');

  expect(await ask(() => interact(t, buttonClick(fake, diag, { user: 'U0FIRST' })))).toMatch(/^admitted run /);
  const runId = slackRuns(t).at(-1)!;
  const d = await t.pipeline.wait(runId, AbortSignal.timeout(15_000));
  const asked = (await t.store.getRun(runId))!.createdAt;
  const runs = slackRuns(t).length;
  const permalinkCalls = fake.callsOf('chat.getPermalink').length;

  // The permalink of our diagnostic reply, as Slack gives it for a message in a thread.
  // (Slack's mrkdwn wants `&` in a link written `&amp;`.)
  const link = `${fake.origin}/archives/${ALERTS}/p${diag.ts.replace('.', '')}?thread_ts=${page.ts}&amp;cid=${ALERTS}`;
  const expectJoined = (text: string) => {
    expect(text).toContain(`already ran at ${hms(Date.parse(d.startedAt))}`);
    expect(text).toContain(`run \`${runId}\``);
    expect(text).toContain(`<${link}|the diagnostic in the alert’s thread>`);
    expect(text).toContain(`fresh run after ${hms(asked + COOLDOWN_MS)}`);
  };

  skew += 20_000;
  expect(await ask(() => interact(t, buttonClick(fake, diag, { user: 'U0SECOND' })))).toBe(`duplicate of run ${runId}`);
  expect(fake.responses.at(-1)!.body).toMatchObject({ response_type: 'ephemeral', replace_original: false });
  expectJoined(lastResponse());
  const asked2 = fake.callsOf('chat.getPermalink').slice(permalinkCalls);
  expect(asked2.map((c) => c.args)).toEqual([expect.objectContaining({ channel: ALERTS, message_ts: diag.ts })]);

  // A mention in the thread answers ephemerally in the thread, the same way.
  expect(await ask(() => sendEvent(t, mention(ALERTS, page.ts, { user: 'U0THIRD' })))).toBe(`duplicate of run ${runId}`);
  const told = fake.ephemeral.at(-1)!;
  expect(told).toMatchObject({ channel: ALERTS, user: 'U0THIRD', thread_ts: page.ts });
  expectJoined(told.text!);

  // The shortcut on the page itself.
  expect(await ask(() => interact(t, shortcut(fake, fake.find(ALERTS, diag.ts)!, { user: 'U0FOURTH' })))).toBe(`duplicate of run ${runId}`);
  expectJoined(lastResponse());

  expect(slackRuns(t)).toHaveLength(runs);
  expect(diagnostics(fake, ALERTS, page.ts)).toHaveLength(1);

  // Once the cool-down has passed, the same button runs anew.
  skew += COOLDOWN_MS - 20_000 + 1;
  const outcome = await ask(() => interact(t, buttonClick(fake, diag, { user: 'U0SECOND' })));
  expect(outcome).toMatch(/^admitted run /);
  const fresh = slackRuns(t).at(-1)!;
  expect(fresh).not.toBe(runId);
  expect(outcome).toBe(`admitted run ${fresh}`);
  expect(lastResponse()).toContain('Re-running');
  const again = await t.pipeline.wait(fresh, AbortSignal.timeout(15_000));
  expect(again).toMatchObject({ trigger: 'slack', groupKey: d.groupKey });
  expect(JSON.stringify(fake.find(ALERTS, diag.ts)!.blocks)).toContain(fresh);
});

test('asked while the run is still going: told it is running, where its result goes and when a fresh run can start; no second run', async () => {
  const { page, diag } = await diagnosedPage('coalesced-running');
  // Slack is slow to take the update of the diagnostic: the re-run stays in its notify step.
  const slow = fake.hold('chat.update');
  try {
    expect(await ask(() => interact(t, buttonClick(fake, diag, { user: 'U0FIRST' })))).toMatch(/^admitted run /);
    const runId = slackRuns(t).at(-1)!;
    await slow.reached;
    const run = (await t.store.getRun(runId))!;
    expect(run.state).toBe('notifying');
    const runs = slackRuns(t).length;

    expect(await ask(() => interact(t, buttonClick(fake, diag, { user: 'U0SECOND' })))).toBe(`duplicate of run ${runId}`);
    const text = lastResponse();
    expect(text).toContain(`is running now (asked for at ${hms(run.createdAt)}, run \`${runId}\`)`);
    // The thread's own link (the page's permalink, kept since the first run).
    expect(text).toContain(`<${fake.origin}/archives/${ALERTS}/p${page.ts.replace('.', '')}|the alert’s thread>`);
    expect(text).toContain(`fresh run after ${hms(run.createdAt + COOLDOWN_MS)}`);
    expect(text).not.toContain('already ran');
    expect(slackRuns(t)).toHaveLength(runs);

    slow.release();
    const d = await t.pipeline.wait(runId, AbortSignal.timeout(15_000));
    expect(d.notifications).toEqual([expect.objectContaining({ notifier: 'slack', status: 'sent' })]);
  } finally {
    slow.release();
  }
});

test('a run whose diagnostic did not reach Slack: the answer says so, why, and where the result is instead', async () => {
  const { diag } = await diagnosedPage('coalesced-failed');
  // Slack refuses the update of the diagnostic for good (a final code: no retries).
  fake.failNext('chat.update', 1, { status: 200, error: 'restricted_action' });
  expect(await ask(() => interact(t, buttonClick(fake, diag, { user: 'U0FIRST' })))).toMatch(/^admitted run /);
  const runId = slackRuns(t).at(-1)!;
  const d = await t.pipeline.wait(runId, AbortSignal.timeout(15_000));
  expect(d.notifications).toEqual([expect.objectContaining({ notifier: 'slack', status: 'failed' })]);

  expect(await ask(() => interact(t, buttonClick(fake, diag, { user: 'U0SECOND' })))).toBe(`duplicate of run ${runId}`);
  const text = lastResponse();
  expect(text).toContain(`already ran at ${hms(Date.parse(d.startedAt))}`);
  expect(text).toMatch(/its result did not reach Slack \(failed: .*chat\.update: restricted_action.*\); it is at/);
  expect(text).toContain(`\`GET /diagnostics/${runId}\``);
  expect(text).not.toContain('its result is here');
});

test('times are UTC, with the date only when it is not the other time’s day', () => {
  const t0 = Date.parse('2026-11-30T23:59:50.400Z');
  expect(utc(t0, t0 + 5_000)).toBe('23:59:50 UTC');
  expect(utc(t0 + 30_000, t0)).toBe('2026-12-01 00:00:20 UTC');
});
