/**
 * Configured channels by id or by name. Most Slack methods take a channel id only (a name there
 * is `channel_not_found`), and Slack's own payloads name channels by id, so every configured
 * name is looked up once, at start: conversations.list over public and private channels (as the
 * token's scopes allow), archived ones left out, page by page under one deadline. A name that
 * resolves to nothing stops the start with what to fix; a Slack that cannot be reached does not
 * (the names are looked up again when first needed). A channel a stored thread or a post says is
 * gone (`channel_not_found`) is looked up again by its configured name. A public channel the app
 * is not in is joined (conversations.join, scope channels:join) where the scope allows, else said
 * once. Facts: docs/reference/slack.md "Channels by name or id".
 */
import type { Logger } from 'pino';
import { sleep } from '../core/retry';
import { SlackNotifyError, type SlackApi, type SlackChannel } from './client';
import type { SlackConfig } from './config';

/** conversations.list page size: Slack recommends no more than 200 (docs/reference/slack.md). */
export const CHANNEL_PAGE = 200;
/** Pages read at most per lookup (200,000 channels): a bound, not an expectation. */
export const MAX_CHANNEL_PAGES = 1_000;
/** Types listed: public channels (channels:read) and the private ones the app is in (groups:read). */
const ALL_TYPES = 'public_channel,private_channel';
/** A Retry-After longer than this ends the lookup (it would outlast any sensible start). */
const MAX_RATE_LIMIT_WAIT_MS = 60_000;

/** A channel id: `C…` (channels), `G…` (older private channels), `D…` (direct messages), in upper-case letters and digits; Slack names are lower-case, so anything else is a name. */
export function isChannelId(ref: string): boolean {
  return /^[CGD][A-Z0-9]{2,}$/.test(ref);
}

/** A configured name as Slack compares it: without its `#`, lower-case. */
export function channelName(ref: string): string {
  return ref.replace(/^#/, '').toLowerCase();
}

/** The configuration names a channel that does not exist for the app, or cannot be looked up: the receiver must not start. */
export class SlackChannelConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SlackChannelConfigError';
  }
}

/** The configured channels, by the config path that names them. */
export function configuredChannels(config: Pick<SlackConfig, 'alertsChannel' | 'incidentChannel' | 'allowedChannels'>): Array<{ path: string; ref: string }> {
  return [
    ...(config.alertsChannel ? [{ path: 'slack.alertsChannel', ref: config.alertsChannel }] : []),
    ...(config.incidentChannel ? [{ path: 'slack.incidentChannel', ref: config.incidentChannel }] : []),
    ...(config.allowedChannels ?? []).map((ref, i) => ({ path: `slack.allowedChannels.${i}`, ref })),
  ];
}

export interface ChannelDirectory {
  /** The id of a configured channel (an id is itself); undefined for a name not looked up yet. */
  idOf(ref: string): string | undefined;
  /** The id of a configured channel, looking its name up first if need be. Throws SlackNotifyError (retryable when Slack could not be asked, final when the name is unknown). */
  resolve(ref: string, signal: AbortSignal): Promise<string>;
  /**
   * Looks every configured name up (at start), within `channelLookupTimeoutMs`, and joins the
   * public channels among them the app is not in. Throws SlackChannelConfigError when a name is
   * unknown or the token may not list channels; logs and returns when Slack cannot be reached.
   */
  start(signal?: AbortSignal): Promise<void>;
  /**
   * After `channel_not_found` on `id`: the id its configured name resolves to now, when that is
   * another id; undefined when `id` was configured as an id or the name still resolves to it.
   */
  refresh(id: string, signal: AbortSignal): Promise<string | undefined>;
  /** Joins the public channel `id` where the token may; false (and said once) where it may not. Throws SlackNotifyError for Slack's other failures. */
  join(id: string, signal: AbortSignal): Promise<boolean>;
  /** The ids of these configured channels that are known now (names not looked up yet are left out). */
  ids(refs: readonly string[]): string[];
}

