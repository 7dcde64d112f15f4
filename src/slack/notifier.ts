/**
 * The Slack notifier: the diagnostic goes into the alert's thread (the page Alertmanager posted
 * in `alertsChannel`, else our own parent message), a summary with a permalink goes to
 * `incidentChannel`, and a chart of the pool goes into the thread. The thread of an alert group
 * is found and kept in the store by thread.ts, so re-runs, repeats and the resolve land in it
 * across restarts. Each step records its outcome before the next, so a retried or resumed run
 * never posts twice.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Diagnostic } from '../core/diagnostic';
import { NotifyError, type Notifier, type NotifyContext } from '../core/notifier';
import type { LinksConfig } from '../notifiers/links';
import { sleep } from '../core/retry';
import type { StateStore } from '../store/types';
import { buildMessageModel, describeChanges, poolSeries, snapshotOf, type DiagnosticSnapshot, type MessageModel } from '../notifiers/message';
import { renderPoolChart } from './chart';
import { aborted, createSharedChannelPacer, createSlackApi, SlackNotifyError, type SlackApi } from './client';
import type { SlackConfig } from './config';
import { createChannelDirectory, type ChannelDirectory } from './channels';
import type { SlackMessage } from './blocks';
import { renderChangeReply, renderDiagnostic, renderIncidentSummary, renderParent, renderResolveReply } from './render';
import { createThreadFinder, DeadThread, HISTORY_PAGE, NOTIFIER, type ThreadPlaces, type ThreadState } from './thread';

/** Tries of the chart upload when Slack answers 429, 5xx or not at all; then the run goes on without it. */
const CHART_UPLOAD_ATTEMPTS = 3;
/** Wait before the next try where Slack gives no Retry-After: this times the attempt number. */
const CHART_RETRY_BACKOFF_MS = 1_000;

/** Steps a run has completed, as stored under `run:<runId>`. */
interface RunSteps {
  /** An attempt began: a later one first looks for what an earlier one may have posted. */
  started?: boolean;
  diagnostic?: 'posted' | 'updated' | 'skipped';
  change?: boolean;
  chart?: string;
  resolve?: boolean;
  parent?: boolean;
  incident?: boolean;
}

/** What the Slack notifier needs besides its config; `api`, `renderChart` and `now` default to the real ones. */
export interface SlackNotifierDeps {
  store: Pick<StateStore, 'getNotifierState' | 'setNotifierState' | 'initNotifierState' | 'previousDiagnostic' | 'reserveSendSlot'>;
  links?: LinksConfig;
  /** Built from the config when not given. */
  api?: SlackApi;
  /** The configured channels' ids (shared with the entry points); built over `api` when not given. */
  channels?: ChannelDirectory;
  /** For the Slack client's own warnings. */
  logger?: Logger;
  renderChart?: typeof renderPoolChart;
  now?: () => number;
}

