/**
 * Slack workspaces as they are in the wild (issue 14, test/fixtures/field/14-…): channels
 * configured by name, private channels, channels the app is not in, and stored threads that are
 * gone (parent deleted, channel archived or deleted). Everything against the fake Slack, which
 * answers as Slack's method reference says (test/fakes/slack.ts).
 */
import type { Diagnostic } from '../../src/core/diagnostic';
import { withRetry } from '../../src/core/retry';
import { createChannelDirectory, SlackChannelConfigError } from '../../src/slack/channels';
import { createSlackApi } from '../../src/slack/client';
import { slackConfigSchema, type SlackConfig } from '../../src/slack/config';
import { createSlackNotifier } from '../../src/slack/notifier';
import type { ThreadState } from '../../src/slack/thread';
import { refusal } from '../../src/slack/entry';
import { SqliteStore } from '../../src/store/sqlite';
import field from '../fixtures/field/14-slack-channel-names-and-deleted-thread.json';
import { FakeSlack, type FakeMessage } from '../fakes/slack';
import { capturingLogger } from '../support/capture';
import { tempStores } from './support';
import { sampleDiagnostic, sampleGroup } from '../notifiers/sample';

/** The field report's workspace: #alerts and #incidents by the ids Slack gave them there. */
const ALERTS = 'C0ALERTS01';
const INCIDENT = 'C0INCIDENT1';
const POLICY = { budgetMs: 20_000, maxAttempts: 5, initialBackoffMs: 100, maxBackoffMs: 1_000 };
const ALERT_START = Date.parse('2026-11-27T06:25:16.301Z');

let fake: FakeSlack;
const state = tempStores('slack-field');

beforeEach(async () => {
  // many other channels, private ones, a short page cap: the names are found only by following the cursor
  fake = await FakeSlack.start({
    token: 'xoxb-field-test-token',
    channels: [
      // ids that sort before the field's, so the names are on the last pages
      ...Array.from({ length: 25 }, (_, i) => ({ id: `C0A${String(i).padStart(3, '0')}`, name: `team-${i}` })),
      { id: ALERTS, name: 'alerts' },
      { id: INCIDENT, name: 'incidents', private: true },
      { id: 'C0SECRET01', name: 'secret-ops', private: true, member: false },
    ],
    listPageMax: 7,
  });
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
    // the field report's configuration: channels by name, as in Alertmanager's slack_configs
    alertsChannel: field.A_channel_names.pagefirst_config_excerpt.slack.alertsChannel,
    incidentChannel: field.A_channel_names.pagefirst_config_excerpt.slack.incidentChannel,
    timeoutMs: 2_000,
    retries: 0,
    threadSearchWaitMs: 300,
    threadSearchPollMs: 100,
    channelIntervalMs: 0,
    chart: false,
    ...over,
  });
}

function ctx(d: Diagnostic, log = capturingLogger()) {
  return { group: sampleGroup(d.status), signal: AbortSignal.timeout(20_000), logger: log.logger, attempt: 1 };
}

const isDiagnostic = (m: FakeMessage) => JSON.stringify(m.blocks ?? []).includes('pf_header');

function seedPage(at: number): FakeMessage {
  return fake.seedAlertmanagerPage(ALERTS, {
    groupLabels: { alertname: 'db_pool_exhausted' },
    labels: { alertname: 'db_pool_exhausted', severity: 'critical' },
    at,
  });
}

describe('the fake Slack answers the field report as Slack did', () => {
  test('names are refused where Slack wants ids, and taken where it takes names', async () => {
    const call = (method: string, args: Record<string, string>) =>
      fetch(`${fake.url}${method}`, { method: 'POST', headers: { authorization: `Bearer ${fake.token}` }, body: new URLSearchParams(args) }).then(
        (r) => r.json() as Promise<Record<string, unknown>>,
      );
    const A = field.A_channel_names.slack_responses;
    expect(await call('conversations.history', { channel: '#alerts' })).toEqual(A['conversations.history {channel: "#alerts"}']);
    expect(await call('chat.update', { channel: '#alerts', ts: '1700000000.000100', text: 'x' })).toEqual(A['chat.update {channel: "#alerts", ...}']);
    expect(await call('chat.postMessage', { channel: '#incidents', text: 'x' })).toMatchObject({
      ok: true,
      channel: A['chat.postMessage {channel: "#incidents", ...}'].channel,
    });
  });
});

