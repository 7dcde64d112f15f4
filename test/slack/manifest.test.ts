import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { BOT_EVENTS, DIAGNOSE_CALLBACK_ID, SLACK_PATHS, SLACK_SCOPES } from '../../src/slack/constants';

/**
 * slack/manifest.yml against the code: the scopes are exactly the ones the code's Slack calls
 * and entry points need, the shortcut's callback_id and the subscribed events are the ones the
 * code handles, and the request URLs are the routes it serves.
 */

const root = join(__dirname, '../..');
const manifest = parse(readFileSync(join(root, 'slack/manifest.yml'), 'utf8'));

/**
 * The bot scope each Web API method needs (docs.slack.dev/reference/methods/<method>): history
 * and replies need channels:history in public and groups:history in private channels.
 */
const METHOD_SCOPES: Record<string, string[]> = {
  'chat.postMessage': ['chat:write'],
  'chat.update': ['chat:write'],
  'chat.delete': ['chat:write'],
  'chat.postEphemeral': ['chat:write'],
  'chat.getPermalink': [],
  'conversations.history': ['channels:history', 'groups:history'],
  'conversations.replies': ['channels:history', 'groups:history'],
  'conversations.list': ['channels:read', 'groups:read'],
  'conversations.join': ['channels:join'],
  filesUploadV2: ['files:write'],
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** The Web API methods src/ calls through WebClient (in the files that import @slack/web-api: `users.map(` elsewhere is not a Slack call). */
function methodsCalled(): string[] {
  const found = new Set<string>();
  for (const file of sources(join(root, 'src'))) {
    const text = readFileSync(file, 'utf8');
    if (!/from '@slack\/web-api'/.test(text)) continue;
    for (const m of text.matchAll(/\.(chat|conversations|files|auth|users|views|reactions|pins|team)\.([a-zA-Z]+)\(/g)) found.add(`${m[1]}.${m[2]}`);
    if (/\bfilesUploadV2\(/.test(text)) found.add('filesUploadV2');
  }
  return [...found].sort();
}

describe('slack/manifest.yml', () => {
  test('its bot scopes are exactly SLACK_SCOPES, and those are exactly what the code needs', () => {
    const scopes: string[] = manifest.oauth_config.scopes.bot;
    expect([...scopes].sort()).toEqual([...SLACK_SCOPES].sort());
    expect(new Set(scopes).size).toBe(scopes.length);
    const called = methodsCalled();
    // A call the table does not know must be added with its scope (and to the manifest).
    expect(called.filter((m) => !(m in METHOD_SCOPES))).toEqual([]);
    const needed = new Set(called.flatMap((m) => METHOD_SCOPES[m]!));
    needed.add('commands'); // the message shortcut
    for (const e of BOT_EVENTS) if (e === 'app_mention') needed.add('app_mentions:read');
    expect([...needed].sort()).toEqual([...scopes].sort());
    expect(manifest.oauth_config.scopes.user).toBeUndefined();
  });

  test('the shortcut, the events and the request URLs match the code', () => {
    expect(manifest.features.shortcuts).toEqual([expect.objectContaining({ type: 'message', callback_id: DIAGNOSE_CALLBACK_ID, name: 'Diagnose this alert' })]);
    for (const s of manifest.features.shortcuts) expect(s.description.length).toBeLessThanOrEqual(80);
    expect(manifest.settings.event_subscriptions.bot_events).toEqual([...BOT_EVENTS]);
    expect(new URL(manifest.settings.event_subscriptions.request_url).pathname).toBe(SLACK_PATHS.events);
    expect(manifest.settings.interactivity).toMatchObject({ is_enabled: true });
    expect(new URL(manifest.settings.interactivity.request_url).pathname).toBe(SLACK_PATHS.interactions);
    expect(manifest.features.bot_user.display_name).toBe('pagefirst');
    expect(manifest.settings.socket_mode_enabled).toBe(false);
  });

  test('docs/operations.md §5 lists the same scopes and points at the manifest', () => {
    const ops = readFileSync(join(root, 'docs/operations.md'), 'utf8');
    const section = ops.slice(ops.indexOf('## 5. The Slack app'), ops.indexOf('## 6.'));
    expect(section).toContain('slack/manifest.yml');
    // The first column of the scope table.
    const listed = section
      .split('\n')
      .filter((l) => l.startsWith('| `'))
      .flatMap((l) => [...l.split('|')[1]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!))
      .sort();
    expect([...new Set(listed)]).toEqual([...SLACK_SCOPES].sort());
  });
});
