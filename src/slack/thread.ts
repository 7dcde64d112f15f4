/**
 * The thread of an alert group in Slack: where it is (the page Alertmanager posted in the alerts
 * channel, else our own parent), how it is remembered in the store under `thread:<groupKey>`
 * (so re-runs, repeats and the resolve land in it across restarts), and what happens when it is
 * gone (DeadThread: a newer page, else a new parent of ours, takes its place). Posting our own
 * parent is the notifier's: it is handed in as PostParent.
 */
import type { Logger } from 'pino';
import type { Diagnostic } from '../core/diagnostic';
import type { NotifyContext } from '../core/notifier';
import type { AlertGroup } from '../core/alert';
import { sleep } from '../core/retry';
import type { StateStore } from '../store/types';
import type { DiagnosticSnapshot } from '../notifiers/message';
import { aborted, SlackNotifyError, type SlackApi, type SlackHistoryMessage } from './client';
import type { SlackConfig } from './config';
import type { ChannelDirectory } from './channels';

/** The Slack notifier's name, which is also the namespace of its state in the store. */
export const NOTIFIER = 'slack';
/** conversations.history page size (Slack allows up to 1,000; 200 is its recommendation). */
export const HISTORY_PAGE = 200;
/** Pages of history read per search. */
const HISTORY_PAGES = 3;
/** Our own messages carry block ids with this prefix; the page search skips them. */
const OWN_BLOCK_PREFIX = 'pf_';
/** Errors of conversations.history after which we stop looking for the page and post our own parent. */
const HISTORY_UNREADABLE = new Set(['missing_scope', 'not_in_channel']);

/** The thread of an alert group, as stored under `thread:<groupKey>`. */
export interface ThreadState {
  channel: string;
  /** The parent message: the page Alertmanager posted, or ours. */
  ts: string;
  own: boolean;
  /** The run that posted our own parent. */
  parentRunId?: string;
  permalink?: string;
  /** Our diagnostic message in the thread (updated in place by later runs). */
  diagnosticTs?: string;
  /** What that message shows now, for "what changed". */
  shown?: DiagnosticSnapshot;
  /** Set by a resolve; a later firing starts a new diagnostic message. */
  resolved?: boolean;
  incident?: { channel: string; ts: string };
}

/**
 * Records `where` (a message someone asked about from Slack) as the thread of `groupKey`, unless
 * the group already has a thread: the existing one wins. Returns the group's thread.
 */
export function rememberThread(
  store: Pick<StateStore, 'initNotifierState'>,
  groupKey: string,
  where: { channel: string; ts: string },
  now = Date.now(),
): Promise<ThreadState> {
  return store.initNotifierState<ThreadState>(NOTIFIER, `thread:${groupKey}`, { channel: where.channel, ts: where.ts, own: false }, now);
}

/** The thread of `groupKey` as stored (its parent, our diagnostic message in it), or undefined. */
export function threadOf(store: Pick<StateStore, 'getNotifierState'>, groupKey: string): Promise<ThreadState | undefined> {
  return store.getNotifierState<ThreadState>(NOTIFIER, `thread:${groupKey}`);
}

function unescapeSlack(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** Every text of a history message: text, attachments (title, text, fallback, fields) and block texts. */
export function messageText(m: SlackHistoryMessage): string {
  const parts: string[] = [m.text ?? ''];
  for (const a of m.attachments ?? []) {
    parts.push(a.title ?? '', a.pretext ?? '', a.text ?? '', a.fallback ?? '');
    for (const f of a.fields ?? []) parts.push(f.title ?? '', f.value ?? '');
  }
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) {
        if (k === 'text' && typeof x === 'string') parts.push(x);
        else walk(x);
      }
  };
  walk(m.blocks ?? []);
  return unescapeSlack(parts.join('\n'));
}

