import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSlackApi } from '../../src/slack/client';
import { SLACK_ERRORS, slackErrorClass } from '../../src/slack/errors';
import { FakeSlack } from '../fakes/slack';

/** The documented error codes per method, as docs/reference/slack.md lists them (from Slack's method reference). */
function documentedCodes(): Map<string, string[]> {
  const doc = readFileSync(join(__dirname, '../../docs/reference/slack.md'), 'utf8');
  const section = doc.slice(doc.indexOf('### Error codes of the methods pagefirst calls'), doc.indexOf('### Channels by name or id'));
  const out = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    const m = /^- `([a-zA-Z.]+)`: (.*)$/.exec(line);
    if (m)
      out.set(
        m[1]!,
        [...m[2]!.matchAll(/`([a-z_]+)`/g)].map((x) => x[1]!),
      );
  }
  return out;
}

describe('the Slack error table', () => {
  test('classifies every documented code of every method pagefirst calls, and every final one says what to fix', () => {
    const lists = documentedCodes();
    expect([...lists.keys()].sort()).toEqual(
      [
        'chat.delete',
        'chat.getPermalink',
        'chat.postEphemeral',
        'chat.postMessage',
        'chat.update',
        'conversations.history',
        'conversations.join',
        'conversations.list',
        'conversations.replies',
        'files.completeUploadExternal',
        'files.getUploadURLExternal',
      ].sort(),
    );
    const documented = new Set([...lists.values()].flat());
    expect(documented.size).toBeGreaterThan(100);
    expect([...documented].filter((c) => !(c in SLACK_ERRORS))).toEqual([]);
    // nothing made up: the table holds the documented codes and the ones docs/reference/slack.md names as observed
    expect(Object.keys(SLACK_ERRORS).filter((c) => !documented.has(c))).toEqual(['internal_error', 'invalid_auth', 'invalid_arguments']);
    for (const [code, c] of Object.entries(SLACK_ERRORS)) if (!c.retryable) expect({ code, fix: c.fix }).toEqual({ code, fix: expect.any(String) });
  });

  test('the codes that need a person are final; Slack-side ones retryable; gone threads and channels have their role', () => {
    for (const code of ['invalid_auth', 'token_revoked', 'missing_scope', 'restricted_action', 'invalid_blocks', 'msg_too_long', 'file_uploads_disabled'])
      expect(slackErrorClass(code).retryable).toBe(false);
    for (const code of ['ratelimited', 'service_unavailable', 'fatal_error', 'internal_error', 'team_added_to_org'])
      expect(slackErrorClass(code).retryable).toBe(true);
    expect(slackErrorClass('thread_not_found')).toMatchObject({ retryable: false, role: 'dead_thread' });
    expect(slackErrorClass('message_not_found')).toMatchObject({ retryable: false, role: 'dead_message' });
    expect(slackErrorClass('is_archived')).toMatchObject({ retryable: false, role: 'archived' });
    expect(slackErrorClass('is_inactive')).toMatchObject({ retryable: false, role: 'archived' });
    expect(slackErrorClass('channel_not_found')).toMatchObject({ retryable: false, role: 'channel_not_found' });
    expect(slackErrorClass('not_in_channel')).toMatchObject({ retryable: false, role: 'not_in_channel' });
    expect(slackErrorClass('a_code_slack_adds_next_year')).toEqual({ retryable: true, unclassified: true });
  });

  test("the real client's errors carry the table's class, role and fix (against the fake Slack)", async () => {
    const fake = await FakeSlack.start();
    try {
      const api = createSlackApi({ token: fake.token, apiUrl: fake.url, timeoutMs: 2_000, retries: 0, channelIntervalMs: 0 });
      const signal = AbortSignal.timeout(10_000);
      const parent = await api.postMessage({ channel: 'C0ALERTS', text: 'parent' }, signal);
      fake.deleteMessage('C0ALERTS', parent.ts);
      await expect(api.postMessage({ channel: 'C0ALERTS', text: 'reply', thread_ts: parent.ts }, signal)).rejects.toMatchObject({
        code: 'thread_not_found',
        retryable: false,
        role: 'dead_thread',
      });
      await expect(api.update({ channel: 'C0ALERTS', ts: parent.ts, text: 'x' }, signal)).rejects.toMatchObject({
        code: 'message_not_found',
        role: 'dead_message',
      });
      fake.addChannel('C0OLD', { archived: true });
      await expect(api.postMessage({ channel: 'C0OLD', text: 'x' }, signal)).rejects.toMatchObject({
        code: 'is_archived',
        retryable: false,
        fix: expect.stringContaining('unarchive'),
      });
      fake.scopes.delete('channels:history');
      await expect(api.history({ channel: 'C0ALERTS', limit: 1 }, signal)).rejects.toMatchObject({
        code: 'missing_scope',
        retryable: false,
        fix: expect.stringContaining('needed: channels:history'),
      });
    } finally {
      await fake.close();
    }
  });
});