describe('channels configured by name', () => {
  test('a workspace configured by names works from the first page: the diagnostic in the page thread, the summary in the private incident channel', async () => {
    const store = openStore();
    const api = createSlackApi(config(), {});
    const log = capturingLogger();
    const channels = createChannelDirectory(config(), { api, logger: log.logger });
    await channels.start();
    expect(channels.idOf('#alerts')).toBe(ALERTS);
    expect(channels.idOf('#incidents')).toBe(INCIDENT);
    // every page followed (7 a page, 28 channels visible), types public and private, archived left out
    const lists = fake.callsOf('conversations.list');
    expect(lists.length).toBeGreaterThanOrEqual(4);
    expect(lists[0]!.args).toMatchObject({ types: 'public_channel,private_channel', exclude_archived: 'true', limit: '200' });

    const page = seedPage(ALERT_START + 31_000);
    const notifier = createSlackNotifier(config(), { store, api, channels });
    const d = sampleDiagnostic();
    const result = await withRetry((attempt, signal) => notifier.notify(d, { ...ctx(d, log), signal, attempt }), POLICY);
    expect(result).toMatchObject({ ok: true, attempts: 1 });
    expect(fake.replies(ALERTS, page.ts).filter(isDiagnostic)).toHaveLength(1);
    expect(fake.topLevel(INCIDENT)).toHaveLength(1);
    // no Slack call named a channel by name, and none failed
    expect(fake.calls.filter((c) => typeof c.args.channel === 'string' && !/^C0/.test(c.args.channel))).toEqual([]);
    expect(fake.calls.filter((c) => !c.ok)).toEqual([]);
  });

  test("the allowlists compare ids: the field's shortcut in #alerts (sent as C0ALERTS01) is allowed with the channel configured by name", async () => {
    const shortcut = field.A_channel_names.message_shortcut_interaction_excerpt;
    const channels = createChannelDirectory(config(), { api: createSlackApi(config(), {}) });
    // not looked up yet: refusal looks the names up itself
    const signal = AbortSignal.timeout(10_000);
    expect(await refusal(config(), channels, shortcut.channel.id, shortcut.user.id, signal)).toBeUndefined();
    expect(await refusal(config(), channels, 'C0A001', shortcut.user.id, signal)).toContain('slack.allowedChannels');
    const listed = config({ allowedChannels: ['#incidents', 'C0A002'] });
    expect(await refusal(listed, channels, INCIDENT, 'U1', signal)).toBeUndefined();
    expect(await refusal(listed, channels, 'C0A002', 'U1', signal)).toBeUndefined();
    expect(await refusal(listed, channels, ALERTS, 'U1', signal)).toContain('slack.allowedChannels');
  });

  test('a name that resolves to nothing stops the start, naming the key and the scopes', async () => {
    const channels = createChannelDirectory(config({ incidentChannel: '#incident-room' }), { api: createSlackApi(config(), {}) });
    const err = await channels.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SlackChannelConfigError);
    expect((err as Error).message).toMatch(/slack\.incidentChannel: no Slack channel named #incident-room/);
    expect((err as Error).message).toContain('channels:read');
    expect((err as Error).message).toContain('groups:read');
  });

  test('a private channel the app was not invited to cannot be found; without groups:read the error says private channels were not listed', async () => {
    const hidden = createChannelDirectory(config({ incidentChannel: '#secret-ops' }), { api: createSlackApi(config(), {}) });
    await expect(hidden.start()).rejects.toThrow(/#secret-ops.*invite the app/);
    fake.scopes.delete('groups:read');
    const noGroups = createChannelDirectory(config(), { api: createSlackApi(config(), {}) });
    await expect(noGroups.start()).rejects.toThrow(/slack\.incidentChannel.*lacks groups:read, so private channels were not listed/);
    // the public one was still found, by listing public channels alone
    expect(noGroups.idOf('#alerts')).toBe(ALERTS);
    expect(fake.callsOf('conversations.list').some((c) => c.args.types === 'public_channel')).toBe(true);
  });

  test('without channels:read the start says which scope to add; Slack unreachable does not stop the start, the names are looked up on first use', async () => {
    fake.scopes.delete('channels:read');
    const noRead = createChannelDirectory(config(), { api: createSlackApi(config(), {}) });
    await expect(noRead.start()).rejects.toThrow(/lacks the channels:read scope/);
    fake.scopes.add('channels:read');

    fake.failFor('conversations.list', 60_000, { status: 503 });
    const log = capturingLogger();
    const api = createSlackApi(config(), {});
    const channels = createChannelDirectory(config({ channelLookupTimeoutMs: 2_000 }), { api, logger: log.logger });
    await channels.start();
    expect(log.records().some((r) => String(r.msg).includes('could not look up the Slack channel names yet'))).toBe(true);
    expect(channels.idOf('#alerts')).toBeUndefined();
    // a delivery while Slack still fails is retryable, not final
    const notifier = createSlackNotifier(config(), { store: openStore(), api, channels });
    const d = sampleDiagnostic();
    await expect(notifier.notify(d, ctx(d))).rejects.toMatchObject({ retryable: true });
  });

  test('a channel deleted and recreated under the same name: channel_not_found makes the name be looked up again, and the post goes to the new id', async () => {
    const api = createSlackApi(config(), {});
    const channels = createChannelDirectory(config({ incidentChannel: undefined }), { api });
    await channels.start();
    fake.channels.delete(ALERTS);
    fake.addChannel('C0ALERTS02', { name: 'alerts' });
    const notifier = createSlackNotifier(config({ incidentChannel: undefined, threadSearchWaitMs: 0 }), { store: openStore(), api, channels });
    const d = sampleDiagnostic();
    const result = await withRetry((attempt, signal) => notifier.notify(d, { ...ctx(d), signal, attempt }), POLICY);
    expect(result).toMatchObject({ ok: true, attempts: 1 });
    expect(fake.topLevel('C0ALERTS02')).toHaveLength(1);
    expect(channels.idOf('#alerts')).toBe('C0ALERTS02');
  });

  test('a public channel the app is not in is joined at start; without channels:join it is said once, clearly', async () => {
    fake.addChannel(ALERTS, { name: 'alerts', member: false });
    const channels = createChannelDirectory(config(), { api: createSlackApi(config(), {}) });
    await channels.start();
    expect(fake.callsOf('conversations.join')).toEqual([expect.objectContaining({ args: { channel: ALERTS }, ok: true })]);
    expect(fake.channels.get(ALERTS)!.member).toBe(true);

    fake.addChannel(ALERTS, { name: 'alerts', member: false });
    fake.scopes.delete('channels:join');
    const log = capturingLogger();
    const api = createSlackApi(config(), {});
    const again = createChannelDirectory(config(), { api, logger: log.logger });
    await again.start();
    const notifier = createSlackNotifier(config({ threadSearchWaitMs: 0 }), { store: openStore(), api, channels: again });
    const d = sampleDiagnostic();
    const result = await withRetry((attempt, signal) => notifier.notify(d, { ...ctx(d, log), signal, attempt }), POLICY);
    expect(result).toMatchObject({ ok: false, final: true, attempts: 1 });
    const said = log.records().filter((r) => String(r.msg).includes('is not in channel C0ALERTS01 and cannot join it'));
    expect(said).toHaveLength(1);
    expect(String(said[0]!.msg)).toContain('channels:join');
    expect(String(said[0]!.msg)).toContain('/invite @pagefirst');
  });
});

describe('dead threads', () => {
  /** The field report's stored thread (B): the page it hung under was deleted, and the same groupKey fires again. */
  async function storedDeadThread(store: SqliteStore, d: Diagnostic, over: Partial<ThreadState> = {}): Promise<ThreadState> {
    const stored = { ...(field.B_thread_parent_deleted.stored_thread_for_groupKey as ThreadState), ...over };
    await store.setNotifierState('slack', `thread:${d.groupKey}`, stored);
    return stored;
  }

  test("a group whose thread parent was deleted gets its next diagnostic under the alert's newer page, first try, and the summary links it", async () => {
    const store = openStore();
    const d = sampleDiagnostic();
    // the earlier summary in the incident channel, linking the dead thread
    const summary = fake.seedMessage(INCIDENT, { text: 'old summary', bot_id: fake.botId, user: fake.userId });
    const dead = await storedDeadThread(store, d, { incident: { channel: INCIDENT, ts: summary.ts } });
    expect(fake.find(ALERTS, dead.ts)).toBeUndefined();
    const page = seedPage(ALERT_START + 31_000);
    const log = capturingLogger();
    const notifier = createSlackNotifier(config(), { store });
    const result = await withRetry((attempt, signal) => notifier.notify(d, { ...ctx(d, log), signal, attempt }), POLICY);
    expect(result).toMatchObject({ ok: true, attempts: 1 });
    expect(fake.replies(ALERTS, page.ts).filter(isDiagnostic)).toHaveLength(1);
    const thread = (await store.getNotifierState<ThreadState>('slack', `thread:${d.groupKey}`))!;
    expect(thread).toMatchObject({ channel: ALERTS, ts: page.ts, own: false, incident: { channel: INCIDENT, ts: summary.ts } });
    // the same summary, updated to link the new thread
    expect(fake.topLevel(INCIDENT)).toHaveLength(1);
    expect(JSON.stringify(fake.find(INCIDENT, summary.ts)!.blocks)).toContain(`p${page.ts.replace('.', '')}`);
    expect(log.records().find((r) => r.msg === 'the stored Slack thread of this alert is gone; starting a new one')).toMatchObject({
      slackError: 'thread_not_found',
    });
  });

  test('without a newer page, our own parent starts the new thread; the dead diagnostic message is never edited', async () => {
    const store = openStore();
    const d = sampleDiagnostic();
    await storedDeadThread(store, d);
    const notifier = createSlackNotifier(config({ incidentChannel: undefined, threadSearchWaitMs: 0 }), { store });
    const result = await withRetry((attempt, signal) => notifier.notify(d, { ...ctx(d), signal, attempt }), POLICY);
    expect(result).toMatchObject({ ok: true, attempts: 1 });
    const [parent] = fake.topLevel(ALERTS);
    expect(parent).toMatchObject({ bot_id: fake.botId });
    expect(fake.replies(ALERTS, parent!.ts).filter(isDiagnostic)).toHaveLength(1);
    expect(fake.callsOf('chat.update').filter((c) => c.args.ts === field.B_thread_parent_deleted.stored_thread_for_groupKey.diagnosticTs)).toEqual([]);
  });

  test('a stored thread in a channel since archived, or since deleted, is forgotten the same way', async () => {
    for (const gone of ['archived', 'deleted'] as const) {
      const store = openStore();
      const d = sampleDiagnostic({ id: `run-${gone}`, groupKey: `{}/{}:{alertname="db_pool_exhausted",case="${gone}"}` });
      fake.addChannel('C0OLDROOM1', { name: `old-room-${gone}` });
      const oldParent = fake.seedMessage('C0OLDROOM1', { text: 'old page' });
      await storedDeadThread(store, d, { channel: 'C0OLDROOM1', ts: oldParent.ts, permalink: 'https://slack.example/archives/C0OLDROOM1/p1' });
      if (gone === 'archived') fake.archive('C0OLDROOM1');
      else fake.channels.delete('C0OLDROOM1');
      const notifier = createSlackNotifier(config({ incidentChannel: undefined, threadSearchWaitMs: 0 }), { store });
      const result = await withRetry((attempt, signal) => notifier.notify(d, { ...ctx(d), signal, attempt }), POLICY);
      expect({ gone, result }).toMatchObject({ gone, result: { ok: true, attempts: 1 } });
      const thread = (await store.getNotifierState<ThreadState>('slack', `thread:${d.groupKey}`))!;
      expect(thread.channel).toBe(ALERTS);
      expect(fake.replies(ALERTS, thread.ts).filter(isDiagnostic)).toHaveLength(1);
      await state.reset(store);
    }
  });

  test('when the alerts channel itself is archived, the error is final and says what to do: no retry is spent', async () => {
    const store = openStore();
    const d = sampleDiagnostic();
    await storedDeadThread(store, d);
    fake.archive(ALERTS);
    const notifier = createSlackNotifier(config({ alertsChannel: ALERTS, incidentChannel: undefined, threadSearchWaitMs: 0 }), { store });
    const result = await withRetry((attempt, signal) => notifier.notify(d, { ...ctx(d), signal, attempt }), POLICY);
    expect(result).toMatchObject({ ok: false, final: true, attempts: 1 });
    expect(!result.ok && result.error.message).toContain('unarchive');
  });
});