function isOwn(m: SlackHistoryMessage): boolean {
  return (m.blocks ?? []).some((b) => typeof b.block_id === 'string' && b.block_id.startsWith(OWN_BLOCK_PREFIX));
}

/**
 * Picks the page of this alert group among channel messages: a top-level message, not ours,
 * naming the alertname (as a word) and every group label value; firing pages first, then the
 * one matching most of the alert's labels, then the earliest. Pure.
 */
export function pickPage(
  messages: readonly SlackHistoryMessage[],
  alert: { alertname: string; groupLabels: Record<string, string>; labels: Record<string, string> },
): SlackHistoryMessage | undefined {
  const word = new RegExp(`(^|[^A-Za-z0-9_:])${alert.alertname.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^A-Za-z0-9_:])`);
  let best: { m: SlackHistoryMessage; firing: boolean; score: number } | undefined;
  for (const m of messages) {
    if ((m.thread_ts && m.thread_ts !== m.ts) || isOwn(m)) continue;
    const text = messageText(m);
    if (!word.test(text)) continue;
    if (!Object.values(alert.groupLabels).every((v) => text.includes(v))) continue;
    const firing = /FIRING/i.test(text) && !/\[RESOLVED\]/i.test(text);
    const score = Object.values(alert.labels).filter((v) => v.length > 0 && text.includes(v)).length;
    const better = !best || (firing !== best.firing ? firing : score !== best.score ? score > best.score : Number(m.ts) < Number(best.m.ts));
    if (better) best = { m, firing, score };
  }
  return best?.m;
}

/** The stored thread cannot take the diagnostic (parent deleted, channel archived or gone, app not in it): start a new one. */
export class DeadThread extends Error {
  constructor(
    readonly thread: ThreadState,
    readonly slackError: SlackNotifyError,
  ) {
    super(`the thread ${thread.channel}/${thread.ts} is gone (${slackError.code})`);
    this.name = 'DeadThread';
  }
}

/** Where a group's thread may go: the alerts channel (where its pages are) when configured, and the channel of our own parent. */
export interface ThreadPlaces {
  alerts?: string;
  home: string;
}

/** Posts our own thread parent in `home` (not again when an earlier attempt did); returns where it went. */
export type PostParent = (home: string) => Promise<{ channel: string; ts: string }>;

/** What the thread finder needs: narrow views of the Slack client, the channel directory and the store. */
export interface ThreadFinderDeps {
  api: Pick<SlackApi, 'history' | 'replies' | 'getPermalink' | 'deleteMessage'>;
  channels: Pick<ChannelDirectory, 'join'>;
  store: Pick<StateStore, 'getNotifierState' | 'setNotifierState' | 'initNotifierState'>;
  now: () => number;
  /** Runs `f` against a configured channel (the notifier's: joins it, or looks its name up again). */
  onChannel: <T>(id: string, signal: AbortSignal, f: (id: string) => Promise<T>) => Promise<T>;
}

/** The thread operations of the Slack notifier (see createThreadFinder). */
export type ThreadFinder = ReturnType<typeof createThreadFinder>;

/**
 * Finds, stores and replaces the threads of alert groups. `ensure` returns the stored thread,
 * else the page found in the alerts channel (waiting up to threadSearchWaitMs), else our own
 * parent; `check` makes sure a stored one is still there and has its permalink, `inThread`
 * turns Slack's "cannot go there" answers into DeadThread, and `replace` stores a new thread in
 * place of a dead one. Slack's other errors are thrown as they come.
 */
