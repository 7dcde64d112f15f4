/**
 * `POST /slack/events` and `POST /slack/interactions`: verified as Slack signs them, acknowledged
 * at once (Slack wants an answer within 3 s), the work done after the answer under its own
 * deadline. Slack's retries are recognised by event_id / trigger_id (kept in the store, so a
 * retry after a restart is recognised too) and start nothing new.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { createSlackApi } from './client';
import { createChannelDirectory } from './channels';
import type { SlackRuntime } from './start';
import type { SlackConfig } from './config';
import type { RunAdmitter } from '../core/runs';
import type { AlertmanagerClient } from '../sources/alertmanager';
import type { StateStore } from '../store/types';
import { SLACK_PATHS } from './constants';
import { eventEnvelopeSchema, handleEvent, handleInteraction, interactionSchema, type EntryDeps } from './entry';
import { verifySlackSignature } from './signature';

/** The work after an acknowledgement must end within this (Slack's response_url stays valid 30 minutes; a person is waiting). */
export const SLACK_WORK_BUDGET_MS = 60_000;
/** On close, work in flight gets this long before it is aborted. */
const CLOSE_GRACE_MS = 5_000;
/** Store namespace of the ids of requests already handled (purged with state.retentionDays). */
const SEEN_NAMESPACE = 'slack_entry';

export interface SlackEntryOptions {
  config: SlackConfig | undefined;
  pipeline: RunAdmitter;
  store: Pick<StateStore, 'getRun' | 'groupKeyOf' | 'initNotifierState' | 'getNotifierState'>;
  alertmanager?: AlertmanagerClient;
  /** The Slack client and channel directory built at start; built here when not given. */
  slack?: SlackRuntime;
  logger: Logger;
  rateLimitPerMinute: number;
  bodyLimitBytes: number;
  now?: () => number;
}

/** A response_url we may POST to: Slack's hooks host over https, or the configured Slack API's own origin (a test or proxy Slack). */
export function responseUrlAllowed(url: string, apiUrl: string): boolean {
  try {
    const u = new URL(url);
    if (u.username || u.password) return false;
    if (u.protocol === 'https:' && u.hostname === 'hooks.slack.com') return true;
    return u.origin === new URL(apiUrl).origin;
  } catch {
    return false;
  }
}

function createResponder(config: SlackConfig): EntryDeps['respond'] {
  return async (url, body, signal) => {
    if (!responseUrlAllowed(url, config.apiUrl)) throw new Error('response_url is not a Slack URL; not answering there');
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify(body),
      redirect: 'error',
      signal: AbortSignal.any([signal, AbortSignal.timeout(config.timeoutMs)]),
    });
    await res.body?.cancel().catch(() => {});
    if (!res.ok) throw new Error(`response_url answered HTTP ${res.status}`);
  };
}

/**
 * Registers the Slack entry points in their own plugin context (content-type parsers that keep
 * the body exactly as received, rate limited per client). Without `slack.signingSecret` nothing is
 * registered (the paths answer 404) and the log says so. Work still running at close gets
 * CLOSE_GRACE_MS, then is aborted.
 */
