import type { Diagnostic } from '../../src/core/diagnostic';
import { NotifyError } from '../../src/core/notifier';
import { withRetry } from '../../src/core/retry';
import { createSlackApi, slackLogger } from '../../src/slack/client';
import { slackConfigSchema, type SlackConfig } from '../../src/slack/config';
import { createSlackNotifier } from '../../src/slack/notifier';
import { pickPage, type ThreadState } from '../../src/slack/thread';
import { SqliteStore } from '../../src/store/sqlite';
import { FakeSlack, SlackFakeError, type FakeMessage } from '../fakes/slack';
import { capturingLogger } from '../support/capture';
import { tempStores } from './support';
import { sampleDiagnostic, sampleGroup } from '../notifiers/sample';

const ALERTS = 'C0ALERTS';
const INCIDENT = 'C0INCIDENT';
const POLICY = { budgetMs: 20_000, maxAttempts: 5, initialBackoffMs: 100, maxBackoffMs: 1_000 };

let fake: FakeSlack;
const state = tempStores('slack');

beforeEach(async () => {
  fake = await FakeSlack.start();
});
afterEach(async () => {
  await state.cleanup();
  await fake.close();
});

function openStore(): SqliteStore {
  return state.open();
}

function config(over: Record<string, unknown> = {}): SlackConfig {
  return slackConfigSchema.parse({
    token: fake.token,
    apiUrl: fake.url,
    alertsChannel: ALERTS,
    incidentChannel: INCIDENT,
    timeoutMs: 2_000,
    retries: 1,
    threadSearchWaitMs: 300,
    threadSearchPollMs: 100,
    channelIntervalMs: 50,
    ...over,
  });
}

function ctx(d: Diagnostic, log = capturingLogger()) {
  return { group: sampleGroup(d.status), signal: AbortSignal.timeout(20_000), logger: log.logger, attempt: 1 };
}

function blocksText(m: FakeMessage | undefined): string {
  return JSON.stringify(m?.blocks ?? []);
}

/** The same diagnostic a while later: slow queries now lead, the pool is full. */
function rerun(id: string, trigger: Diagnostic['trigger']): Diagnostic {
  const d = sampleDiagnostic({ id, trigger, startedAt: '2026-11-27T06:30:00.000Z', finishedAt: '2026-11-27T06:30:02.000Z' });
  d.causes = [
    { id: 'slow_queries', title: 'Slow queries', confidence: 0.6, evidence: ['3 queries over 30 s'], actions: ['Cancel the slowest query'] },
    { id: 'connection_leak', title: 'Connection leak', confidence: 0.55, evidence: [], actions: [] },
  ];
  const pool = d.enrichments[0]!;
  pool.sections[0] = {
    type: 'fields',
    title: 'Pool now',
    fields: [
      { label: 'active', value: '20' },
      { label: 'idle', value: '0' },
      { label: 'total', value: '20' },
      { label: 'utilization', value: '100%' },
    ],
  };
  return d;
}