export function createThreadFinder(config: Pick<SlackConfig, 'threadSearchWaitMs' | 'threadSearchPollMs' | 'threadSearchLookbackMs'>, deps: ThreadFinderDeps) {
  const { api, channels, store, now, onChannel } = deps;
  const threadKey = (groupKey: string) => `thread:${groupKey}`;
  const getThread = (groupKey: string) => threadOf(store, groupKey);
  const patchThread = async (groupKey: string, patch: Partial<ThreadState>): Promise<ThreadState> => {
    const next = { ...(await getThread(groupKey))!, ...patch };
    await store.setNotifierState(NOTIFIER, threadKey(groupKey), next, now());
    return next;
  };

  /** Runs `f` against the stored thread: a reply that Slack says cannot go there becomes DeadThread (a public channel the app left is joined first). */
  async function inThread<T>(thread: ThreadState, signal: AbortSignal, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      if (!(e instanceof SlackNotifyError)) throw e;
      if (e.role === 'not_in_channel' && (await channels.join(thread.channel, signal).catch(() => false))) {
        try {
          return await f();
        } catch (again) {
          if (again instanceof SlackNotifyError && isGone(again)) throw new DeadThread(thread, again);
          throw again;
        }
      }
      if (isGone(e)) throw new DeadThread(thread, e);
      throw e;
    }
  }

  function isGone(e: SlackNotifyError): boolean {
    return e.role === 'dead_thread' || e.role === 'archived' || e.role === 'channel_not_found' || e.role === 'not_in_channel';
  }

  /**
   * The page of the alert in the alerts channel (waiting up to threadSearchWaitMs for it), newer
   * than `newerThan` when given. Undefined when none, or when the channel cannot be read.
   */
  async function findPage(
    d: Diagnostic,
    group: AlertGroup,
    channel: string,
    signal: AbortSignal,
    logger: Logger,
    newerThan?: string,
  ): Promise<SlackHistoryMessage | undefined> {
    const oldest = newerThan && Number(newerThan) > Number(oldestOf(d)) ? newerThan : oldestOf(d);
    const alert = { alertname: d.alertname, groupLabels: group.groupLabels ?? {}, labels: d.alert?.labels ?? {} };
    const deadline = now() + config.threadSearchWaitMs;
    for (let attempt = 1; ; attempt++) {
      let cursor: string | undefined;
      for (let page = 0; page < HISTORY_PAGES; page++) {
        let r: Awaited<ReturnType<SlackApi['history']>>;
        try {
          r = await onChannel(channel, signal, (id) => api.history({ channel: id, oldest, limit: HISTORY_PAGE, ...(cursor ? { cursor } : {}) }, signal));
        } catch (e) {
          // Without read access the page cannot be found, but we may still post: thread under our own parent.
          if (!(e instanceof SlackNotifyError && HISTORY_UNREADABLE.has(e.code))) throw e;
          logger.warn({ channel, slackError: e.code, fix: e.fix }, 'cannot read the alerts channel to find the page; posting our own thread parent');
          return undefined;
        }
        const hit = pickPage(
          r.messages.filter((m) => !newerThan || Number(m.ts) > Number(newerThan)),
          alert,
        );
        if (hit) {
          logger.info({ channel, ts: hit.ts, attempt }, 'found the page in the alerts channel');
          return hit;
        }
        cursor = r.nextCursor;
        if (!cursor) break;
      }
      const left = deadline - now();
      if (left <= 0) return undefined;
      await sleep(Math.min(config.threadSearchPollMs, left), signal);
      aborted(signal);
    }
  }

  /** The oldest ts worth searching for this alert's messages (its start minus the lookback). */
  function oldestOf(d: Diagnostic): string {
    const start = Date.parse(d.alert?.startsAt ?? d.startedAt);
    return (((Number.isFinite(start) ? start : now()) - config.threadSearchLookbackMs) / 1000).toFixed(6);
  }

  /** A new thread for the group: the page in the alerts channel (newer than `newerThan`), else our own parent in the home channel. */
  async function newThread(d: Diagnostic, ctx: NotifyContext, where: ThreadPlaces, postParent: PostParent, newerThan?: string): Promise<ThreadState> {
    if (where.alerts) {
      const page = await findPage(d, ctx.group, where.alerts, ctx.signal, ctx.logger, newerThan);
      if (page) return { channel: where.alerts, ts: page.ts, own: false };
      ctx.logger.info({ channel: where.home, waitedMs: config.threadSearchWaitMs }, 'no page found in the alerts channel; posting our own thread parent');
    }
    const r = await postParent(where.home);
    return { channel: r.channel, ts: r.ts, own: true, parentRunId: d.id };
  }

  /** The group's thread: stored, else the page found in the alerts channel, else our own parent. `fresh` when this call made it. */
  async function ensureThread(
    d: Diagnostic,
    ctx: NotifyContext,
    where: ThreadPlaces,
    postParent: PostParent,
  ): Promise<{ thread: ThreadState; fresh: boolean }> {
    const existing = await getThread(d.groupKey);
    if (existing) return { thread: existing, fresh: false };
    const candidate = await newThread(d, ctx, where, postParent);
    // The durable tie-breaker: the first thread stored for the group wins.
    const stored = await store.initNotifierState<ThreadState>(NOTIFIER, threadKey(d.groupKey), candidate, now());
    if (candidate.own && stored.ts !== candidate.ts) {
      ctx.logger.warn({ kept: stored.ts, removed: candidate.ts }, 'another run created the thread first; removing our duplicate parent');
      await api
        .deleteMessage({ channel: candidate.channel, ts: candidate.ts }, ctx.signal)
        .catch((e) => ctx.logger.warn({ err: (e as Error).message }, 'could not remove the duplicate parent'));
    }
    return { thread: stored, fresh: stored.ts === candidate.ts };
  }

  /**
   * Forgets the dead thread of the group and stores a new one (a newer page, else our own
   * parent), keeping the incident summary so that it is updated to link the new thread.
   */
  async function replaceThread(d: Diagnostic, ctx: NotifyContext, where: ThreadPlaces, postParent: PostParent, dead: DeadThread): Promise<ThreadState> {
    ctx.logger.warn(
      { channel: dead.thread.channel, ts: dead.thread.ts, slackError: dead.slackError.code, method: dead.slackError.method },
      'the stored Slack thread of this alert is gone; starting a new one',
    );
    const fresh = await newThread(d, ctx, where, postParent, dead.thread.channel === where.alerts ? dead.thread.ts : undefined);
    const next: ThreadState = { ...fresh, ...(dead.thread.incident ? { incident: dead.thread.incident } : {}) };
    await store.setNotifierState(NOTIFIER, threadKey(d.groupKey), next, now());
    return next;
  }

  /**
   * The thread, checked before a run writes into it: when `verify` (a thread from an earlier run),
   * that its parent is still there (conversations.replies answers thread_not_found once it is
   * deleted) and its channel not archived or deleted; then its permalink, fetched and stored
   * when missing. Throws DeadThread when the thread is gone; Slack's other errors as they come.
   */
  async function checkThread(thread: ThreadState, groupKey: string, verify: boolean, signal: AbortSignal): Promise<ThreadState> {
    if (verify) {
      aborted(signal);
      await inThread(thread, signal, () => api.replies({ channel: thread.channel, ts: thread.ts, limit: 1 }, signal)).catch((e) => {
        // Without read access the parent cannot be checked; the reply below still finds out.
        if (e instanceof SlackNotifyError && e.code === 'missing_scope') return [];
        throw e;
      });
    }
    if (thread.permalink) return thread;
    aborted(signal);
    const permalink = await inThread(thread, signal, () => api.getPermalink({ channel: thread.channel, ts: thread.ts }, signal)).catch((e) => {
      if (e instanceof SlackNotifyError && e.role === 'dead_message') throw new DeadThread(thread, e);
      throw e;
    });
    return permalink ? patchThread(groupKey, { permalink }) : thread;
  }

  return { get: getThread, patch: patchThread, inThread, check: checkThread, oldestOf, ensure: ensureThread, replace: replaceThread };
}