/** Builds the directory of `config`'s channels over `api`. */
export function createChannelDirectory(
  config: Pick<SlackConfig, 'alertsChannel' | 'incidentChannel' | 'allowedChannels' | 'channelLookupTimeoutMs'>,
  deps: { api: Pick<SlackApi, 'listChannels' | 'join'>; logger?: Logger; now?: () => number },
): ChannelDirectory {
  const now = deps.now ?? Date.now;
  const configured = configuredChannels(config);
  /** name → resolved channel */
  const byName = new Map<string, SlackChannel>();
  /** Ids a configured name named before it was looked up again → that name. */
  const retired = new Map<string, string>();
  /** What was said once per channel (not joinable). */
  const said = new Set<string>();
  let privateUnlisted = false;

  const names = () => [...new Set(configured.filter((c) => !isChannelId(c.ref)).map((c) => channelName(c.ref)))];

  /**
   * Lists channels until every wanted name is found or the list ends. Throws SlackNotifyError
   * (retryable when Slack could not be asked in time) or SlackChannelConfigError (missing scope).
   */
  async function lookUp(wanted: string[], signal: AbortSignal): Promise<void> {
    const missing = new Set(wanted);
    const deadline = now() + config.channelLookupTimeoutMs;
    const budget = AbortSignal.any([signal, AbortSignal.timeout(config.channelLookupTimeoutMs)]);
    let types = ALL_TYPES;
    let cursor: string | undefined;
    for (let page = 0; page < MAX_CHANNEL_PAGES && missing.size > 0; page++) {
      let r;
      try {
        r = await deps.api.listChannels({ types, limit: CHANNEL_PAGE, excludeArchived: true, ...(cursor ? { cursor } : {}) }, budget);
      } catch (e) {
        if (!(e instanceof SlackNotifyError)) throw e;
        if ((e.code === 'missing_scope' || e.code === 'invalid_types') && types === ALL_TYPES) {
          // Without groups:read, list the public channels alone and say so if a name is not among them.
          privateUnlisted = true;
          types = 'public_channel';
          cursor = undefined;
          page = -1;
          continue;
        }
        if (e.code === 'missing_scope')
          throw new SlackChannelConfigError(
            `cannot look up Slack channel names: the token lacks the channels:read scope (and groups:read for private channels). Add them to the Slack app (slack/manifest.yml) and reinstall it, or configure channel ids (C…) instead of names`,
          );
        if (e.code === 'invalid_cursor') {
          cursor = undefined;
          continue;
        }
        const wait = e.retryAfterMs ?? 0;
        if (e.retryable && wait > 0 && wait <= MAX_RATE_LIMIT_WAIT_MS && now() + wait < deadline) {
          await sleep(wait, budget);
          page--;
          continue;
        }
        throw e;
      }
      for (const c of r.channels) {
        const n = c.name?.toLowerCase();
        if (n && missing.has(n)) {
          byName.set(n, c);
          missing.delete(n);
        }
      }
      cursor = r.nextCursor;
      if (!cursor) break;
    }
  }

  function unknownName(path: string, ref: string): SlackChannelConfigError {
    return new SlackChannelConfigError(
      `${path}: no Slack channel named #${channelName(ref)} that the app can see (archived channels are left out). ` +
        `Looking names up needs the channels:read scope for public channels and groups:read for private ones, which must also invite the app (/invite @pagefirst)` +
        `${privateUnlisted ? '; the token lacks groups:read, so private channels were not listed' : ''}. Check the name, or configure the channel id (C…)`,
    );
  }

  async function joinChannel(id: string, signal: AbortSignal): Promise<boolean> {
    try {
      await deps.api.join({ channel: id }, signal);
      deps.logger?.info({ channel: id }, 'joined the Slack channel');
      for (const c of byName.values()) if (c.id === id) c.is_member = true;
      return true;
    } catch (e) {
      if (!(e instanceof SlackNotifyError) || e.retryable) throw e;
      if (!said.has(id)) {
        said.add(id);
        const why =
          e.code === 'missing_scope'
            ? 'the app may not join channels by itself (it lacks the channels:join scope)'
            : e.code === 'method_not_supported_for_channel_type'
              ? 'it is a private channel, which an app cannot join by itself'
              : `Slack answered ${e.code}`;
        deps.logger?.error(
          { channel: id, slackError: e.code },
          `the Slack app is not in channel ${id} and cannot join it: ${why}. Invite it: /invite @pagefirst`,
        );
      }
      return false;
    }
  }

  const dir: ChannelDirectory = {
    idOf(ref) {
      return isChannelId(ref) ? ref : byName.get(channelName(ref))?.id;
    },

    async resolve(ref, signal) {
      const known = dir.idOf(ref);
      if (known) return known;
      const path = configured.find((c) => c.ref === ref)?.path ?? 'slack channel';
      try {
        await lookUp([channelName(ref)], signal);
      } catch (e) {
        if (e instanceof SlackChannelConfigError) throw new SlackNotifyError(e.message, 'conversations.list', 'missing_scope', { retryable: false }, e.message);
        throw e;
      }
      const found = dir.idOf(ref);
      if (!found) {
        const err = unknownName(path, ref);
        throw new SlackNotifyError(err.message, 'conversations.list', 'channel_not_found', { retryable: false }, err.message, 'channel_not_found');
      }
      return found;
    },

    async start(signal) {
      const wanted = names();
      if (wanted.length === 0) return;
      const started = now();
      try {
        await lookUp(wanted, signal ?? new AbortController().signal);
      } catch (e) {
        if (e instanceof SlackChannelConfigError) throw e;
        deps.logger?.warn(
          { err: (e as Error).message, channels: wanted.map((n) => `#${n}`) },
          'could not look up the Slack channel names yet; they are looked up again when first needed',
        );
        return;
      }
      for (const c of configured) if (!isChannelId(c.ref) && !byName.has(channelName(c.ref))) throw unknownName(c.path, c.ref);
      deps.logger?.info(
        { channels: Object.fromEntries(wanted.map((n) => [`#${n}`, byName.get(n)!.id])), durationMs: now() - started },
        'Slack channel names looked up',
      );
      for (const c of new Set(byName.values()))
        if (c.is_member === false && !c.is_private) await joinChannel(c.id, signal ?? AbortSignal.timeout(config.channelLookupTimeoutMs)).catch(() => false);
    },

    async refresh(id, signal) {
      // looked up again already (by another call holding the old id)
      const was = retired.get(id);
      if (was) return byName.get(was)?.id;
      const entry = [...byName.entries()].find(([, c]) => c.id === id);
      if (!entry) return undefined;
      const [name] = entry;
      byName.delete(name);
      await lookUp([name], signal);
      const current = byName.get(name);
      if (current && current.id !== id) {
        retired.set(id, name);
        deps.logger?.warn({ channel: `#${name}`, was: id, now: current.id }, 'the Slack channel name now names another channel');
      }
      return current && current.id !== id ? current.id : undefined;
    },

    join: joinChannel,

    ids(refs) {
      return refs.map((r) => dir.idOf(r)).filter((x): x is string => x !== undefined);
    },
  };
  return dir;
}
