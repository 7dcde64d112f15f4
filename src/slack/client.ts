/**
 * The Slack Web API as the notifier needs it: a WebClient with an explicit timeout, a short
 * bounded retry policy and 429s surfaced to us, a per-channel pacer (about one message per
 * second per channel, as Slack asks), and every failure classified into a NotifyError. The
 * client never retries a rate limit itself: the pipeline's retry stage honours Retry-After.
 */
import { ErrorCode, LogLevel, WebClient, type Logger as SlackLogger } from '@slack/web-api';
import type { Logger } from 'pino';
import { NotifyError } from '../core/notifier';
import { sleep } from '../core/retry';
import type { SlackConfig } from './config';
import { slackErrorClass, type SlackErrorRole } from './errors';
import type { SlackBlock } from './blocks';

/** A classified Slack failure, with Slack's error code, the call that failed and (src/slack/errors.ts) its role. */
export class SlackNotifyError extends NotifyError {
  constructor(
    message: string,
    readonly method: string,
    readonly code: string,
    opts: { retryable: boolean; retryAfterMs?: number; cause?: unknown },
    readonly fix?: string,
    readonly role?: SlackErrorRole,
  ) {
    super(message, opts);
    this.name = 'SlackNotifyError';
  }
}

/** Throws a retryable NotifyError ("slack: aborted") when `signal` is aborted; between the steps of a delivery. */
export function aborted(signal: AbortSignal): void {
  if (signal.aborted) throw new NotifyError('slack: aborted', { retryable: true });
}

/**
 * Classifies anything a WebClient call threw: a 429 is retryable after its Retry-After; 5xx,
 * network errors and timeouts are retryable; an `ok:false` code as SLACK_ERRORS says (final ones
 * with what to fix; a code not in the table is retryable). The message never carries the token or
 * request body.
 */
export function classifySlackError(e: unknown, method: string): SlackNotifyError {
  if (e instanceof SlackNotifyError) return e;
  const err = e as {
    code?: string;
    retryAfter?: number;
    data?: { error?: string; needed?: string; response_metadata?: { retryAfter?: number } };
    statusCode?: number;
    original?: Error;
  };
  switch (err?.code) {
    case ErrorCode.RateLimitedError: {
      const ms = Math.max(0, (err.retryAfter ?? 1) * 1000);
      return new SlackNotifyError(`slack ${method}: rate limited, retry after ${ms} ms`, method, 'ratelimited', { retryable: true, retryAfterMs: ms });
    }
    case ErrorCode.PlatformError: {
      const code = err.data?.error ?? 'unknown_error';
      const c = slackErrorClass(code);
      const after = err.data?.response_metadata?.retryAfter;
      const needed = code === 'missing_scope' && err.data?.needed ? ` (needed: ${err.data.needed})` : '';
      const fix = c.fix && needed ? `${c.fix}${needed}` : c.fix;
      return new SlackNotifyError(
        `slack ${method}: ${code}${needed}${c.retryable ? (c.unclassified ? ' (unclassified; retried)' : '') : `: ${c.fix}`}`,
        method,
        code,
        { retryable: c.retryable, ...(c.retryable && after !== undefined ? { retryAfterMs: after * 1000 } : {}) },
        fix,
        c.role,
      );
    }
    case ErrorCode.HTTPError: {
      const status = err.statusCode ?? 0;
      const retryable = status >= 500 || status === 408 || status === 429;
      return new SlackNotifyError(`slack ${method}: HTTP ${status}`, method, `http_${status}`, { retryable });
    }
    case ErrorCode.RequestError:
      return new SlackNotifyError(`slack ${method}: request failed: ${err.original?.message ?? 'network error'}`, method, 'request_error', { retryable: true });
    default:
      return new SlackNotifyError(`slack ${method}: ${e instanceof Error ? e.message : String(e)}`, method, 'error', { retryable: true });
  }
}

/** Hands out send slots so that each channel gets at most one message per `intervalMs`. */
export interface ChannelPacer {
  /** Resolves when this channel's next slot comes; rejects with a retryable NotifyError when `signal` aborts first. */
  wait(channel: string, signal?: AbortSignal): Promise<void>;
}

/** An in-process pacer (one process posts for this receiver; Slack's limit is per channel). */
export function createChannelPacer(intervalMs: number, now: () => number = Date.now): ChannelPacer {
  const next = new Map<string, number>();
  return {
    async wait(channel, signal) {
      const t = now();
      for (const [c, at] of next) if (at < t) next.delete(c);
      const at = Math.max(t, next.get(channel) ?? 0);
      next.set(channel, at + intervalMs);
      if (at > t) await sleep(at - t, signal);
      if (signal?.aborted) throw new NotifyError('slack: aborted while waiting for the channel rate limit', { retryable: true });
    },
  };
}

/**
 * A pacer whose slots come from the state store (`reserveSendSlot`), so the replicas sharing it
 * keep to one budget per channel, not one each. A store that cannot be reached is a retryable
 * failure of the send (the notifier's retries try again).
 */