/** Makes calls with one key run one after another in this process. */
function keyedLock() {
  const tails = new Map<string, Promise<void>>();
  return async <T>(key: string, f: () => Promise<T>): Promise<T> => {
    const prev = tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    tails.set(key, tail);
    await prev;
    try {
      return await f();
    } finally {
      release();
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}

/** A short stable tag of an id, for block ids that mark our messages. */
function tagOf(id: string): string {
  return createHash('sha256').update(id).digest('hex').slice(0, 16);
}

/**
 * Creates the Slack notifier. `notify` returns the thread (permalink, else channel and ts) and
 * throws a classified NotifyError (SlackNotifyError for Slack's answers): final ones are also
 * logged with what to fix. Configured channel names are looked up through `deps.channels` (a
 * directory of its own when not given). Throws Error at once when the config has no token;
 * without any channel every delivery fails with a final error saying which setting to add.
 *
 * A stored thread that is gone (its parent deleted, its channel archived or deleted, the app
 * not in it and unable to join) is forgotten on the spot: a newer page of the alert, else our own
 * parent, becomes the group's thread and the run goes on there, in the same attempt; the
 * incident summary is updated to link the new thread.
 */
export function createSlackNotifier(config: SlackConfig, deps: SlackNotifierDeps): Notifier {
  const homeRef = config.alertsChannel ?? config.incidentChannel;
  // one message per second per channel across every replica sharing the store
  const api = deps.api ?? createSlackApi(config, { logger: deps.logger, pacer: createSharedChannelPacer(deps.store, config.channelIntervalMs) });
  const channels = deps.channels ?? createChannelDirectory(config, { api, ...(deps.logger ? { logger: deps.logger } : {}) });
  const renderChart = deps.renderChart ?? renderPoolChart;
  const now = deps.now ?? Date.now;
  const { store } = deps;
  const lock = keyedLock();
  const runKey = (runId: string) => `run:${runId}`;
  const threads = createThreadFinder(config, { api, channels, store, now, onChannel });

  function logCuts(msg: SlackMessage, what: string, logger: Logger): SlackMessage {
    if (msg.cuts.length > 0) logger.warn({ message: what, cuts: msg.cuts.slice(0, 20) }, 'slack message cut to fit the limits');
    return msg;
  }

  /**
   * Runs `f` against a configured channel: a public channel the app is not in is joined (where
   * the scope allows) and `f` tried once more; a channel Slack no longer knows is looked up
   * again by its configured name and `f` tried once more on the new id. Anything else is thrown.
   */
  async function onChannel<T>(id: string, signal: AbortSignal, f: (id: string) => Promise<T>): Promise<T> {
    try {
      return await f(id);
    } catch (e) {
      if (!(e instanceof SlackNotifyError)) throw e;
      if (e.role === 'not_in_channel' && (await channels.join(id, signal))) return f(id);
      if (e.role === 'channel_not_found') {
        const next = await channels.refresh(id, signal);
        if (next) return f(next);
      }
      throw e;
    }
  }

  /** The ts of our message marked `blockId` in a thread or (from `oldest`) a channel, if an earlier attempt posted it. */
  async function findPosted(channel: string, blockId: string, where: { threadTs?: string; oldest?: string }, signal: AbortSignal): Promise<string | undefined> {
    const messages = where.threadTs
      ? await api.replies({ channel, ts: where.threadTs, limit: HISTORY_PAGE }, signal)
      : (await api.history({ channel, limit: HISTORY_PAGE, ...(where.oldest ? { oldest: where.oldest } : {}) }, signal)).messages;
    return messages.find((m) => m.ts !== where.threadTs && (m.blocks ?? []).some((b) => b.block_id === blockId))?.ts;
  }

  /** Posts `msg` unless, when recovering, an earlier attempt already did (found by its marker block id). */
  async function postOnce(
    args: { channel: string; threadTs?: string; oldest?: string; msg: SlackMessage },
    recovering: boolean,
    signal: AbortSignal,
    logger: Logger,
  ): Promise<{ channel: string; ts: string }> {
    const marker = args.msg.blocks[0]?.block_id;
    if (recovering && marker) {
      const ts = await findPosted(
        args.channel,
        marker,
        { ...(args.threadTs ? { threadTs: args.threadTs } : {}), ...(args.oldest ? { oldest: args.oldest } : {}) },
        signal,
      );
      if (ts) {
        logger.info({ channel: args.channel, ts, marker }, 'an earlier attempt already posted this message; not posting it again');
        return { channel: args.channel, ts };
      }
    }
    return api.postMessage(
      { channel: args.channel, text: args.msg.text, blocks: args.msg.blocks, ...(args.threadTs ? { thread_ts: args.threadTs } : {}) },
      signal,
    );
  }

  function lastedMs(d: Diagnostic): number | undefined {
    const start = Date.parse(d.alert?.startsAt ?? '');
    const end = Date.parse(d.alert?.endsAt ?? d.finishedAt);
    return Number.isFinite(start) && Number.isFinite(end) && end >= start ? end - start : undefined;
  }

  async function deliver(d: Diagnostic, ctx: NotifyContext): Promise<string> {
    if (!homeRef)
      throw new SlackNotifyError(
        'slack: no channel configured',
        'config',
        'no_channel',
        { retryable: false },
        'set slack.alertsChannel (where Alertmanager posts pages) and/or slack.incidentChannel',
      );
    const { signal } = ctx;
    const logger = ctx.logger;
    // Configured names are looked up (at start, or now if Slack could not be asked then).
    const alerts = config.alertsChannel ? await channels.resolve(config.alertsChannel, signal) : undefined;
    const incident = config.incidentChannel ? await channels.resolve(config.incidentChannel, signal) : undefined;
    const where: ThreadPlaces = { ...(alerts ? { alerts } : {}), home: (alerts ?? incident)! };
    const model = buildMessageModel(d, deps.links);
    const snapshot = snapshotOf(model, d);
    let steps: RunSteps = (await store.getNotifierState<RunSteps>(NOTIFIER, runKey(d.id))) ?? {};
    const done = async (patch: RunSteps) => {
      steps = { ...steps, ...patch };
      await store.setNotifierState(NOTIFIER, runKey(d.id), steps, now());
    };
    // A post whose answer was lost (timeout, crash) may have gone through: later attempts look first.
    const recovering = steps.started === true;
    if (!recovering) await done({ started: true });
    const runTag = tagOf(d.id);
    /** Our own thread parent, where no page is found. */
    const postParent = (home: string) =>
      onChannel(home, signal, (id) =>
        postOnce({ channel: id, oldest: threads.oldestOf(d), msg: renderParent(model, { tag: tagOf(d.groupKey) }) }, recovering, signal, logger),
      );
    const ensured = await threads.ensure(d, ctx, where, postParent);
    let thread = ensured.thread;
    let verify = !ensured.fresh;
    for (let round = 1; ; round++) {
      try {
        return await threadSteps();
      } catch (e) {
        if (!(e instanceof DeadThread)) throw e;
        if (round > 1) throw e.slackError;
        thread = await threads.replace(d, ctx, where, postParent, e);
        verify = false;
        // What this run did in the dead thread is redone in the new one.
        await done({ diagnostic: undefined, change: undefined, resolve: undefined, parent: undefined, incident: undefined, chart: undefined });
      }
    }

    async function threadSteps(): Promise<string> {
      const reply = (msg: SlackMessage) => replyIn(thread, msg, { recovering, signal, logger });

      thread = await threads.check(thread, d.groupKey, verify, signal);
      verify = false;

      // 1. The diagnostic: a new reply, or the earlier one updated in place plus what changed.
      const resolved = d.status === 'resolved';
      if (!steps.diagnostic) thread = await sendDiagnostic(d, model, snapshot, thread, { recovering, signal, logger, done });
      if (steps.diagnostic === 'updated' && !steps.change) {
        aborted(signal);
        const before = thread.shown ?? (await previousSnapshot(d));
        const changes = before ? describeChanges(before, snapshot) : [];
        await reply(logCuts(renderChangeReply(model, changes, { tag: runTag }), 'change', logger));
        await done({ change: true });
        thread = await threads.patch(d.groupKey, { shown: snapshot });
      }

      // 2. The resolve: how long it lasted, in the thread.
      if (resolved && !steps.resolve) {
        aborted(signal);
        await reply(renderResolveReply(model, lastedMs(d), { tag: runTag }));
        await done({ resolve: true });
        thread = await threads.patch(d.groupKey, { resolved: true });
      }

      // 3. Our own parent shows the current status.
      if (thread.own && !steps.parent) {
        if (thread.parentRunId !== d.id) {
          aborted(signal);
          const msg = renderParent(model, resolved ? { endedAfterMs: lastedMs(d) } : {});
          await api.update({ channel: thread.channel, ts: thread.ts, text: msg.text, blocks: msg.blocks }, signal).catch((e) => {
            if (!(e instanceof SlackNotifyError && (e.role === 'dead_message' || e.role === 'archived'))) throw e;
            logger.warn({ code: e.code }, 'the thread parent cannot be updated');
          });
        }
        await done({ parent: true });
      }

      // 4. The incident channel: one summary per group, updated by later runs (and when the thread moved).
      if (incident && incident !== thread.channel && !steps.incident) {
        thread = await sendIncidentSummary(d, model, incident, thread, { recovering, signal, logger });
        await done({ incident: true });
      }
      // 5. The chart, into the thread, last (the least urgent).
      const series = poolSeries(model);
      if (config.chart && !resolved && series && steps.chart === undefined) await sendChart(d, series, { thread, recovering, signal, logger, done });

      return detailOf(thread);
    }
  }

  /** Replies `msg` in `thread` (not again when an earlier attempt did); DeadThread when the thread is gone. */
  function replyIn(thread: ThreadState, msg: SlackMessage, run: { recovering: boolean; signal: AbortSignal; logger: Logger }) {
    return threads.inThread(thread, run.signal, () => postOnce({ channel: thread.channel, threadTs: thread.ts, msg }, run.recovering, run.signal, run.logger));
  }

  /**
   * The diagnostic in the thread: skipped for a resolve when the thread already shows one; else
   * our earlier diagnostic updated in place (unless the alert resolved since), else a new reply.
   * Records which through `run.done`; returns the thread, with a new reply's ts and what it shows
   * stored. DeadThread when the thread is gone; Slack's other errors as they come.
   */
  async function sendDiagnostic(
    d: Diagnostic,
    model: MessageModel,
    snapshot: DiagnosticSnapshot,
    thread: ThreadState,
    run: { recovering: boolean; signal: AbortSignal; logger: Logger; done: (patch: RunSteps) => Promise<void> },
  ): Promise<ThreadState> {
    const { signal, logger, done } = run;
    aborted(signal);
    if (d.status === 'resolved' && thread.diagnosticTs) {
      await done({ diagnostic: 'skipped' });
      return thread;
    }
    const msg = logCuts(renderDiagnostic(model, { tag: tagOf(d.id) }), 'diagnostic', logger);
    let updated = false;
    if (thread.diagnosticTs && !thread.resolved) {
      const diagnosticTs = thread.diagnosticTs;
      try {
        await threads.inThread(thread, signal, () => api.update({ channel: thread.channel, ts: diagnosticTs, text: msg.text, blocks: msg.blocks }, signal));
        updated = true;
      } catch (e) {
        if (!(e instanceof SlackNotifyError && e.role === 'dead_message')) throw e;
        logger.warn({ code: e.code }, 'the earlier diagnostic cannot be updated; posting a new one');
      }
    }
    if (updated) {
      await done({ diagnostic: 'updated' });
      return thread;
    }
    const r = await replyIn(thread, msg, run);
    const next = await threads.patch(d.groupKey, { diagnosticTs: r.ts, shown: snapshot, resolved: false });
    await done({ diagnostic: 'posted', change: true });
    return next;
  }

  /**
   * The group's summary in the incident channel (`incident`, an id): the earlier one updated in
   * place, else (none yet, or gone) a new one posted once. Returns the thread, with the new
   * summary's place stored in it when one was posted. Slack's other errors are thrown.
   */
  async function sendIncidentSummary(
    d: Diagnostic,
    model: MessageModel,
    incident: string,
    thread: ThreadState,
    run: { recovering: boolean; signal: AbortSignal; logger: Logger },
  ): Promise<ThreadState> {
    const { recovering, signal, logger } = run;
    aborted(signal);
    const resolved = d.status === 'resolved';
    const msg = renderIncidentSummary(model, thread.permalink, { tag: tagOf(d.groupKey), ...(resolved ? { endedAfterMs: lastedMs(d) } : {}) });
    if (thread.incident) {
      try {
        await api.update({ channel: thread.incident.channel, ts: thread.incident.ts, text: msg.text, blocks: msg.blocks }, signal);
        return thread;
      } catch (e) {
        if (!(e instanceof SlackNotifyError && (e.role === 'dead_message' || e.role === 'archived' || e.role === 'channel_not_found'))) throw e;
      }
    }
    const r = await onChannel(incident, signal, (id) => postOnce({ channel: id, oldest: threads.oldestOf(d), msg }, recovering, signal, logger));
    return threads.patch(d.groupKey, { incident: { channel: r.channel, ts: r.ts } });
  }

  /**
   * The pool chart, into the thread: a rate limit or a Slack hiccup gets CHART_UPLOAD_ATTEMPTS
   * tries; any other failure is logged and the run goes on without it (recorded as `failed`).
   * Records the outcome through `run.done`; throws only a retryable NotifyError when aborted.
   */
  async function sendChart(
    d: Diagnostic,
    series: NonNullable<ReturnType<typeof poolSeries>>,
    run: { thread: ThreadState; recovering: boolean; signal: AbortSignal; logger: Logger; done: (patch: RunSteps) => Promise<void> },
  ): Promise<void> {
    const { thread, recovering, signal, logger, done } = run;
    aborted(signal);
    const filename = `${d.alertname}-pool-${d.id}.png`.replace(/[^\w.-]/g, '_').slice(-200);
    /** The chart's id when an earlier attempt (or an earlier run of this one) already shared it. */
    const uploaded = async () =>
      (await api.replies({ channel: thread.channel, ts: thread.ts, limit: HISTORY_PAGE }, signal))
        .flatMap((m) => m.files ?? [])
        .find((f) => f.name === filename);
    try {
      const earlier = recovering ? await uploaded() : undefined;
      if (earlier) {
        await done({ chart: earlier.id ?? 'uploaded' });
        return;
      }
      const png = await renderChart(series, {
        title: `${d.alertname}: pool connections`,
        alertStart: Date.parse(d.alert?.startsAt ?? ''),
        timeoutMs: config.chartTimeoutMs,
        signal,
      });
      for (let attempt = 1; ; attempt++) {
        try {
          const up = await api.uploadFile(
            {
              channel_id: thread.channel,
              thread_ts: thread.ts,
              file: png,
              filename,
              title: `${d.alertname}: pool connections`,
              alt_text: 'Active, idle and total pool connections over the alert window',
            },
            signal,
          );
          await done({ chart: up.fileId ?? 'uploaded' });
          break;
        } catch (e) {
          if (!(e instanceof NotifyError && e.retryable) || attempt >= CHART_UPLOAD_ATTEMPTS || signal.aborted) throw e;
          logger.info({ attempt, err: e.message }, 'pool chart upload failed; trying again');
          await sleep(e.retryAfterMs ?? CHART_RETRY_BACKOFF_MS * attempt, signal);
          aborted(signal);
          // the failed attempt may have shared the file all the same (an answer lost on the way back)
          const shared = await uploaded();
          if (shared) {
            await done({ chart: shared.id ?? 'uploaded' });
            break;
          }
        }
      }
    } catch (e) {
      if (signal.aborted) throw new NotifyError('slack: aborted', { retryable: true });
      logger.warn({ err: (e as Error).message }, 'pool chart not sent; the diagnostic went out without it');
      await done({ chart: 'failed' });
    }
  }

  function detailOf(thread: ThreadState): string {
    return thread.permalink ? `thread ${thread.permalink}` : `thread ${thread.channel}/${thread.ts}`;
  }

  async function previousSnapshot(d: Diagnostic): Promise<DiagnosticSnapshot | undefined> {
    const prev = await store.previousDiagnostic(d.groupKey, { id: d.id, createdAt: Date.parse(d.startedAt) });
    return prev ? snapshotOf(buildMessageModel(prev, deps.links), prev) : undefined;
  }

  return {
    name: NOTIFIER,
    async notify(d, ctx) {
      try {
        return await lock(d.groupKey, () => deliver(d, ctx));
      } catch (e) {
        if (e instanceof SlackNotifyError && !e.retryable)
          ctx.logger.error({ slackError: e.code, method: e.method, fix: e.fix }, 'slack refused the call; it will not be retried');
        throw e;
      }
    },
  };
}