export async function registerSlackEntryPoints(app: FastifyInstance, opts: SlackEntryOptions): Promise<void> {
  const config = opts.config;
  if (!config?.signingSecret || !config.token) {
    opts.logger.info({ paths: Object.values(SLACK_PATHS) }, 'slack entry points off: set slack.signingSecret (and slack.token) to serve them');
    return;
  }
  const secret = config.signingSecret;
  const now = opts.now ?? Date.now;
  const logger = opts.logger.child({ component: 'slack-entry' });
  const api = opts.slack?.api ?? createSlackApi(config, { logger });
  const deps: EntryDeps = {
    config,
    pipeline: opts.pipeline,
    store: opts.store,
    ...(opts.alertmanager ? { alertmanager: opts.alertmanager } : {}),
    api,
    channels: opts.slack?.channels ?? createChannelDirectory(config, { api, logger }),
    respond: createResponder(config),
    logger,
  };
  const closing = new AbortController();
  const inflight = new Set<Promise<void>>();

  /**
   * True the first time an id is seen, by any replica sharing the store (durably: a retry after a
   * restart, or at another replica, is still a retry). Rejects with StoreError: the request then
   * answers 500 and Slack retries it.
   */
  const firstTime = async (key: string): Promise<boolean> => {
    const mine = randomUUID();
    return (await opts.store.initNotifierState(SEEN_NAMESPACE, key, mine, now())) === mine;
  };

  const background = (log: FastifyBaseLogger, what: string, work: (signal: AbortSignal) => Promise<string>) => {
    const signal = AbortSignal.any([AbortSignal.timeout(SLACK_WORK_BUDGET_MS), closing.signal]);
    const started = now();
    const p = (async () => {
      try {
        const outcome = await work(signal);
        log.info({ what, outcome, durationMs: now() - started }, 'slack request handled');
      } catch (e) {
        log.error({ what, err: (e as Error).message, aborted: signal.aborted, durationMs: now() - started }, 'slack request failed');
      }
    })();
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };

  /** The raw body if the signature holds; otherwise answers 401 and returns undefined. */
  const verified = (req: FastifyRequest, reply: FastifyReply): Buffer | undefined => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const check = verifySlackSignature(secret, req.headers, raw, now());
    if (check.ok) return raw;
    req.log.warn({ path: req.url.split('?')[0], reason: check.reason }, 'slack request refused');
    void reply
      .code(401)
      .send(
        check.reason === 'replay' ? { error: 'replay', message: 'the request timestamp is more than five minutes from now' } : { error: 'invalid_signature' },
      );
    return undefined;
  };

  const retryOf = (req: FastifyRequest) => {
    const n = req.headers['x-slack-retry-num'];
    return typeof n === 'string' ? { retry: n, reason: req.headers['x-slack-retry-reason'] } : undefined;
  };

  // eslint-disable-next-line @typescript-eslint/require-await -- avvio turns an async plugin's throw into a registration error (a sync plugin's throw escapes it: avvio lib/plugin.js exec)
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      ['application/x-www-form-urlencoded', 'application/json'],
      { parseAs: 'buffer', bodyLimit: opts.bodyLimitBytes },
      (_req, body, done) => done(null, body),
    );
    const limited = { config: { rateLimit: { max: opts.rateLimitPerMinute, timeWindow: 60_000 } } };

    scope.post(SLACK_PATHS.events, limited, async (req, reply) => {
      const raw = verified(req, reply);
      if (!raw) return reply;
      let envelope;
      try {
        const parsed = eventEnvelopeSchema.safeParse(JSON.parse(raw.toString('utf8')));
        if (!parsed.success) throw new Error(parsed.error.issues[0]?.message ?? 'not an event envelope');
        envelope = parsed.data;
      } catch (e) {
        return reply.code(400).send({ error: 'invalid_payload', message: `not a Slack event: ${(e as Error).message}` });
      }
      if (envelope.type === 'url_verification') return reply.code(200).send({ challenge: envelope.challenge ?? '' });
      const retry = retryOf(req);
      const log = req.log.child({ slackEvent: envelope.event_id, eventType: envelope.event?.type });
      const fresh = envelope.event_id ? await firstTime(`event:${envelope.event_id}`) : !retry;
      if (!fresh) {
        log.info({ ...retry }, 'slack event already handled; not running it again');
        return reply.code(200).send();
      }
      if (envelope.type === 'event_callback') background(log, 'event', (signal) => handleEvent(envelope, deps, signal));
      return reply.code(200).send();
    });

    scope.post(SLACK_PATHS.interactions, limited, async (req, reply) => {
      const raw = verified(req, reply);
      if (!raw) return reply;
      let payload;
      try {
        const field = new URLSearchParams(raw.toString('utf8')).get('payload');
        if (!field) throw new Error('no payload field');
        const parsed = interactionSchema.safeParse(JSON.parse(field));
        if (!parsed.success) throw new Error(parsed.error.issues[0]?.message ?? 'not an interaction payload');
        payload = parsed.data;
      } catch (e) {
        return reply.code(400).send({ error: 'invalid_payload', message: `not a Slack interaction: ${(e as Error).message}` });
      }
      const retry = retryOf(req);
      const log = req.log.child({ interaction: payload.type, user: payload.user?.id });
      const fresh = payload.trigger_id ? await firstTime(`interaction:${payload.trigger_id}`) : !retry;
      if (!fresh) {
        log.info({ ...retry }, 'slack interaction already handled; not running it again');
        return reply.code(200).send();
      }
      background(log, 'interaction', (signal) => handleInteraction(payload, deps, signal));
      return reply.code(200).send();
    });

    scope.addHook('onClose', async () => {
      if (inflight.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([Promise.allSettled([...inflight]), new Promise((r) => (timer = setTimeout(r, CLOSE_GRACE_MS)))]);
        clearTimeout(timer);
      }
      closing.abort(new Error('shutting down'));
    });
  });
  logger.info({ paths: Object.values(SLACK_PATHS) }, 'slack entry points on');
}
