/**
 * The Slack side of a receiver with a Slack token, built once at start and shared by the
 * notifier and the entry points: one Web API client (posts paced per channel across every
 * replica sharing the store) and the directory of the configured channels, whose names are
 * looked up now (src/slack/channels.ts).
 */
import type { Logger } from 'pino';
import type { StateStore } from '../store/types';
import { createChannelDirectory, type ChannelDirectory } from './channels';
import { createSharedChannelPacer, createSlackApi, type SlackApi } from './client';
import type { SlackConfig } from './config';

export interface SlackRuntime {
  api: SlackApi;
  channels: ChannelDirectory;
}

/**
 * Builds the client and the channel directory and looks the configured channel names up.
 * Rejects with SlackChannelConfigError when a name matches no channel the app can see or the
 * token may not list channels (the receiver must not start); a Slack that cannot be reached is
 * logged and the names are looked up when first needed. Throws Error without a token.
 */
export async function startSlack(config: SlackConfig, deps: { store: Pick<StateStore, 'reserveSendSlot'>; logger?: Logger }): Promise<SlackRuntime> {
  const logger = deps.logger?.child({ component: 'slack' });
  const api = createSlackApi(config, { ...(logger ? { logger } : {}), pacer: createSharedChannelPacer(deps.store, config.channelIntervalMs) });
  const channels = createChannelDirectory(config, { api, ...(logger ? { logger } : {}) });
  await channels.start(AbortSignal.timeout(config.channelLookupTimeoutMs + config.timeoutMs));
  return { api, channels };
}
