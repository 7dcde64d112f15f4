import { fingerprintOf } from '../../src/alertmanager/fingerprint';
import { FakeSlack, SlackFakeError } from '../fakes/slack';
import { startAlertmanager, type AlertmanagerServer } from '../support/alertmanager';
import { parseConfig } from '../../src/config';
import { auth, testApp } from '../support/app';
import { firingPayload } from '../support/fixtures';
import { until } from '../support/wait';
import {
  ALERTS,
  INCIDENT,
  SECRET,
  buttonClick,
  diagnostics,
  form,
  FORM,
  handled,
  interact,
  JSON_CT,
  mention,
  sendEvent,
  settled,
  shortcut,
  signed,
  slackRuns,
  sleep,
  slackTestConfig,
  type T,
} from './support';

/**
 * Issue 6: Slack as an entry point, through the real app (buildApp) against the fake Slack Web
 * API and a real Alertmanager, with requests signed here as Slack signs them.
 */

const PAGE_A = { alertname: 'db_pool_exhausted', service: 'checkout', severity: 'critical', instance: 'db-a:5432' };
const PAGE_B = { alertname: 'db_pool_exhausted', service: 'billing', severity: 'critical', instance: 'db-b:5432' };
const PAGE_C = { alertname: 'db_pool_exhausted', service: 'search', severity: 'warning', instance: 'db-c:5432' };

let fake: FakeSlack;
let am: AlertmanagerServer;
let t: T;

function slackConfig(over: Record<string, unknown> = {}) {
  return slackTestConfig(fake, over);
}

async function app(over: { slack?: Record<string, unknown>; server?: Record<string, unknown>; alertmanager?: boolean } = {}): Promise<T> {
  return testApp({
    server: { auth: { token: 'test-token-0123456789abcdef' }, rateLimitPerMinute: 1_000, ...over.server },
    slack: slackConfig(over.slack),
    ...(over.alertmanager === false ? {} : { sources: { alertmanager: { url: am.url, timeoutMs: 2_000 } } }),
    pipeline: { notify: { budgetMs: 10_000, maxAttempts: 2, initialBackoffMs: 50, maxBackoffMs: 200 } },
    routes: [{ enrichers: [] }],
  });
}

beforeAll(async () => {
  [fake, am] = await Promise.all([
    FakeSlack.start({
      channels: [
        { id: ALERTS, name: 'alerts' },
        { id: INCIDENT, name: 'incidents' },
        { id: 'C0RANDOM', name: 'random' },
      ],
    }),
    startAlertmanager(),
  ]);
  const startsAt = new Date(Date.now() - 120_000).toISOString();
  await am.postAlerts([PAGE_A, PAGE_B, PAGE_C].map((labels) => ({ labels, annotations: { summary: `pool of ${labels.service} nearly exhausted` }, startsAt })));
  // Alertmanager lists posted alerts after a moment.
  for (let i = 0; i < 50 && (await am.alerts()).length < 3; i++) await sleep(100);
  t = await app();
}, 60_000);
afterAll(async () => {
  await t?.app.close();
  await Promise.all([fake?.close(), am?.stop()]);
});

/** Waits for a run admitted from Slack and returns its Diagnostic. */
async function finished(runId: string) {
  return t.pipeline.wait(runId, AbortSignal.timeout(15_000));
}

function postsAndEphemerals() {
  return {
    posts: fake.callsOf('chat.postMessage').length + fake.callsOf('chat.update').length,
    ephemeral: fake.ephemeral.length,
    responses: fake.responses.length,
  };
}

