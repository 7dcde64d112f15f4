import { FakeSlack, SlackFakeError } from '../fakes/slack';

/** The fake itself: the wire behaviour other tests rely on. */
describe('fake Slack Web API', () => {
  let fake: FakeSlack;
  beforeAll(async () => {
    fake = await FakeSlack.start();
  });
  afterAll(async () => {
    await fake.close();
  });

  const form = (method: string, args: Record<string, string>, token: string | null = fake.token) =>
    fetch(`${fake.url}${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(token ? { token, ...args } : args),
    }).then((r) => r.json() as Promise<Record<string, unknown>>);
  const json = (method: string, args: unknown, token = fake.token) =>
    fetch(`${fake.url}${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', authorization: `Bearer ${token}` },
      body: JSON.stringify(args),
    }).then((r) => r.json() as Promise<Record<string, unknown>>);

  it('checks the token and the channel, in form and JSON bodies', async () => {
    expect(await form('auth.test', {}, null)).toEqual({ ok: false, error: 'not_authed' });
    expect(await form('auth.test', {}, 'xoxb-other')).toEqual({ ok: false, error: 'invalid_auth' });
    expect(await json('chat.postMessage', { channel: 'C0NOPE', text: 'x' })).toEqual({ ok: false, error: 'channel_not_found' });
    expect(await json('chat.postMessage', { channel: 'C0ALERTS', text: 'hi' })).toMatchObject({ ok: true, channel: 'C0ALERTS' });
    expect(await form('chat.postMessage', { channel: 'C0ALERTS', blocks: JSON.stringify([{ type: 'divider' }]) })).toMatchObject({ ok: true });
    expect(await form('chat.postMessage', { channel: 'C0ALERTS' })).toEqual({ ok: false, error: 'no_text' });
    expect(await form('no.such.method', {})).toEqual({ ok: false, error: 'unknown_method' });
    expect(fake.callsOf('chat.postMessage').at(-1)!.args).not.toHaveProperty('token');
  });

  it('refuses what breaks Block Kit limits', async () => {
    const post = (blocks: unknown, text = 'x') => json('chat.postMessage', { channel: 'C0ALERTS', text, blocks });
    const section = (n: number) => ({ type: 'section', text: { type: 'mrkdwn', text: 'a'.repeat(n) } });
    expect(await post([section(3000)])).toMatchObject({ ok: true });
    expect(await post([section(3001)])).toMatchObject({ ok: false, error: 'invalid_blocks' });
    expect(await post([{ type: 'header', text: { type: 'plain_text', text: 'h'.repeat(151) } }])).toMatchObject({ ok: false, error: 'invalid_blocks' });
    expect(await post([{ type: 'header', text: { type: 'mrkdwn', text: 'h' } }])).toMatchObject({ ok: false, error: 'invalid_blocks' });
    expect(await post([{ type: 'section', fields: Array.from({ length: 11 }, () => ({ type: 'mrkdwn', text: 'f' })) }])).toMatchObject({
      ok: false,
      error: 'invalid_blocks',
    });
    expect(await post([{ type: 'context', elements: Array.from({ length: 11 }, () => ({ type: 'mrkdwn', text: 'c' })) }])).toMatchObject({
      ok: false,
      error: 'invalid_blocks',
    });
    expect(await post(Array.from({ length: 51 }, () => ({ type: 'divider' })))).toMatchObject({ ok: false, error: 'invalid_blocks' });
    expect(await post([{ type: 'section' }])).toMatchObject({ ok: false, error: 'invalid_blocks' });
    expect(
      await post([
        { type: 'divider', block_id: 'x' },
        { type: 'divider', block_id: 'x' },
      ]),
    ).toMatchObject({ ok: false, error: 'invalid_blocks' });
    expect(await post(Array.from({ length: 5 }, () => section(2900)))).toMatchObject({ ok: false, error: 'msg_blocks_too_long' });
    expect(await json('chat.postMessage', { channel: 'C0ALERTS', text: 'x'.repeat(40_001) })).toMatchObject({ ok: false, error: 'msg_too_long' });
  });

  it('answers 429 with Retry-After and 5xx on demand', async () => {
    fake.failNext('auth.test', 1, { status: 429, retryAfter: 3 });
    const r = await fetch(`${fake.url}auth.test`, { method: 'POST', headers: { authorization: `Bearer ${fake.token}` } });
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBe('3');
    fake.failFor('*', 200, { status: 500 });
    expect((await fetch(`${fake.url}auth.test`, { method: 'POST' })).status).toBe(500);
    await new Promise((res) => setTimeout(res, 250));
    expect(await form('auth.test', {})).toMatchObject({ ok: true, bot_id: fake.botId });
  });

  it('pages conversations.history newest first and keeps thread replies out of it', async () => {
    fake.addChannel('C0HIST');
    const seeded = Array.from({ length: 5 }, () => fake.seedMessage('C0HIST', { text: 'm' }));
    fake.seedMessage('C0HIST', { text: 'reply', thread_ts: seeded[0]!.ts });
    const p1 = await form('conversations.history', { channel: 'C0HIST', limit: '3' });
    expect((p1.messages as Array<{ ts: string }>).map((m) => m.ts)).toEqual([seeded[4]!.ts, seeded[3]!.ts, seeded[2]!.ts]);
    const cursor = (p1.response_metadata as { next_cursor: string }).next_cursor;
    const p2 = await form('conversations.history', { channel: 'C0HIST', limit: '3', cursor });
    expect((p2.messages as Array<{ ts: string }>).map((m) => m.ts)).toEqual([seeded[1]!.ts, seeded[0]!.ts]);
    expect((await form('conversations.history', { channel: 'C0HIST', oldest: seeded[3]!.ts })).messages).toHaveLength(1);
    fake.addChannel('C0PRIV', { member: false });
    expect(await form('conversations.history', { channel: 'C0PRIV' })).toEqual({ ok: false, error: 'not_in_channel' });
  });

  it('updates only its own messages; extensible with handle(), response URLs and ephemeral messages', async () => {
    const page = fake.seedAlertmanagerPage('C0ALERTS', { groupLabels: { alertname: 'x' }, labels: { alertname: 'x' } });
    expect(await form('chat.update', { channel: 'C0ALERTS', ts: page.ts, text: 'y' })).toEqual({ ok: false, error: 'cant_update_message' });
    expect(await form('chat.update', { channel: 'C0ALERTS', ts: '1.2', text: 'y' })).toEqual({ ok: false, error: 'message_not_found' });
    fake.handle('views.open', (args) => {
      if (!args.trigger_id) throw new SlackFakeError('invalid_trigger_id');
      return { view: { id: 'V1' } };
    });
    expect(await json('views.open', {})).toEqual({ ok: false, error: 'invalid_trigger_id' });
    expect(await json('views.open', { trigger_id: 't', view: { type: 'modal' } })).toMatchObject({ ok: true, view: { id: 'V1' } });
    expect(await json('chat.postEphemeral', { channel: 'C0ALERTS', user: 'U1', text: 'only you' })).toMatchObject({ ok: true });
    expect(fake.ephemeral.at(-1)).toMatchObject({ user: 'U1', text: 'only you' });
    const url = fake.responseUrl();
    await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'done', replace_original: false }) });
    expect(fake.responses.at(-1)!.body).toEqual({ text: 'done', replace_original: false });
  });
});
