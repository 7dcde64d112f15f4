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
  it('takes channel names only where Slack does: chat.postMessage and chat.postEphemeral; the rest want ids', async () => {
    const posted = await json('chat.postMessage', { channel: '#alerts', text: 'by name' });
    expect(posted).toMatchObject({ ok: true, channel: 'C0ALERTS' });
    expect(await json('chat.postMessage', { channel: 'alerts', text: 'bare name' })).toMatchObject({ ok: true, channel: 'C0ALERTS' });
    expect(await json('chat.postEphemeral', { channel: '#alerts', user: 'U1', text: 'x' })).toMatchObject({ ok: true });
    const ts = posted.ts as string;
    expect(await json('chat.update', { channel: '#alerts', ts, text: 'y' })).toEqual({ ok: false, error: 'channel_not_found' });
    expect(await form('conversations.history', { channel: '#alerts' })).toEqual({ ok: false, error: 'channel_not_found' });
    expect(await form('conversations.replies', { channel: '#alerts', ts })).toEqual({ ok: false, error: 'channel_not_found' });
    expect(await form('chat.getPermalink', { channel: '#alerts', message_ts: ts })).toEqual({ ok: false, error: 'channel_not_found' });
    expect(await form('conversations.join', { channel: '#alerts' })).toEqual({ ok: false, error: 'channel_not_found' });
    expect(await json('chat.update', { channel: 'C0ALERTS', ts, text: 'y' })).toMatchObject({ ok: true });
  });

  it('hides private channels from a bot outside them; a public one it is not in answers not_in_channel until it joins', async () => {
    fake.addChannel('C0SECRET', { name: 'secret', private: true, member: false });
    fake.addChannel('C0PUBLIC', { name: 'public-out', member: false });
    expect(await json('chat.postMessage', { channel: 'C0SECRET', text: 'x' })).toEqual({ ok: false, error: 'channel_not_found' });
    expect(await json('chat.postMessage', { channel: '#secret', text: 'x' })).toEqual({ ok: false, error: 'channel_not_found' });
    expect(await form('conversations.join', { channel: 'C0SECRET' })).toEqual({ ok: false, error: 'channel_not_found' });
    expect(await json('chat.postMessage', { channel: 'C0PUBLIC', text: 'x' })).toEqual({ ok: false, error: 'not_in_channel' });
    const joined = await form('conversations.join', { channel: 'C0PUBLIC' });
    expect(joined).toMatchObject({ ok: true, channel: { id: 'C0PUBLIC', is_member: true } });
    expect(joined).not.toHaveProperty('warning');
    expect(await form('conversations.join', { channel: 'C0PUBLIC' })).toMatchObject({ ok: true, warning: 'already_in_channel' });
    expect(await json('chat.postMessage', { channel: 'C0PUBLIC', text: 'x' })).toMatchObject({ ok: true });
    fake.addChannel('C0INSIDE', { name: 'inside', private: true });
    expect(await form('conversations.join', { channel: 'C0INSIDE' })).toEqual({ ok: false, error: 'method_not_supported_for_channel_type' });
    expect(await json('chat.postMessage', { channel: '#inside', text: 'x' })).toMatchObject({ ok: true, channel: 'C0INSIDE' });
  });

  it("answers missing_scope with needed and provided when the token lacks the method's scope", async () => {
    const narrow = await FakeSlack.start({ scopes: ['chat:write', 'channels:history', 'channels:read'] });
    try {
      narrow.addChannel('C0P', { name: 'p', private: true });
      const call = (method: string, args: Record<string, string>) =>
        fetch(`${narrow.url}${method}`, { method: 'POST', headers: { authorization: `Bearer ${narrow.token}` }, body: new URLSearchParams(args) }).then(
          (r) => r.json() as Promise<Record<string, unknown>>,
        );
      expect(await call('conversations.join', { channel: 'C0ALERTS' })).toMatchObject({ ok: false, error: 'missing_scope', needed: 'channels:join' });
      expect(await call('conversations.history', { channel: 'C0P' })).toMatchObject({ ok: false, error: 'missing_scope', needed: 'groups:history' });
      expect(await call('conversations.history', { channel: 'C0ALERTS' })).toMatchObject({ ok: true });
      expect(await call('conversations.list', { types: 'public_channel,private_channel' })).toMatchObject({
        ok: false,
        error: 'missing_scope',
        needed: 'groups:read',
        provided: 'chat:write,channels:history,channels:read',
      });
      expect(await call('conversations.list', { types: 'public_channel' })).toMatchObject({ ok: true });
      expect(await call('files.getUploadURLExternal', { filename: 'a.png', length: '3' })).toMatchObject({ ok: false, needed: 'files:write' });
    } finally {
      await narrow.close();
    }
  });

  it('pages conversations.list by cursor, with types, exclude_archived and short pages', async () => {
    const ws = await FakeSlack.start({ channels: [], listPageMax: 2 });
    try {
      for (let i = 0; i < 7; i++) ws.addChannel(`C0${i}`, { name: `ch-${i}` });
      ws.addChannel('C0P1', { name: 'priv-in', private: true });
      ws.addChannel('C0P2', { name: 'priv-out', private: true, member: false });
      ws.archive('C03');
      const list = (args: Record<string, string>) =>
        fetch(`${ws.url}conversations.list`, { method: 'POST', headers: { authorization: `Bearer ${ws.token}` }, body: new URLSearchParams(args) }).then(
          (r) =>
            r.json() as Promise<{ ok: boolean; error?: string; channels: Array<{ id: string; name: string }>; response_metadata: { next_cursor: string } }>,
        );
      const names: string[] = [];
      let cursor = '';
      let pages = 0;
      do {
        const page = await list({ types: 'public_channel,private_channel', exclude_archived: 'true', limit: '5', ...(cursor ? { cursor } : {}) });
        expect(page.ok).toBe(true);
        expect(page.channels.length).toBeLessThanOrEqual(2);
        names.push(...page.channels.map((c) => c.name));
        cursor = page.response_metadata.next_cursor;
        pages++;
      } while (cursor);
      expect(names.sort()).toEqual(['ch-0', 'ch-1', 'ch-2', 'ch-4', 'ch-5', 'ch-6', 'priv-in']);
      expect(pages).toBe(4);
      expect((await list({})).channels.map((c) => c.name)).toEqual(['ch-0', 'ch-1']);
      expect(await list({ limit: '0' })).toMatchObject({ ok: false, error: 'invalid_limit' });
      expect(await list({ limit: '1001' })).toMatchObject({ ok: false, error: 'invalid_limit' });
      expect(await list({ cursor: 'bm9wZQ==' })).toMatchObject({ ok: false, error: 'invalid_cursor' });
      expect(await list({ types: 'public_channel,nope' })).toMatchObject({ ok: false, error: 'invalid_types' });
    } finally {
      await ws.close();
    }
  });

  it('refuses replies to a deleted parent and edits of a deleted message; an archived channel refuses posts, edits and joins', async () => {
    fake.addChannel('C0GONE', { name: 'gone' });
    const parent = await json('chat.postMessage', { channel: 'C0GONE', text: 'parent' });
    const reply = await json('chat.postMessage', { channel: 'C0GONE', text: 'reply', thread_ts: parent.ts });
    expect(reply).toMatchObject({ ok: true });
    fake.deleteMessage('C0GONE', parent.ts as string);
    expect(await json('chat.postMessage', { channel: 'C0GONE', text: 'again', thread_ts: parent.ts })).toEqual({ ok: false, error: 'thread_not_found' });
    expect(await form('conversations.replies', { channel: 'C0GONE', ts: parent.ts as string })).toEqual({ ok: false, error: 'thread_not_found' });
    expect(await json('chat.update', { channel: 'C0GONE', ts: parent.ts, text: 'x' })).toEqual({ ok: false, error: 'message_not_found' });
    expect(await form('chat.getPermalink', { channel: 'C0GONE', message_ts: parent.ts as string })).toEqual({ ok: false, error: 'message_not_found' });
    fake.archive('C0GONE');
    expect(await json('chat.postMessage', { channel: 'C0GONE', text: 'x' })).toEqual({ ok: false, error: 'is_archived' });
    expect(await json('chat.update', { channel: 'C0GONE', ts: reply.ts, text: 'x' })).toEqual({ ok: false, error: 'is_inactive' });
    expect(await form('conversations.join', { channel: 'C0GONE' })).toEqual({ ok: false, error: 'is_archived' });
    expect(await form('conversations.history', { channel: 'C0GONE' })).toMatchObject({ ok: true });
  });
});