describe('verification', () => {
  test('url_verification is answered with the challenge', async () => {
    const body = JSON.stringify({ token: 'x', challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P', type: 'url_verification' });
    const res = await t.app.inject({ method: 'POST', url: '/slack/events', headers: { ...JSON_CT, ...signed(body) }, payload: body });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P' });
    // The same challenge unsigned is refused.
    const unsigned = await t.app.inject({ method: 'POST', url: '/slack/events', headers: JSON_CT, payload: body });
    expect(unsigned.statusCode).toBe(401);
  });

  test('a bad, a missing, an old, a future signature and a body changed by one byte get 401 and run nothing; the good one runs once', async () => {
    const page = fake.seedAlertmanagerPage(ALERTS, { groupLabels: { alertname: PAGE_A.alertname }, labels: PAGE_A, summary: 'pool nearly exhausted' });
    const body = form(shortcut(fake, page));
    const now = Math.floor(Date.now() / 1000);
    const good = signed(body);
    const flipped = Buffer.from(body);
    flipped[flipped.length - 3]! ^= 0x01;
    const cases: Array<[string, Record<string, string>, string | Buffer, string]> = [
      ['wrong secret', signed(body, { secret: 'another-signing-secret-xyz' }), body, 'invalid_signature'],
      ['missing signature', { 'x-slack-request-timestamp': String(now) }, body, 'invalid_signature'],
      ['missing timestamp', { 'x-slack-signature': good['x-slack-signature']! }, body, 'invalid_signature'],
      ['no headers', {}, body, 'invalid_signature'],
      ['six minutes old', signed(body, { ts: now - 360 }), body, 'replay'],
      ['six minutes ahead', signed(body, { ts: now + 360 }), body, 'replay'],
      ['the good signature of another timestamp', { ...good, 'x-slack-request-timestamp': String(now - 1) }, body, 'invalid_signature'],
      ['body changed by one byte', good, flipped, 'invalid_signature'],
      ['malformed signature', { ...good, 'x-slack-signature': 'v1=abc' }, body, 'invalid_signature'],
    ];
    const before = postsAndEphemerals();
    const handledBefore = handled(t).length;
    const runsBefore = slackRuns(t).length;
    for (const [name, headers, payload, error] of cases) {
      const res = await t.app.inject({ method: 'POST', url: '/slack/interactions', headers: { ...FORM, ...headers }, payload });
      expect([name, res.statusCode, res.json().error]).toEqual([name, 401, error]);
    }
    // Nothing was posted while they were refused; whether they started any work shows once a request
    // sent after them has finished (the positive signal), not after a fixed wait.
    expect(postsAndEphemerals()).toEqual(before);

    const res = await t.app.inject({ method: 'POST', url: '/slack/interactions', headers: { ...FORM, ...good }, payload: body });
    expect(res.statusCode).toBe(200);
    await settled(t, handledBefore + 1);
    expect(handled(t).length).toBe(handledBefore + 1);
    expect(slackRuns(t).length).toBe(runsBefore + 1);
    await finished(slackRuns(t).at(-1)!);
    expect(diagnostics(fake, ALERTS, page.ts)).toHaveLength(1);
  });

  test('a charset parameter on the content type is fine; another content type is 415; an oversized body 413', async () => {
    const body = form({
      type: 'block_actions',
      trigger_id: 'ct-1',
      user: { id: 'U0ONCALL' },
      channel: { id: ALERTS },
      actions: [{ action_id: 'something_else' }],
    });
    const ok = await t.app.inject({
      method: 'POST',
      url: '/slack/interactions',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', ...signed(body) },
      payload: body,
    });
    expect(ok.statusCode).toBe(200);
    const text = await t.app.inject({ method: 'POST', url: '/slack/interactions', headers: { 'content-type': 'text/plain', ...signed(body) }, payload: body });
    expect(text.statusCode).toBe(415);
    const big = 'payload=' + 'x'.repeat(t.config.server.bodyLimitBytes + 1);
    const tooLarge = await t.app.inject({ method: 'POST', url: '/slack/interactions', headers: { ...FORM, ...signed(big) }, payload: big });
    expect(tooLarge.statusCode).toBe(413);
    // The rest of the app still parses JSON as before.
    const hz = await t.app.inject({ method: 'POST', url: '/enrich', headers: { ...auth, ...JSON_CT }, payload: '{not json' });
    expect(hz.statusCode).toBe(400);
    expect(hz.json().error).toBe('invalid_payload');
  });
});

describe('retries', () => {
  test('a retry of a handled event (X-Slack-Retry-Num, same event_id) answers 200 and runs nothing new', async () => {
    const page = fake.seedAlertmanagerPage(ALERTS, { groupLabels: { alertname: PAGE_B.alertname }, labels: PAGE_B });
    const envelope = mention(ALERTS, page.ts, { eventId: 'Ev0RETRY0001' });
    const handledBefore = handled(t).length;
    const runsBefore = slackRuns(t).length;
    const started = Date.now();
    const first = await sendEvent(t, envelope);
    expect(first.statusCode).toBe(200);
    expect(Date.now() - started).toBeLessThan(3_000);
    await settled(t, handledBefore + 1);
    await finished(slackRuns(t).at(-1)!);
    const before = postsAndEphemerals();
    const calls = fake.calls.length;
    for (const n of ['1', '2']) {
      const retry = await sendEvent(t, envelope, { 'x-slack-retry-num': n, 'x-slack-retry-reason': 'http_timeout' });
      expect(retry.statusCode).toBe(200);
    }
    // Both retries are logged as already handled (the positive signal) before anything is counted.
    const skipped = () => t.log.records().filter((r) => r.msg === 'slack event already handled; not running it again');
    await until('both retries logged as already handled', () => skipped().length >= 2, 15_000);
    expect(handled(t).length).toBe(handledBefore + 1);
    expect(slackRuns(t).length).toBe(runsBefore + 1);
    expect(fake.calls.length).toBe(calls);
    expect(postsAndEphemerals()).toEqual(before);
    expect(diagnostics(fake, ALERTS, page.ts)).toHaveLength(1);
    expect(skipped()).toHaveLength(2);
  });
});

describe('acknowledging', () => {
  test('the answer comes before the work (Slack is slow here); a failure after it is logged and told to the user, never unhandled', async () => {
    const page = fake.seedAlertmanagerPage(ALERTS, {
      groupLabels: { alertname: 'db_pool_exhausted' },
      labels: { alertname: 'db_pool_exhausted', service: 'slow' },
    });
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let reached = false;
    fake.handle('conversations.replies', async (args) => {
      reached = true;
      await gate;
      const parent = fake.find(String(args.channel), String(args.ts));
      return { messages: parent ? [parent, ...fake.replies(parent.channel, parent.ts)] : [], has_more: false };
    });
    const handledBefore = handled(t).length;
    try {
      // Slack gives up after 3 s; we must answer well before the work can finish.
      const res = await Promise.race([sendEvent(t, mention(ALERTS, page.ts)), sleep(2_000).then(() => undefined)]);
      expect(res?.statusCode).toBe(200);
      // Answered while the work waits for Slack: its thread read has reached the fake (the positive signal) and is held.
      await until('the thread read to reach Slack', () => reached, 15_000);
      expect(handled(t).length).toBe(handledBefore);
      open();
      await settled(t, handledBefore + 1);
      expect(handled(t).at(-1)!.outcome).toMatch(/^admitted run /);
      await finished(slackRuns(t).at(-1)!);

      // Slack refuses the thread read: the work fails, the user hears why, the log says so.
      fake.failNext('conversations.replies', 1, { status: 200, error: 'missing_scope' });
      await sendEvent(t, mention(ALERTS, page.ts));
      await settled(t, handledBefore + 2);
      const failed = handled(t).at(-1)!;
      expect(failed).toMatchObject({ msg: 'slack request failed', what: 'event', err: expect.stringContaining('missing_scope') });
      expect(fake.ephemeral.at(-1)!.text).toContain('could not finish');
    } finally {
      open();
      fake.handle('conversations.replies', (args) => {
        const parent = fake.find(String(args.channel), String(args.ts));
        if (!parent) throw new SlackFakeError('thread_not_found');
        return { messages: [parent, ...fake.replies(parent.channel, parent.ts)], has_more: false };
      });
    }
  });
});

describe('the three ways in', () => {
  test('the re-run button re-runs that group and updates its diagnostic in place, with one "what changed" reply', async () => {
    const fixture = firingPayload();
    const page = fake.seedAlertmanagerPage(ALERTS, {
      groupLabels: fixture.groupLabels,
      labels: fixture.commonLabels,
      summary: 'DB connection pool nearly exhausted',
    });
    const hook = await t.app.inject({ method: 'POST', url: '/webhook', headers: { ...auth, ...JSON_CT }, payload: JSON.stringify(fixture) });
    expect(hook.statusCode).toBe(202);
    const first = await t.pipeline.wait(hook.json().id, AbortSignal.timeout(15_000));
    const [diag] = diagnostics(fake, ALERTS, page.ts);
    expect(diag).toBeDefined();

    const handledBefore = handled(t).length;
    const responsesBefore = fake.responses.length;
    const res = await interact(t, buttonClick(fake, diag!));
    expect(res.statusCode).toBe(200);
    await settled(t, handledBefore + 1);
    const rerun = await finished(slackRuns(t).at(-1)!);
    expect(rerun).toMatchObject({ trigger: 'slack', groupKey: first.groupKey, fingerprints: first.fingerprints });
    expect(rerun.id).not.toBe(first.id);

    const thread = fake.replies(ALERTS, page.ts);
    expect(diagnostics(fake, ALERTS, page.ts)).toHaveLength(1);
    expect(fake.find(ALERTS, diag!.ts)!.edited).toBeDefined();
    expect(JSON.stringify(fake.find(ALERTS, diag!.ts)!.blocks)).toContain(rerun.id);
    expect(thread.filter((m) => JSON.stringify(m.blocks ?? []).includes('"pf_change'))).toHaveLength(1);
    expect(fake.topLevel(ALERTS).filter((m) => m.ts === page.ts)).toHaveLength(1);
    // The person who clicked is told, only them.
    const answer = fake.responses.slice(responsesBefore).at(-1)!.body as any;
    expect(answer).toMatchObject({ response_type: 'ephemeral', replace_original: false });
    expect(answer.text).toContain('Re-running');
  });

  test('ten clicks make one run', async () => {
    const fixture = firingPayload();
    fixture.groupKey = '{}/{}:{alertname="db_pool_exhausted", team="ten"}';
    fixture.groupLabels = { alertname: 'db_pool_exhausted', team: 'ten' };
    fixture.commonLabels = { ...fixture.commonLabels, team: 'ten' };
    fixture.alerts[0].labels = { ...fixture.alerts[0].labels, team: 'ten' };
    fixture.alerts[0].fingerprint = fingerprintOf(fixture.alerts[0].labels);
    const page = fake.seedAlertmanagerPage(ALERTS, { groupLabels: fixture.groupLabels, labels: fixture.commonLabels });
    const hook = await t.app.inject({ method: 'POST', url: '/webhook', headers: { ...auth, ...JSON_CT }, payload: JSON.stringify(fixture) });
    await t.pipeline.wait(hook.json().id, AbortSignal.timeout(15_000));
    const [diag] = diagnostics(fake, ALERTS, page.ts);

    const handledBefore = handled(t).length;
    const runsBefore = slackRuns(t).length;
    const updatesBefore = fake.callsOf('chat.update').length;
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => interact(t, buttonClick(fake, diag!, { user: `U0CLICK${i}` }))));
    expect(answers.map((a) => a.statusCode)).toEqual(Array(10).fill(200));
    await settled(t, handledBefore + 10);
    const runs = slackRuns(t).slice(runsBefore);
    expect(runs).toHaveLength(1);
    await finished(runs[0]!);
    const outcomes = handled(t)
      .slice(handledBefore)
      .map((r) => String(r.outcome).replace(/ run .*/, ''));
    expect(outcomes.sort()).toEqual(['admitted', ...Array(9).fill('duplicate of')].sort());
    expect(diagnostics(fake, ALERTS, page.ts)).toHaveLength(1);
    expect(
      fake
        .callsOf('chat.update')
        .slice(updatesBefore)
        .filter((c) => c.args.ts === diag!.ts),
    ).toHaveLength(1);
    expect(fake.replies(ALERTS, page.ts).filter((m) => JSON.stringify(m.blocks ?? []).includes('"pf_change'))).toHaveLength(1);
  });

  test("the shortcut on Alertmanager's own page: the alert is found in Alertmanager, one diagnostic goes into that page's thread", async () => {
    const other = fake.seedAlertmanagerPage(ALERTS, { groupLabels: { alertname: 'db_pool_exhausted' }, labels: PAGE_A });
    // An earlier page of the same alert (a repeat): the diagnostic must still go where it was asked for.
    const earlier = fake.seedAlertmanagerPage(ALERTS, { groupLabels: { alertname: 'db_pool_exhausted' }, labels: PAGE_C, at: Date.now() - 60_000 });
    const page = fake.seedAlertmanagerPage(ALERTS, {
      groupLabels: { alertname: 'db_pool_exhausted' },
      labels: PAGE_C,
      summary: 'pool of search nearly exhausted',
    });
    const topBefore = fake.topLevel(ALERTS).length;
    const handledBefore = handled(t).length;
    const res = await interact(t, shortcut(fake, page));
    expect(res.statusCode).toBe(200);
    await settled(t, handledBefore + 1);
    const d = await finished(slackRuns(t).at(-1)!);
    expect(d).toMatchObject({
      trigger: 'slack',
      alertname: 'db_pool_exhausted',
      fingerprints: [fingerprintOf(PAGE_C)],
      alert: { labels: PAGE_C, annotations: { summary: 'pool of search nearly exhausted' } },
    });
    expect(diagnostics(fake, ALERTS, page.ts)).toHaveLength(1);
    expect(diagnostics(fake, ALERTS, other.ts)).toHaveLength(0);
    expect(diagnostics(fake, ALERTS, earlier.ts)).toHaveLength(0);
    expect(fake.topLevel(ALERTS)).toHaveLength(topBefore);
    expect(JSON.stringify(fake.responses.at(-1)!.body)).toContain('Diagnosing db_pool_exhausted');
  });

  test('a mention in an alert’s thread puts one diagnostic into that thread', async () => {
    const inventory = { alertname: 'db_pool_exhausted', service: 'inventory', severity: 'critical' };
    const earlier = fake.seedAlertmanagerPage(ALERTS, {
      groupLabels: { alertname: 'db_pool_exhausted', service: 'inventory' },
      labels: inventory,
      at: Date.now() - 60_000,
    });
    const page = fake.seedAlertmanagerPage(ALERTS, { groupLabels: { alertname: 'db_pool_exhausted', service: 'inventory' }, labels: inventory });
    fake.seedMessage(ALERTS, { thread_ts: page.ts, user: 'U0HUMAN', text: 'looking' });
    const handledBefore = handled(t).length;
    const res = await sendEvent(t, mention(ALERTS, page.ts));
    expect(res.statusCode).toBe(200);
    await settled(t, handledBefore + 1);
    const d = await finished(slackRuns(t).at(-1)!);
    // Not in Alertmanager: the labels read from the page are used, and the user is told.
    expect(d).toMatchObject({
      trigger: 'slack',
      fingerprints: [fingerprintOf({ alertname: 'db_pool_exhausted', service: 'inventory', severity: 'critical' })],
    });
    expect(diagnostics(fake, ALERTS, page.ts)).toHaveLength(1);
    expect(diagnostics(fake, ALERTS, earlier.ts)).toHaveLength(0);
    const told = fake.ephemeral.at(-1)!;
    expect(told).toMatchObject({ channel: ALERTS, user: 'U0ONCALL', thread_ts: page.ts });
    expect(told.text).toContain('diagnosing with the labels in the message');
  });

  test('a mention in a thread that has our diagnostic re-runs that diagnostic’s group', async () => {
    const page = fake.seedAlertmanagerPage(ALERTS, { groupLabels: { alertname: 'db_pool_exhausted' }, labels: PAGE_B });
    // The thread of the retry test above (PAGE_B) holds a diagnostic; find that page.
    const withDiag = fake
      .topLevel(ALERTS)
      .find((m) => m.ts !== page.ts && diagnostics(fake, ALERTS, m.ts).length === 1 && JSON.stringify(m.attachments).includes('billing'))!;
    const before = diagnostics(fake, ALERTS, withDiag.ts)[0]!;
    const handledBefore = handled(t).length;
    await sendEvent(t, mention(ALERTS, withDiag.ts));
    await settled(t, handledBefore + 1);
    const outcome = handled(t).at(-1)!.outcome as string;
    // Within the re-run cool-down of the first mention: the same run, nothing new posted.
    expect(outcome).toMatch(/^duplicate of run /);
    expect(diagnostics(fake, ALERTS, withDiag.ts)).toEqual([before]);
    expect(diagnostics(fake, ALERTS, page.ts)).toHaveLength(0);
  });
});

