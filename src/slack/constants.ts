/**
 * The Slack app's surface as the code uses it: the manifest (slack/manifest.yml) must declare
 * exactly these, and a test holds the two together.
 */
import { RERUN_ACTION_ID } from './render';

export { RERUN_ACTION_ID };

/** callback_id of the message shortcut "Diagnose this alert". */
export const DIAGNOSE_CALLBACK_ID = 'diagnose_alert';

/** Bot events the app subscribes to. */
export const BOT_EVENTS = ['app_mention'] as const;

/**
 * Bot token scopes, each for the calls that need it:
 * - chat:write: chat.postMessage, chat.update, chat.delete (notifier), chat.postEphemeral (entry points);
 * - channels:history / groups:history: conversations.history and .replies in public / private
 *   channels (finding the page; reading a thread's parent for a mention or shortcut);
 * - channels:read / groups:read: conversations.list of public / private channels (channels configured by name);
 * - channels:join: conversations.join (a public channel the app is not in);
 * - files:write: files.getUploadURLExternal + files.completeUploadExternal (the pool chart);
 * - commands: the message shortcut;
 * - app_mentions:read: the app_mention event.
 * chat.getPermalink needs no scope.
 */
export const SLACK_SCOPES = [
  'chat:write',
  'channels:history',
  'groups:history',
  'channels:read',
  'groups:read',
  'channels:join',
  'files:write',
  'commands',
  'app_mentions:read',
] as const;

/** The request URL paths Slack posts to. */
export const SLACK_PATHS = { events: '/slack/events', interactions: '/slack/interactions' } as const;
