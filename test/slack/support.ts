import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite';
import type { FakeMessage, FakeSlack } from '../fakes/slack';
import { testApp } from '../support/app';

/** Helpers for driving the Slack entry points the way Slack does: signed requests, built here independently of src/. */

export const SECRET = 'test-signing-secret-0123456789';
export const ALERTS = 'C0ALERTS';
export const INCIDENT = 'C0INCIDENT';

export type T = Awaited<ReturnType<typeof testApp>>;

/** Slack's signature headers for `body` at `ts` (unix seconds). */
export function signed(body: string | Buffer, opts: { ts?: number; secret?: string } = {}): Record<string, string> {
  const ts = opts.ts ?? Math.floor(Date.now() / 1000);
  const sig = createHmac('sha256', opts.secret ?? SECRET)
    .update(`v0:${ts}:`)
    .update(body)
    .digest('hex');
  return { 'x-slack-request-timestamp': String(ts), 'x-slack-signature': `v0=${sig}` };
}

/** An interactions body as Slack sends it: form-encoded, the JSON in `payload`. */
export function form(payload: unknown): string {
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

export const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
export const JSON_CT = { 'content-type': 'application/json' };

/** A `slack` config against `fake`, quick to search and pace, no chart, no client retries; `over` wins. */
export function slackTestConfig(fake: FakeSlack, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    token: fake.token,
    apiUrl: fake.url,
    alertsChannel: ALERTS,
    incidentChannel: INCIDENT,
    signingSecret: SECRET,
    threadSearchWaitMs: 300,
    threadSearchPollMs: 50,
    channelIntervalMs: 0,
    chart: false,
    timeoutMs: 2_000,
    retries: 0,
    ...over,
  };
}

/** POSTs a signed interaction payload. */
export function interact(t: T, payload: unknown, extra: Record<string, string> = {}) {
  const body = form(payload);
  return t.app.inject({ method: 'POST', url: '/slack/interactions', headers: { ...FORM, ...signed(body), ...extra }, payload: body });
}

/** POSTs a signed Events API envelope. */
export function sendEvent(t: T, envelope: unknown, extra: Record<string, string> = {}) {
  const body = JSON.stringify(envelope);
  return t.app.inject({ method: 'POST', url: '/slack/events', headers: { ...JSON_CT, ...signed(body), ...extra }, payload: body });
}

let seq = 0;
/** A unique trigger id per interaction (Slack gives each one its own). */
export function triggerId(): string {
  return `${Date.now()}.${++seq}.trigger`;
}

/** The message as Slack puts it in a message_action payload. */
export function asPayloadMessage(m: FakeMessage): Record<string, unknown> {
  const { channel: _c, ...rest } = m;
  return rest;
}

/** A message shortcut payload ("Diagnose this alert") on `m`. */
export function shortcut(fake: FakeSlack, m: FakeMessage, opts: { channel?: string; user?: string; callbackId?: string } = {}) {
  return {
    type: 'message_action',
    callback_id: opts.callbackId ?? 'diagnose_alert',
    trigger_id: triggerId(),
    team: { id: 'T0TEST' },
    user: { id: opts.user ?? 'U0ONCALL', name: 'oncall' },
    channel: { id: opts.channel ?? m.channel, name: 'alerts' },
    message_ts: m.ts,
    message: asPayloadMessage(m),
    response_url: fake.responseUrl(),
  };
}

/** A block_actions payload for the re-run button of our diagnostic message `m`. */
export function buttonClick(fake: FakeSlack, m: FakeMessage, opts: { user?: string } = {}) {
  const actions = (m.blocks as any[]).find((b) => b.type === 'actions');
  const button = actions.elements.find((e: any) => e.action_id === 'rerun_diagnosis');
  return {
    type: 'block_actions',
    trigger_id: triggerId(),
    user: { id: opts.user ?? 'U0ONCALL' },
    team: { id: 'T0TEST' },
    container: { type: 'message', message_ts: m.ts, channel_id: m.channel, is_ephemeral: false, thread_ts: m.thread_ts },
    channel: { id: m.channel, name: 'alerts' },
    message: asPayloadMessage(m),
    response_url: fake.responseUrl(),
    actions: [{ type: 'button', action_id: button.action_id, block_id: actions.block_id, value: button.value, action_ts: String(Date.now() / 1000) }],
  };
}

/** An app_mention event envelope in the thread of `threadTs`. */
export function mention(channel: string, threadTs: string | undefined, opts: { user?: string; eventId?: string } = {}) {
  return {
    token: 'legacy-verification-token',
    team_id: 'T0TEST',
    api_app_id: 'A0PAGEFIRST',
    type: 'event_callback',
    event_id: opts.eventId ?? `Ev${Date.now()}${++seq}`,
    event_time: Math.floor(Date.now() / 1000),
    event: {
      type: 'app_mention',
      user: opts.user ?? 'U0ONCALL',
      text: '<@U0PAGEFIRST> diagnose please',
      ts: `${Date.now() / 1000}`,
      channel,
      ...(threadTs ? { thread_ts: threadTs } : {}),
      event_ts: `${Date.now() / 1000}`,
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Log records of finished Slack requests (handled or failed). */
export function handled(t: T): Array<Record<string, any>> {
  return t.log.records().filter((r) => r.msg === 'slack request handled' || r.msg === 'slack request failed');
}

/** Runs the pipeline admitted from Slack (new runs, not duplicates). */
export function slackRuns(t: T): string[] {
  return t.log
    .records()
    .filter((r) => r.msg === 'notification admitted' && r.trigger === 'slack' && r.duplicate === false)
    .map((r) => r.runId as string);
}

/** Waits until `n` Slack requests have finished their background work. */
export async function settled(t: T, n: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (handled(t).length < n) {
    if (Date.now() > deadline) throw new Error(`only ${handled(t).length} of ${n} Slack requests finished`);
    await sleep(20);
  }
}

/** Our diagnostic messages (the header block) in a thread. */
export function diagnostics(fake: FakeSlack, channel: string, ts: string): FakeMessage[] {
  return fake.replies(channel, ts).filter((m) => JSON.stringify(m.blocks ?? []).includes('"pf_header'));
}

/** SQLite state stores in a temp dir of their own, per test: `open()` in a test, `cleanup()` in afterEach closes them and removes the dir. */
export function tempStores(prefix: string) {
  let dir: string | undefined;
  const stores: SqliteStore[] = [];
  const where = () => (dir ??= mkdtempSync(join(tmpdir(), `pagefirst-${prefix}-`)));
  return {
    /** A store on the test's state file (the same file for every call in one test). */
    open(): SqliteStore {
      const s = SqliteStore.open(join(where(), 'state.db'));
      stores.push(s);
      return s;
    },
    /** Closes `s` (a restart: the next open() reads the same file). */
    async close(s: SqliteStore): Promise<void> {
      await s.close();
      stores.splice(stores.indexOf(s), 1);
    },
    /** Closes `s` and deletes the state file: the next open() starts empty. */
    async reset(s: SqliteStore): Promise<void> {
      await s.close();
      stores.splice(stores.indexOf(s), 1);
      rmSync(join(where(), 'state.db'), { force: true });
    },
    async cleanup(): Promise<void> {
      for (const s of stores.splice(0)) await s.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
      dir = undefined;
    },
  };
}