describe('what cannot be done', () => {
  test('an unrecognisable message gets an ephemeral reply saying why and what works; nothing in the channel, no run', async () => {
    const lunch = fake.seedMessage(ALERTS, { user: 'U0HUMAN', text: 'anyone up for lunch?' });
    const before = postsAndEphemerals();
    const handledBefore = handled(t).length;
    const runsBefore = slackRuns(t).length;
    const res = await interact(t, shortcut(fake, lunch));
    expect(res.statusCode).toBe(200);
    await sleep(0);
    // A mention in the thread of the same message.
    fake.seedMessage(ALERTS, { thread_ts: lunch.ts, user: 'U0HUMAN', text: 'hm' });
    await sendEvent(t, mention(ALERTS, lunch.ts));
    // A mention outside any thread.
    await sendEvent(t, mention(ALERTS, undefined));
    await settled(t, handledBefore + 3);
    expect(
      handled(t)
        .slice(handledBefore)
        .map((r) => r.outcome),
    ).toEqual(['unrecognised', 'unrecognised', 'unrecognised']);
    expect(slackRuns(t).length).toBe(runsBefore);
    const after = postsAndEphemerals();
    expect(after.posts).toBe(before.posts);
    expect(fake.replies(ALERTS, lunch.ts).every((m) => m.user === 'U0HUMAN')).toBe(true);
    const viaResponseUrl = (fake.responses.at(-1)!.body as any).text as string;
    expect(viaResponseUrl).toContain('couldn’t tell which alert');
    expect(viaResponseUrl).toContain('Diagnose this alert');
    expect(fake.responses.at(-1)!.body).toMatchObject({ response_type: 'ephemeral' });
    expect(fake.ephemeral.slice(-2).map((e) => e.user)).toEqual(['U0ONCALL', 'U0ONCALL']);
    const texts = fake.ephemeral.slice(-2).map((e) => e.text);
    expect(texts).toEqual(expect.arrayContaining([expect.stringContaining('does not name an alert'), expect.stringContaining('outside a thread')]));
    expect(texts.every((x) => x!.includes('What works'))).toBe(true);
  });

  test('a channel not allowed gets an ephemeral refusal and runs nothing', async () => {
    const elsewhere = fake.seedAlertmanagerPage('C0RANDOM', { groupLabels: { alertname: 'db_pool_exhausted' }, labels: PAGE_A });
    const before = postsAndEphemerals();
    const handledBefore = handled(t).length;
    const runsBefore = slackRuns(t).length;
    await interact(t, shortcut(fake, elsewhere));
    await sendEvent(t, mention('C0RANDOM', elsewhere.ts));
    await settled(t, handledBefore + 2);
    expect(
      handled(t)
        .slice(handledBefore)
        .map((r) => r.outcome),
    ).toEqual(['refused', 'refused']);
    expect(slackRuns(t).length).toBe(runsBefore);
    expect(postsAndEphemerals().posts).toBe(before.posts);
    expect((fake.responses.at(-1)!.body as any).text).toContain('slack.allowedChannels');
    expect(fake.ephemeral.at(-1)).toMatchObject({ channel: 'C0RANDOM', user: 'U0ONCALL', text: expect.stringContaining('slack.allowedChannels') });
    expect(fake.replies('C0RANDOM', elsewhere.ts)).toEqual([]);
  });

  test('slack.allowedUsers: others are refused; slack.allowedChannels replaces the default', async () => {
    const u = await app({ slack: { allowedUsers: ['U0LEAD'], allowedChannels: ['C0RANDOM'] }, alertmanager: false });
    try {
      const page = fake.seedAlertmanagerPage('C0RANDOM', {
        groupLabels: { alertname: 'db_pool_exhausted' },
        labels: { alertname: 'db_pool_exhausted', service: 'users-only' },
      });
      const inAlerts = fake.seedAlertmanagerPage(ALERTS, {
        groupLabels: { alertname: 'db_pool_exhausted' },
        labels: { alertname: 'db_pool_exhausted', service: 'users-only-2' },
      });
      await interact(u, shortcut(fake, page, { user: 'U0SOMEONE' }));
      await interact(u, shortcut(fake, inAlerts, { user: 'U0LEAD' }));
      await settled(u, 2);
      expect(handled(u).map((r) => r.outcome)).toEqual(['refused', 'refused']);
      expect(fake.responses.slice(-2).map((r) => (r.body as any).text)).toEqual([
        expect.stringContaining('slack.allowedUsers'),
        expect.stringContaining('slack.allowedChannels'),
      ]);
      await interact(u, shortcut(fake, page, { user: 'U0LEAD' }));
      await settled(u, 3);
      expect(handled(u).at(-1)!.outcome).toMatch(/^admitted run /);
      // Without Alertmanager the labels come from the message itself.
      const d = await u.pipeline.wait(slackRuns(u)[0]!, AbortSignal.timeout(15_000));
      expect(d.fingerprints).toEqual([fingerprintOf({ alertname: 'db_pool_exhausted', service: 'users-only' })]);
      expect(diagnostics(fake, 'C0RANDOM', page.ts)).toHaveLength(1);
    } finally {
      await u.app.close();
    }
  });

  test('without slack.signingSecret the endpoints are 404 and the log says so at start', async () => {
    const off = await testApp({ slack: { token: fake.token, apiUrl: fake.url, alertsChannel: ALERTS }, routes: [{ enrichers: [] }] });
    try {
      expect(off.log.records().some((r) => r.msg === 'slack entry points off: set slack.signingSecret (and slack.token) to serve them')).toBe(true);
      const body = form(shortcut(fake, fake.seedAlertmanagerPage(ALERTS, { groupLabels: { alertname: 'x' }, labels: { alertname: 'x' } })));
      for (const url of ['/slack/events', '/slack/interactions']) {
        const res = await off.app.inject({ method: 'POST', url, headers: { ...FORM, ...signed(body) }, payload: body });
        expect(res.statusCode).toBe(404);
      }
    } finally {
      await off.app.close();
    }
  });

  test('a signing secret without a token is a configuration error naming the path', () => {
    expect(() => parseConfig({ slack: { signingSecret: SECRET, alertsChannel: ALERTS } }, {})).toThrow(/slack\.signingSecret: .*set slack\.token/);
  });

  test('over a real socket: the raw bytes as sent are what is verified', async () => {
    const s = await app({ alertmanager: false });
    try {
      const address = await s.app.listen({ host: '127.0.0.1', port: 0 });
      // Bytes a re-encoding parser would change: a JSON escape, non-ASCII, spaces, a trailing newline.
      const body = '{"type": "url_verification", "challenge": "caf\\u00e9 \u2713"}\n';
      const ok = await fetch(`${address}/slack/events`, { method: 'POST', headers: { ...JSON_CT, ...signed(body) }, body, signal: AbortSignal.timeout(5_000) });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ challenge: 'caf\u00e9 \u2713' });
      const reencoded = JSON.stringify(JSON.parse(body));
      expect(reencoded).not.toBe(body);
      const bad = await fetch(`${address}/slack/events`, {
        method: 'POST',
        headers: { ...JSON_CT, ...signed(body) },
        body: reencoded,
        signal: AbortSignal.timeout(5_000),
      });
      expect(bad.status).toBe(401);
    } finally {
      await s.app.close();
    }
  });

  test('the endpoints are rate limited (server.rateLimitPerMinute)', async () => {
    const limited = await app({ server: { rateLimitPerMinute: 3 }, alertmanager: false });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 5; i++) {
        const body = JSON.stringify({ type: 'url_verification', challenge: `c${i}` });
        codes.push((await limited.app.inject({ method: 'POST', url: '/slack/events', headers: { ...JSON_CT, ...signed(body) }, payload: body })).statusCode);
      }
      expect(codes).toEqual([200, 200, 200, 429, 429]);
    } finally {
      await limited.app.close();
    }
  });
});