describe('Slack notifier against the fake Slack', () => {
  it('firing, re-run, restart, repeat and resolve all land in one thread; chart and incident summary with permalink', async () => {
    let store = openStore();
    let notifier = createSlackNotifier(config(), { store });
    const first = sampleDiagnostic();
    const detail = await notifier.notify(first, ctx(first));

    // No page in the alerts channel: our own parent, the diagnostic in its thread.
    const parents = fake.topLevel(ALERTS);
    expect(parents).toHaveLength(1);
    const parent = parents[0]!;
    expect(detail).toBe(`thread ${fake.origin}/archives/${ALERTS}/p${parent.ts.replace('.', '')}`);
    const diag = fake.replies(ALERTS, parent.ts).find((m) => blocksText(m).includes('pf_header'))!;
    expect(blocksText(diag)).toContain('Most likely: Connection leak (82% confidence)');
    expect(blocksText(diag)).toContain('rerun_diagnosis');

    // The chart: a PNG shared into the thread.
    const upload = [...fake.uploads.values()][0]!;
    expect(upload).toMatchObject({ completed: true, channel: ALERTS, threadTs: parent.ts });
    expect(upload.bytes!.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(fake.replies(ALERTS, parent.ts).some((m) => m.files?.[0]?.id === upload.id)).toBe(true);

    // The incident summary: top-level, with the permalink to the thread.
    const incident = fake.topLevel(INCIDENT);
    expect(incident).toHaveLength(1);
    expect(blocksText(incident[0])).toContain(`<${fake.origin}/archives/${ALERTS}/p${parent.ts.replace('.', '')}|`);
    expect(blocksText(incident[0])).toContain('Connection leak');

    // A resumed run that already finished posts nothing more.
    const posts = fake.callsOf('chat.postMessage').length;
    await notifier.notify(first, ctx(first));
    expect(fake.callsOf('chat.postMessage')).toHaveLength(posts);

    // A manual re-run: the diagnostic is updated in place, a reply says what changed.
    const second = rerun('run-2', 'manual');
    await notifier.notify(second, ctx(second));
    expect(fake.find(ALERTS, diag.ts)!.edited).toBeDefined();
    expect(blocksText(fake.find(ALERTS, diag.ts))).toContain('Most likely: Slow queries (60% confidence)');
    const change = fake.replies(ALERTS, parent.ts).filter((m) => blocksText(m).includes('pf_change'));
    expect(change).toHaveLength(1);
    const changeText = blocksText(change[0]);
    expect(changeText).toContain('Slow queries: 31% → 60%');
    expect(changeText).toContain('Connection leak: 82% → 55%');
    expect(changeText).toContain('pool / active: 19 → 20');

    // Restart: a new store handle and notifier on the same file; a repeat lands in the same thread.
    await state.close(store);
    store = openStore();
    notifier = createSlackNotifier(config(), { store });
    const third = rerun('run-3', 'webhook');
    await notifier.notify(third, ctx(third));
    const changes = fake.replies(ALERTS, parent.ts).filter((m) => blocksText(m).includes('pf_change'));
    expect(changes).toHaveLength(2);
    expect(blocksText(changes[1])).toContain('Nothing changed since the last run.');

    // The resolve: a reply with how long it lasted; our parent and the incident summary say resolved.
    const resolved = rerun('run-4', 'webhook');
    resolved.status = 'resolved';
    resolved.alert = { ...resolved.alert!, endsAt: '2026-11-27T06:40:16.301Z' };
    await notifier.notify(resolved, ctx(resolved));
    const replies = fake.replies(ALERTS, parent.ts);
    expect(replies.filter((m) => blocksText(m).includes('pf_resolved'))).toHaveLength(1);
    expect(blocksText(replies.find((m) => blocksText(m).includes('pf_resolved')))).toContain('Resolved after 15m 00s');
    expect(blocksText(fake.find(ALERTS, parent.ts))).toContain(':white_check_mark: RESOLVED db_pool_exhausted (critical)');
    expect(blocksText(fake.find(ALERTS, parent.ts))).toContain('Resolved after 15m 00s');
    expect(blocksText(fake.find(INCIDENT, incident[0]!.ts))).toContain('Resolved after 15m 00s');

    // Everything in one thread: one parent, one diagnostic message, one incident summary.
    expect(fake.topLevel(ALERTS)).toHaveLength(1);
    expect(fake.topLevel(INCIDENT)).toHaveLength(1);
    expect(replies.filter((m) => blocksText(m).includes('pf_header'))).toHaveLength(1);
    expect(fake.callsOf('chat.postMessage').every((c) => c.ok)).toBe(true);
    const thread = (await store.getNotifierState<ThreadState>('slack', `thread:${first.groupKey}`))!;
    expect(thread).toMatchObject({
      channel: ALERTS,
      ts: parent.ts,
      own: true,
      diagnosticTs: diag.ts,
      resolved: true,
      incident: { channel: INCIDENT, ts: incident[0]!.ts },
    });
  });

  it('two concurrent runs for one group create one parent (one process, and two notifiers on one store)', async () => {
    const store = openStore();
    const notifier = createSlackNotifier(config(), { store });
    const a = sampleDiagnostic({ id: 'run-a' });
    const b = rerun('run-b', 'manual');
    await Promise.all([notifier.notify(a, ctx(a)), notifier.notify(b, ctx(b))]);
    expect(fake.topLevel(ALERTS)).toHaveLength(1);
    expect(fake.replies(ALERTS, fake.topLevel(ALERTS)[0]!.ts).filter((m) => blocksText(m).includes('pf_header'))).toHaveLength(1);

    // Two processes: the store's first write wins and the loser removes its parent.
    const other = sampleDiagnostic({ id: 'run-c', groupKey: 'other-group' });
    const n1 = createSlackNotifier(config({ chart: false, incidentChannel: undefined }), { store });
    const n2 = createSlackNotifier(config({ chart: false, incidentChannel: undefined }), { store: openStore() });
    await Promise.all([n1.notify(other, ctx(other)), n2.notify({ ...other, id: 'run-d' }, ctx(other))]);
    const owners = fake.topLevel(ALERTS).filter((m) => blocksText(m).includes('pf_parent'));
    expect(owners).toHaveLength(2); // one per group
    expect(fake.callsOf('chat.delete')).toHaveLength(1);
  });

  it('replies in the thread of the page Alertmanager posted, found by alertname and labels', async () => {
    const start = Date.parse('2026-11-27T06:25:16.301Z');
    fake.seedAlertmanagerPage(ALERTS, {
      groupLabels: { alertname: 'db_pool_exhausted_replica' },
      labels: { alertname: 'db_pool_exhausted_replica' },
      at: start + 20_000,
    });
    fake.seedMessage(ALERTS, { text: 'someone talking about db_pool_exhausted', ts: fake.nextTs(start + 25_000) }).thread_ts = '1.000001';
    const page = fake.seedAlertmanagerPage(ALERTS, {
      groupLabels: { alertname: 'db_pool_exhausted' },
      labels: { alertname: 'db_pool_exhausted', severity: 'critical', team: 'backend' },
      at: start + 31_000,
    });
    const store = openStore();
    const notifier = createSlackNotifier(config({ chart: false }), { store });
    const d = sampleDiagnostic();
    const detail = await notifier.notify(d, ctx(d));
    expect(fake.topLevel(ALERTS).filter((m) => m.bot_id === fake.botId)).toHaveLength(0);
    expect(fake.replies(ALERTS, page.ts).filter((m) => blocksText(m).includes('pf_header'))).toHaveLength(1);
    expect(detail).toContain(`p${page.ts.replace('.', '')}`);
    expect(blocksText(fake.topLevel(INCIDENT)[0])).toContain(`p${page.ts.replace('.', '')}`);
    // The resolve replies there too and leaves Alertmanager's own message alone.
    const r = { ...rerun('run-2', 'webhook'), status: 'resolved' as const };
    await notifier.notify(r, ctx(r));
    expect(fake.replies(ALERTS, page.ts).some((m) => blocksText(m).includes('pf_resolved'))).toBe(true);
    expect(fake.callsOf('chat.update').some((c) => c.args.ts === page.ts)).toBe(false);
  });

  it('waits for a page that arrives after the diagnosis, polling', async () => {
    const store = openStore();
    const notifier = createSlackNotifier(config({ chart: false, incidentChannel: undefined, threadSearchWaitMs: 2_000, threadSearchPollMs: 100 }), { store });
    const d = sampleDiagnostic();
    setTimeout(() => fake.seedAlertmanagerPage(ALERTS, { groupLabels: { alertname: 'db_pool_exhausted' }, labels: { alertname: 'db_pool_exhausted' } }), 300);
    await notifier.notify(d, ctx(d));
    const top = fake.topLevel(ALERTS);
    expect(top).toHaveLength(1);
    expect(top[0]!.username).toBe('Alertmanager');
    expect(fake.replies(ALERTS, top[0]!.ts)).toHaveLength(1);
    expect(fake.callsOf('conversations.history').length).toBeGreaterThan(1);
  });

  it('without an alerts channel, our parent in the incident channel is the thread', async () => {
    const store = openStore();
    const notifier = createSlackNotifier(config({ alertsChannel: undefined, chart: false }), { store });
    const d = sampleDiagnostic();
    await notifier.notify(d, ctx(d));
    const top = fake.topLevel(INCIDENT);
    expect(top).toHaveLength(1);
    expect(blocksText(top[0])).toContain('pf_parent');
    expect(fake.replies(INCIDENT, top[0]!.ts)).toHaveLength(1);
    expect(fake.callsOf('conversations.history')).toHaveLength(0);
  });

  it('a 429 waits Retry-After and the retry goes on without posting twice', async () => {
    const store = openStore();
    const notifier = createSlackNotifier(config({ chart: false }), { store });
    fake.failNext('chat.getPermalink', 1, { status: 429, retryAfter: 1 });
    const d = sampleDiagnostic();
    const result = await withRetry((attempt, signal) => notifier.notify(d, { ...ctx(d), signal, attempt }), POLICY);
    expect(result).toMatchObject({ ok: true, attempts: 2 });
    const [limited, ok] = fake.callsOf('chat.getPermalink');
    expect(limited!.status).toBe(429);
    expect(ok!.time - limited!.time).toBeGreaterThanOrEqual(950);
    expect(fake.topLevel(ALERTS)).toHaveLength(1);
    expect(fake.replies(ALERTS, fake.topLevel(ALERTS)[0]!.ts)).toHaveLength(1);
  });

  it('a post whose answer was lost is not posted again by the retry (own parent, diagnostic, incident summary)', async () => {
    const notifier = createSlackNotifier(config({ chart: false }), { store: openStore() });
    fake.failAfter('chat.postMessage', 1, { status: 500 });
    const d = sampleDiagnostic();
    const first = await withRetry((attempt, signal) => notifier.notify(d, { ...ctx(d), signal, attempt }), POLICY);
    expect(first).toMatchObject({ ok: true, attempts: 2 });
    expect(fake.topLevel(ALERTS)).toHaveLength(1);

    const page = fake.seedAlertmanagerPage(ALERTS, { groupLabels: { alertname: 'other_alert' }, labels: { alertname: 'other_alert' } });
    const other = sampleDiagnostic({ id: 'run-o', alertname: 'other_alert', groupKey: 'other' });
    other.alert!.labels = { alertname: 'other_alert' };
    fake.failAfter('chat.postMessage', 2, { status: 500 });
    const second = await withRetry(
      (attempt, signal) =>
        notifier.notify(other, { ...ctx(other), group: { ...ctx(other).group, groupLabels: { alertname: 'other_alert' } }, signal, attempt }),
      POLICY,
    );
    expect(second).toMatchObject({ ok: true, attempts: 3 });
    expect(fake.replies(ALERTS, page.ts)).toHaveLength(1);
    expect(fake.topLevel(INCIDENT)).toHaveLength(2);
    expect(fake.callsOf('chat.postMessage').filter((c) => !c.ok)).toHaveLength(3);
  });

  it('5xx for a while are retried until Slack answers', async () => {
    const store = openStore();
    const notifier = createSlackNotifier(config({ chart: false, incidentChannel: undefined }), { store });
    // three 500s in a row (a count, not a time window: a loaded machine makes fewer attempts in a window)
    fake.failNext('chat.postMessage', 3, { status: 500 });
    const d = sampleDiagnostic();
    const result = await withRetry((attempt, signal) => notifier.notify(d, { ...ctx(d), signal, attempt }), POLICY);
    expect(result.ok).toBe(true);
    expect(fake.callsOf('chat.postMessage').filter((c) => c.status === 500)).toHaveLength(3);
    expect(fake.topLevel(ALERTS)).toHaveLength(1);
  });

  it.each([
    ['channel_not_found', () => ({ alertsChannel: 'C0NOPE' }), 'a channel the app can see'],
    [
      'not_in_channel',
      () => (fake.addChannel('C0OUT', { member: false }), fake.scopes.delete('channels:join'), { alertsChannel: 'C0OUT', incidentChannel: undefined }),
      'invite the Slack app',
    ],
    ['invalid_auth', () => ({ token: 'xoxb-wrong' }), 'reinstall the app'],
    ['token_revoked', () => (fake.revokedTokens.add(fake.token), {}), 'reinstall the app'],
    ['is_archived', () => (fake.addChannel('C0OLD', { archived: true }), { alertsChannel: undefined, incidentChannel: 'C0OLD' }), 'unarchive'],
  ])('%s is final, logged with what to fix, and the token never shows', async (code, setup, fix) => {
    const store = openStore();
    const log = capturingLogger();
    const notifier = createSlackNotifier(config({ chart: false, ...setup() }), { store });
    const d = sampleDiagnostic();
    const result = await withRetry((attempt, signal) => notifier.notify(d, { ...ctx(d, log), signal, attempt }), POLICY);
    expect(result).toMatchObject({ ok: false, final: true, attempts: 1 });
    expect(!result.ok && result.error.message).toContain(code);
    const line = log.records().find((r) => r.slackError === code && r.level === 50)!;
    expect(line).toMatchObject({ level: 50, msg: 'slack refused the call; it will not be retried' });
    expect(String(line.fix)).toContain(fix);
    expect(log.lines.join('')).not.toContain(fake.token);
    expect(!result.ok && result.error.message).not.toContain(fake.token);
  });

  it('without read access to the alerts channel, it posts its own parent there and says what to fix', async () => {
    fake.handle('conversations.history', () => {
      throw new SlackFakeError('missing_scope', { needed: 'channels:history' });
    });
    const log = capturingLogger();
    const notifier = createSlackNotifier(config({ chart: false, incidentChannel: undefined }), { store: openStore() });
    const d = sampleDiagnostic();
    await notifier.notify(d, ctx(d, log));
    expect(fake.topLevel(ALERTS)).toHaveLength(1);
    expect(log.records().find((r) => r.slackError === 'missing_scope')).toMatchObject({ level: 40, fix: expect.stringContaining('channels:history') });
  });

  it('classifies 429 (with Retry-After), 5xx and ok:false errors from the real client', async () => {
    const api = createSlackApi({ token: fake.token, apiUrl: fake.url, timeoutMs: 2_000, retries: 0, channelIntervalMs: 0 });
    const signal = AbortSignal.timeout(10_000);
    fake.failNext('chat.postMessage', 1, { status: 429, retryAfter: 2 });
    await expect(api.postMessage({ channel: ALERTS, text: 'x' }, signal)).rejects.toMatchObject({ retryable: true, retryAfterMs: 2_000, code: 'ratelimited' });
    fake.failNext('chat.postMessage', 1, { status: 503 });
    await expect(api.postMessage({ channel: ALERTS, text: 'x' }, signal)).rejects.toMatchObject({ retryable: true, code: 'http_503' });
    fake.failNext('chat.postMessage', 1, { status: 200, error: 'internal_error' });
    await expect(api.postMessage({ channel: ALERTS, text: 'x' }, signal)).rejects.toMatchObject({ retryable: true, code: 'internal_error' });
    await expect(
      api.postMessage({ channel: ALERTS, text: 'x', blocks: Array.from({ length: 51 }, () => ({ type: 'divider' as const })) }, signal),
    ).rejects.toMatchObject({ retryable: false, code: 'invalid_blocks' });
    await expect(api.postMessage({ channel: ALERTS, text: 'x'.repeat(40_001) }, signal)).rejects.toMatchObject({ retryable: false, code: 'msg_too_long' });
    const closed = await FakeSlack.start();
    const url = closed.url;
    await closed.close();
    const down = createSlackApi({ token: fake.token, apiUrl: url, timeoutMs: 500, retries: 0, channelIntervalMs: 0 });
    await expect(down.postMessage({ channel: ALERTS, text: 'x' }, signal)).rejects.toMatchObject({ retryable: true, code: 'request_error' });
    expect(() => createSlackApi({ token: undefined, apiUrl: url, timeoutMs: 1, retries: 0, channelIntervalMs: 0 })).toThrow('slack.token');
  });

  it('sends the message when the chart cannot be rendered or uploaded', async () => {
    const log = capturingLogger();
    const store = openStore();
    const broken = createSlackNotifier(config({ incidentChannel: undefined }), { store, renderChart: async () => Promise.reject(new Error('no fonts')) });
    const d = sampleDiagnostic();
    await broken.notify(d, ctx(d, log));
    expect(fake.replies(ALERTS, fake.topLevel(ALERTS)[0]!.ts)).toHaveLength(1);
    expect(log.records().some((r) => r.msg === 'pool chart not sent; the diagnostic went out without it' && String(r.err).includes('no fonts'))).toBe(true);

    // Slack fails every try of the upload: three tries, then the run goes on without the chart.
    fake.failNext('files.getUploadURLExternal', 3, { status: 429, retryAfter: 0 });
    const d2 = sampleDiagnostic({ id: 'run-x', groupKey: 'g2' });
    await createSlackNotifier(config({ incidentChannel: undefined }), { store }).notify(d2, ctx(d2, log));
    expect(fake.callsOf('files.getUploadURLExternal')).toHaveLength(3);
    expect(fake.uploads.size).toBe(0);
    expect(fake.topLevel(ALERTS)).toHaveLength(2);
    expect(log.records().filter((r) => r.msg === 'pool chart upload failed; trying again')).toHaveLength(2);
    expect(log.records().some((r) => r.msg === 'pool chart not sent; the diagnostic went out without it' && String(r.err).includes('rate limited'))).toBe(true);
  });

  it('a rate-limited chart upload waits Retry-After and goes out once', async () => {
    const log = capturingLogger();
    fake.failNext('files.getUploadURLExternal', 1, { status: 429, retryAfter: 1 });
    const d = sampleDiagnostic();
    const t0 = Date.now();
    await createSlackNotifier(config({ incidentChannel: undefined }), { store: openStore() }).notify(d, ctx(d, log));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_000); // it waited as Slack asked
    const thread = fake.replies(ALERTS, fake.topLevel(ALERTS)[0]!.ts);
    expect(thread.flatMap((m) => m.files ?? [])).toHaveLength(1);
    expect([...fake.uploads.values()].filter((u) => u.completed)).toHaveLength(1);
  });

  it('a chart upload whose answer is lost is found in the thread, not shared twice', async () => {
    const log = capturingLogger();
    fake.failAfter('files.completeUploadExternal', 1, { status: 500 });
    const d = sampleDiagnostic();
    await createSlackNotifier(config({ incidentChannel: undefined }), { store: openStore() }).notify(d, ctx(d, log));
    const thread = fake.replies(ALERTS, fake.topLevel(ALERTS)[0]!.ts);
    expect(thread.flatMap((m) => m.files ?? [])).toHaveLength(1);
    expect(fake.callsOf('files.completeUploadExternal')).toHaveLength(1);
    expect(log.records().some((r) => r.msg === 'pool chart upload failed; trying again')).toBe(true);
  });

  it('paces messages to one channel at one a second', async () => {
    const store = openStore();
    const notifier = createSlackNotifier(config({ chart: false, incidentChannel: undefined, channelIntervalMs: 1_000, threadSearchWaitMs: 0 }), { store });
    const d = sampleDiagnostic();
    await notifier.notify(d, ctx(d));
    const times = fake.calls.filter((c) => ['chat.postMessage', 'chat.update'].includes(c.method)).map((c) => c.time);
    expect(times.length).toBe(2);
    // Arrival times at the fake: the pacer spaces the sends a second apart, and the first request
    // can reach the fake late on a loaded machine (63 ms seen at load 15), which shortens the gap
    // the fake sees by as much. A message sent with no pacing at all arrives within a few ms.
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(750);
  });

  it('an abort stops the delivery with a retryable error', async () => {
    const store = openStore();
    const notifier = createSlackNotifier(config({ threadSearchWaitMs: 5_000 }), { store });
    const d = sampleDiagnostic();
    const err = await notifier.notify(d, { ...ctx(d), signal: AbortSignal.timeout(200) }).catch((e) => e);
    expect(err).toBeInstanceOf(NotifyError);
    expect(err.retryable).toBe(true);
  });
});