export function createSharedChannelPacer(store: { reserveSendSlot(channel: string, intervalMs: number): Promise<number> }, intervalMs: number): ChannelPacer {
  return {
    async wait(channel, signal) {
      let waitMs: number;
      try {
        waitMs = await store.reserveSendSlot(channel, intervalMs);
      } catch (e) {
        throw new NotifyError(`slack: no send slot for the channel (state store: ${(e as Error).message})`, { retryable: true });
      }
      if (waitMs > 0) await sleep(waitMs, signal);
      if (signal?.aborted) throw new NotifyError('slack: aborted while waiting for the channel rate limit', { retryable: true });
    },
  };
}

/** A message as conversations.history returns it (the parts we read). */
export interface SlackHistoryMessage {
  ts: string;
  text?: string;
  thread_ts?: string;
  files?: Array<{ id?: string; name?: string; title?: string }>;
  bot_id?: string;
  subtype?: string;
  attachments?: Array<{ title?: string; text?: string; fallback?: string; pretext?: string; fields?: Array<{ title?: string; value?: string }> }>;
  blocks?: Array<Record<string, unknown>>;
}

/** The calls the Slack notifier makes. Every method throws SlackNotifyError. */
export interface SlackApi {
  postMessage(
    args: { channel: string; text: string; blocks?: SlackBlock[]; thread_ts?: string },
    signal: AbortSignal,
  ): Promise<{ channel: string; ts: string }>;
  update(args: { channel: string; ts: string; text: string; blocks?: SlackBlock[] }, signal: AbortSignal): Promise<void>;
  deleteMessage(args: { channel: string; ts: string }, signal: AbortSignal): Promise<void>;
  /** A message only `user` sees, in `channel` (or its thread), never stored in the channel's history. */
  postEphemeral(args: { channel: string; user: string; text: string; thread_ts?: string }, signal: AbortSignal): Promise<void>;
  getPermalink(args: { channel: string; ts: string }, signal: AbortSignal): Promise<string>;
  /** A thread: its parent and up to `limit` replies, oldest first. */
  replies(args: { channel: string; ts: string; limit: number }, signal: AbortSignal): Promise<SlackHistoryMessage[]>;
  /** One page of a channel's top-level messages, newest first. */
  history(
    args: { channel: string; oldest?: string; latest?: string; limit: number; cursor?: string },
    signal: AbortSignal,
  ): Promise<{ messages: SlackHistoryMessage[]; nextCursor?: string }>;
  uploadFile(
    args: { channel_id: string; thread_ts?: string; filename: string; title: string; alt_text: string; file: Buffer },
    signal: AbortSignal,
  ): Promise<{ fileId?: string }>;
  /** One page of the workspace's channels the token can see (conversations.list; `types` e.g. "public_channel,private_channel"). */
  listChannels(
    args: { types: string; limit: number; cursor?: string; excludeArchived: boolean },
    signal: AbortSignal,
  ): Promise<{ channels: SlackChannel[]; nextCursor?: string }>;
  /** Joins a public channel (conversations.join, scope channels:join); a member already gets the same answer. */
  join(args: { channel: string }, signal: AbortSignal): Promise<SlackChannel>;
}

/** A channel as conversations.list and .join return it (the fields we read). */
export interface SlackChannel {
  id: string;
  name: string;
  is_private?: boolean;
  is_archived?: boolean;
  is_member?: boolean;
}

/** A logger for WebClient that forwards its warnings to pino, drops its debug output (request bodies) and scrubs the token. */
export function slackLogger(token: string | undefined, logger?: Logger): SlackLogger {
  const scrub = (msg: unknown[]) =>
    msg
      .map((m) => (typeof m === 'string' ? m : (JSON.stringify(m) ?? '')))
      .join(' ')
      .split(token && token.length > 0 ? token : '\u0000')
      .join('[REDACTED]');
  let level = LogLevel.WARN;
  return {
    debug: () => {},
    info: () => {},
    warn: (...msg: unknown[]) => logger?.warn({ slackClient: scrub(msg) }, 'slack client warning'),
    error: (...msg: unknown[]) => logger?.error({ slackClient: scrub(msg) }, 'slack client error'),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => {},
  };
}

