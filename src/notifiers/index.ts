import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { Notifier } from '../core/notifier';
import type { StateStore } from '../store/types';
import { createConsoleNotifier } from './console';
import type { SlackConfig } from '../slack/config';
import { createSlackNotifier } from '../slack/notifier';
import type { SlackRuntime } from '../slack/start';
import type { LinksConfig } from './links';
import type { NotifierName } from './names';

export { NOTIFIER_NAMES, type NotifierName } from './names';

/** What notifier factories may draw from. */
export interface NotifierDeps {
  /** The config's `slack` and `links` parts. */
  config: { slack?: SlackConfig; links: LinksConfig };
  store: Pick<StateStore, 'getNotifierState' | 'setNotifierState' | 'initNotifierState' | 'previousDiagnostic' | 'reserveSendSlot'>;
  out: Pick<Writable, 'write'>;
  /** For notifiers' own warnings (the Slack client's). */
  logger?: Logger;
  /** The Slack client and channel directory built at start (src/slack/start.ts); the notifier builds its own without it. */
  slack?: SlackRuntime;
}

/** The explicit list of notifiers and how each is built. */
const FACTORIES: Record<NotifierName, (deps: NotifierDeps) => Notifier> = {
  console: (d) => createConsoleNotifier({ out: d.out, links: d.config.links }),
  slack: (d) => {
    if (!d.config.slack) throw new Error('the slack notifier needs the slack settings (slack.token and a channel)');
    return createSlackNotifier(d.config.slack, {
      store: d.store,
      links: d.config.links,
      logger: d.logger?.child({ notifier: 'slack' }),
      ...(d.slack ? { api: d.slack.api, channels: d.slack.channels } : {}),
    });
  },
};

/** Builds the notifiers named in `names` (each once). */
export function createNotifiers(names: Iterable<NotifierName>, deps: NotifierDeps): Map<string, Notifier> {
  const out = new Map<string, Notifier>();
  for (const n of names) if (!out.has(n)) out.set(n, FACTORIES[n](deps));
  return out;
}

/** Where diagnostics go when a route names no notifiers: Slack with a token, else the console. */
export function defaultNotifiers(config: { slack?: Pick<SlackConfig, 'token'> }): NotifierName[] {
  return config.slack?.token ? ['slack'] : ['console'];
}