describe('notifier registry', () => {
  it('builds the slack notifier from the config', async () => {
    const { createNotifiers } = await import('../../src/notifiers');
    const store = openStore();
    const list = createNotifiers(['slack', 'console'], { config: { slack: config(), links: {} }, store, out: process.stdout });
    expect([...list.keys()]).toEqual(['slack', 'console']);
  });
});

describe('page matching and the client logger', () => {
  const alert = {
    alertname: 'db_pool_exhausted',
    groupLabels: { alertname: 'db_pool_exhausted', cluster: 'eu-1' },
    labels: { alertname: 'db_pool_exhausted', cluster: 'eu-1', instance: 'api-2' },
  };
  const att = (ts: string, title: string, text = '') => ({ ts, attachments: [{ title, text }] });

  it('prefers the firing page of this group, with the most labels, then the earliest', () => {
    const msgs = [
      att('10.1', '[RESOLVED] db_pool_exhausted eu-1'),
      att('10.2', '[FIRING:1] db_pool_exhausted eu-2'),
      att('10.3', '[FIRING:1] db_pool_exhausted_replica eu-1'),
      att('10.4', '[FIRING:1] db_pool_exhausted eu-1', 'instance: `api-2`'),
      att('10.5', '[FIRING:1] db_pool_exhausted eu-1'),
      { ts: '10.6', text: 'FIRING db_pool_exhausted eu-1 api-2', blocks: [{ type: 'header', block_id: 'pf_parent' }] },
      { ts: '10.7', thread_ts: '10.4', text: '[FIRING:1] db_pool_exhausted eu-1 api-2' },
    ];
    expect(pickPage(msgs, alert)?.ts).toBe('10.4');
    expect(pickPage(msgs.slice(0, 3), alert)?.ts).toBe('10.1');
    expect(pickPage([{ ts: '1.0', text: '&lt;b&gt; db_pool_exhausted eu-1' }], alert)?.ts).toBe('1.0');
    expect(pickPage([], alert)).toBeUndefined();
  });

  it("scrubs the token from the Slack client's own log lines and drops its debug output", () => {
    const log = capturingLogger();
    const l = slackLogger('xoxb-secret-123', log.logger);
    l.debug('http request body: token=xoxb-secret-123');
    l.warn('http request failed', 'Authorization: Bearer xoxb-secret-123');
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toContain('[REDACTED]');
    expect(log.lines[0]).not.toContain('xoxb-secret-123');
  });
});