/** Rejects with a retryable NotifyError when `signal` aborts before `p` settles (the request itself ends at the client's timeout). */
async function withSignal<T>(p: Promise<T>, signal: AbortSignal, method: string): Promise<T> {
  if (signal.aborted) throw new SlackNotifyError(`slack ${method}: aborted`, method, 'aborted', { retryable: true });
  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new SlackNotifyError(`slack ${method}: aborted`, method, 'aborted', { retryable: true }));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  p.catch(() => {});
  try {
    return await Promise.race([p, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Builds the Slack API from `slack` config: WebClient with `timeout`, `rejectRateLimitedCalls`
 * (a 429 is thrown with its Retry-After) and `slackApiUrl` from `apiUrl`. Idempotent calls
 * (reads, chat.update) get `retries` quick retries of network errors and 5xx; calls that post
 * (chat.postMessage, the file upload) get none, because a timed-out post may have gone through:
 * the notifier retries those itself after looking for what was posted. Messages to one channel
 * are paced by `pacer`. Throws Error when no token is configured.
 */
export function createSlackApi(
  config: Pick<SlackConfig, 'token' | 'apiUrl' | 'timeoutMs' | 'retries' | 'channelIntervalMs'>,
  deps: { logger?: Logger; pacer?: ChannelPacer } = {},
): SlackApi {
  if (!config.token) throw new Error('the slack notifier needs slack.token');
  const clientWith = (retries: number) =>
    new WebClient(config.token, {
      slackApiUrl: config.apiUrl,
      timeout: config.timeoutMs,
      retryConfig: { retries, factor: 2, minTimeout: 200, maxTimeout: 1_000, randomize: true },
      rejectRateLimitedCalls: true,
      logger: slackLogger(config.token, deps.logger),
      logLevel: LogLevel.WARN,
      maxRequestConcurrency: 10,
    });
  const client = clientWith(config.retries);
  const poster = clientWith(0);
  const pacer = deps.pacer ?? createChannelPacer(config.channelIntervalMs);
  const call = async <T>(method: string, signal: AbortSignal, f: () => Promise<T>): Promise<T> => {
    try {
      return await withSignal(f(), signal, method);
    } catch (e) {
      throw classifySlackError(e, method);
    }
  };
  return {
    async postMessage(args, signal) {
      await pacer.wait(args.channel, signal);
      const r = await call('chat.postMessage', signal, () =>
        poster.chat.postMessage({
          channel: args.channel,
          text: args.text,
          ...(args.blocks ? { blocks: args.blocks } : {}),
          ...(args.thread_ts ? { thread_ts: args.thread_ts } : {}),
          unfurl_links: false,
          unfurl_media: false,
        }),
      );
      return { channel: r.channel ?? args.channel, ts: r.ts! };
    },
    async update(args, signal) {
      await pacer.wait(args.channel, signal);
      await call('chat.update', signal, () =>
        client.chat.update({ channel: args.channel, ts: args.ts, text: args.text, ...(args.blocks ? { blocks: args.blocks } : {}) }),
      );
    },
    async postEphemeral(args, signal) {
      await call('chat.postEphemeral', signal, () =>
        poster.chat.postEphemeral({ channel: args.channel, user: args.user, text: args.text, ...(args.thread_ts ? { thread_ts: args.thread_ts } : {}) }),
      );
    },
    async deleteMessage(args, signal) {
      await call('chat.delete', signal, () => client.chat.delete({ channel: args.channel, ts: args.ts }));
    },
    async getPermalink(args, signal) {
      const r = await call('chat.getPermalink', signal, () => client.chat.getPermalink({ channel: args.channel, message_ts: args.ts }));
      return r.permalink ?? '';
    },
    async replies(args, signal) {
      const r = await call('conversations.replies', signal, () => client.conversations.replies({ channel: args.channel, ts: args.ts, limit: args.limit }));
      return (r.messages ?? []) as SlackHistoryMessage[];
    },
    async history(args, signal) {
      const r = await call('conversations.history', signal, () =>
        client.conversations.history({
          channel: args.channel,
          limit: args.limit,
          ...(args.oldest ? { oldest: args.oldest } : {}),
          ...(args.latest ? { latest: args.latest } : {}),
          ...(args.cursor ? { cursor: args.cursor } : {}),
        }),
      );
      const next = r.response_metadata?.next_cursor;
      return { messages: (r.messages ?? []) as SlackHistoryMessage[], ...(next ? { nextCursor: next } : {}) };
    },
    async listChannels(args, signal) {
      const r = await call('conversations.list', signal, () =>
        client.conversations.list({
          types: args.types,
          limit: args.limit,
          exclude_archived: args.excludeArchived,
          ...(args.cursor ? { cursor: args.cursor } : {}),
        }),
      );
      const next = r.response_metadata?.next_cursor;
      return { channels: (r.channels ?? []) as SlackChannel[], ...(next ? { nextCursor: next } : {}) };
    },
    async join(args, signal) {
      const r = await call('conversations.join', signal, () => client.conversations.join({ channel: args.channel }));
      return (r.channel ?? { id: args.channel, name: '' }) as SlackChannel;
    },
    async uploadFile(args, signal) {
      await pacer.wait(args.channel_id, signal);
      const r = await call('files.uploadV2', signal, () =>
        poster.filesUploadV2({
          channel_id: args.channel_id,
          ...(args.thread_ts ? { thread_ts: args.thread_ts } : {}),
          file: args.file,
          filename: args.filename,
          title: args.title,
          alt_text: args.alt_text,
        } as never),
      );
      const files = (r as { files?: Array<{ files?: Array<{ id?: string }> }> }).files;
      const id = files?.[0]?.files?.[0]?.id;
      return id ? { fileId: id } : {};
    },
  };
}
