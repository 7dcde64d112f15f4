/**
 * What the Slack entry points do once a request is verified and acknowledged: the re-run
 * button (`block_actions`), the "Diagnose this alert" message shortcut (`message_action`) and
 * an `app_mention` in an alert's thread. Each finds the alert group, records the message's
 * thread as the group's thread (an existing thread wins), and admits a run with trigger
 * 'slack' (the pipeline's re-run key and cool-down make ten clicks one run). Whoever asked gets
 * an ephemeral answer (for a request that joined a run: when it ran or that it runs, where its
 * result is, and when a fresh run can be asked for; see joined.ts); nothing is posted to the
 * channel except by the run's notifier.
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import { alertnameOf, type AlertGroup } from '../core/alert';
import type { SlackApi, SlackHistoryMessage } from './client';
import type { SlackConfig } from './config';
import type { ChannelDirectory } from './channels';
import { rememberThread } from './thread';
import type { RunAdmitter } from '../core/runs';
import type { AlertmanagerClient } from '../sources/alertmanager';
import type { StateStore } from '../store/types';
import { DIAGNOSE_CALLBACK_ID, RERUN_ACTION_ID } from './constants';
import { escapeMrkdwn } from './mrkdwn';
import { joinedRunAnswer } from './joined';
import { parseRerunValue, recogniseAlert, rerunOf } from './recognise';
import { groupOfRecognised, groupOfRun, type Resolution } from './resolve';

/** An answer to the user has its own deadline, so a failure (even the work's own deadline) can still be told. */
const ANSWER_TIMEOUT_MS = 5_000;
/** conversations.replies page read for a thread (its parent and our diagnostic are near the start). */
const THREAD_PAGE = 200;

export interface EntryDeps {
  config: Pick<SlackConfig, 'alertsChannel' | 'incidentChannel' | 'allowedChannels' | 'allowedUsers'>;
  pipeline: RunAdmitter;
  store: Pick<StateStore, 'getRun' | 'groupKeyOf' | 'initNotifierState' | 'getNotifierState'>;
  alertmanager?: AlertmanagerClient;
  api: Pick<SlackApi, 'replies' | 'postEphemeral' | 'getPermalink'>;
  /** The configured channels' ids: Slack's payloads name channels by id, the config may by name. */
  channels: Pick<ChannelDirectory, 'idOf' | 'resolve'>;
  /** POSTs a JSON body to an interaction's response_url; throws on failure. */
  respond: (url: string, body: Record<string, unknown>, signal: AbortSignal) => Promise<void>;
  logger: Logger;
}

const messageSchema = z.looseObject({
  ts: z.string(),
  thread_ts: z.string().optional(),
  text: z.string().optional(),
  reply_count: z.number().optional(),
  attachments: z.array(z.looseObject({})).optional(),
  blocks: z.array(z.looseObject({})).optional(),
});

/** The parts of an interaction payload (the form field `payload`) we read. */
export const interactionSchema = z.looseObject({
  type: z.string(),
  trigger_id: z.string().optional(),
  callback_id: z.string().optional(),
  response_url: z.string().optional(),
  user: z.looseObject({ id: z.string() }).optional(),
  channel: z.looseObject({ id: z.string() }).optional(),
  container: z.looseObject({ channel_id: z.string().optional(), message_ts: z.string().optional(), thread_ts: z.string().optional() }).optional(),
  message: messageSchema.optional(),
  actions: z.array(z.looseObject({ action_id: z.string(), value: z.string().optional() })).optional(),
});
export type Interaction = z.infer<typeof interactionSchema>;

/** The parts of an Events API envelope we read. */
export const eventEnvelopeSchema = z.looseObject({
  type: z.string(),
  challenge: z.string().optional(),
  event_id: z.string().optional(),
  event: z
    .looseObject({
      type: z.string(),
      user: z.string().optional(),
      bot_id: z.string().optional(),
      channel: z.string().optional(),
      ts: z.string().optional(),
      thread_ts: z.string().optional(),
    })
    .optional(),
});
export type EventEnvelope = z.infer<typeof eventEnvelopeSchema>;

/**
 * Why `user` may not start runs in `channel` (an id, as Slack sends it), or undefined when they
 * may. The allowed channels are compared by id: configured names are looked up (a name that
 * cannot be looked up now allows nothing).
 */
export async function refusal(
  config: EntryDeps['config'],
  channels: EntryDeps['channels'],
  channel: string | undefined,
  user: string | undefined,
  signal: AbortSignal,
): Promise<string | undefined> {
  const refs = config.allowedChannels ?? [config.alertsChannel, config.incidentChannel].filter((c): c is string => typeof c === 'string');
  const ids = await Promise.all(refs.map(async (r) => channels.idOf(r) ?? (await channels.resolve(r, signal).catch(() => undefined))));
  if (!channel || !ids.includes(channel)) return 'diagnoses can be started from Slack only in the alerts and incident channels (slack.allowedChannels)';
  if (config.allowedUsers && (!user || !config.allowedUsers.includes(user)))
    return 'you are not on the list of people who may start diagnoses from Slack (slack.allowedUsers)';
  return undefined;
}

const HOW_TO =
  'What works: use *Diagnose this alert* on the page Alertmanager posted (title `[FIRING:n] <alertname> …`), or on a message that names the alert with its labels, such as `db_pool_exhausted{service="api"}` or `alertname: db_pool_exhausted` followed by label lines like • *service:* `api`, or on one with its `fingerprint: <16 hex digits>`; or mention me in the thread of the page.';

/** Where an answer for the person who asked goes. */
type Answer = (text: string) => Promise<void>;

/**
 * Handles a verified interaction payload; resolves with a short outcome for the log. Errors of
 * Slack or Alertmanager are answered to the user where possible and rethrown otherwise.
 */
export async function handleInteraction(p: Interaction, deps: EntryDeps, signal: AbortSignal): Promise<string> {
  const answer: Answer = async (text) => {
    if (!p.response_url) return;
    await deps.respond(p.response_url, { response_type: 'ephemeral', replace_original: false, text }, AbortSignal.timeout(ANSWER_TIMEOUT_MS));
  };
  return tellingFailures(answer, signal, () => interaction(p, answer, deps, signal));
}

/** Runs `work`; when it throws, the user is told (best effort) and the error goes on to the log. */
async function tellingFailures(answer: Answer, signal: AbortSignal, work: () => Promise<string>): Promise<string> {
  try {
    return await work();
  } catch (e) {
    const why = signal.aborted ? 'it took too long' : (e as Error).message;
    await answer(`Sorry, I could not finish: ${escapeMrkdwn(why)}. Try again in a minute.`).catch(() => {});
    throw e;
  }
}

async function interaction(p: Interaction, answer: Answer, deps: EntryDeps, signal: AbortSignal): Promise<string> {
  const channel = p.channel?.id ?? p.container?.channel_id;
  const user = p.user?.id;
  if (p.type === 'block_actions') {
    const action = p.actions?.find((a) => a.action_id === RERUN_ACTION_ID);
    if (!action) return 'ignored: not our action';
    const denied = await refusal(deps.config, deps.channels, channel, user, signal);
    if (denied) return refuse(answer, denied);
    const ref = parseRerunValue(action.value);
    if (!ref) return unrecognised(answer, 'the button does not name a diagnostic');
    const r = await groupOfRun(ref, deps.store);
    if (!r.ok) return unrecognised(answer, r.reason);
    return start(r, undefined, answer, deps, signal, 'Re-running the diagnosis; the message updates in place and a reply says what changed.');
  }
  if (p.type === 'message_action') {
    if (p.callback_id !== DIAGNOSE_CALLBACK_ID) return 'ignored: not our shortcut';
    const denied = await refusal(deps.config, deps.channels, channel, user, signal);
    if (denied) return refuse(answer, denied);
    if (!p.message || !channel) return unrecognised(answer, 'Slack sent no message with the shortcut');
    const m = p.message as SlackHistoryMessage;
    const root = p.message.thread_ts ?? p.message.ts;
    const r = await resolveMessage(m, { channel, root, readThread: p.message.thread_ts !== undefined || (p.message.reply_count ?? 0) > 0 }, deps, signal);
    if (!r.ok) return unrecognised(answer, r.reason);
    return start(r, { channel, ts: root }, answer, deps, signal);
  }
  return `ignored: interaction ${p.type}`;
}

/** Handles a verified `event_callback`; resolves with a short outcome for the log. */
export async function handleEvent(envelope: EventEnvelope, deps: EntryDeps, signal: AbortSignal): Promise<string> {
  const e = envelope.event;
  if (!e || e.type !== 'app_mention') return `ignored: event ${e?.type ?? 'none'}`;
  if (e.bot_id || !e.user || !e.channel) return 'ignored: mention by a bot';
  const channel = e.channel;
  const user = e.user;
  const answer: Answer = (text) =>
    deps.api.postEphemeral({ channel, user, text, ...(e.thread_ts ? { thread_ts: e.thread_ts } : {}) }, AbortSignal.timeout(ANSWER_TIMEOUT_MS));
  return tellingFailures(answer, signal, () => mentioned(e, channel, user, answer, deps, signal));
}

async function mentioned(
  e: NonNullable<EventEnvelope['event']>,
  channel: string,
  user: string,
  answer: Answer,
  deps: EntryDeps,
  signal: AbortSignal,
): Promise<string> {
  const denied = await refusal(deps.config, deps.channels, channel, user, signal);
  if (denied) return refuse(answer, denied);
  if (!e.thread_ts) return unrecognised(answer, 'you mentioned me outside a thread, so I do not know which alert you mean');
  const thread = await deps.api.replies({ channel, ts: e.thread_ts, limit: THREAD_PAGE }, signal);
  const parent = thread.find((m) => m.ts === e.thread_ts);
  const ours = thread.map(rerunOf).find((x) => x !== undefined);
  let r: Resolution | undefined = ours ? await groupOfRun(ours, deps.store) : undefined;
  if (!r?.ok && parent) {
    const rec = recogniseAlert(parent);
    if (rec) r = await groupOfRecognised(rec, deps, signal);
  }
  if (!r) r = { ok: false, reason: 'the thread’s first message does not name an alert I can recognise' };
  if (!r.ok) return unrecognised(answer, r.reason);
  return start(r, { channel, ts: e.thread_ts }, answer, deps, signal);
}

/**
 * The group a message is about: our own diagnostic's button, the alert read from the message,
 * else (for a message in or with a thread) our diagnostic in that thread or the thread's parent.
 */
async function resolveMessage(
  m: SlackHistoryMessage,
  where: { channel: string; root: string; readThread: boolean },
  deps: EntryDeps,
  signal: AbortSignal,
): Promise<Resolution> {
  const own = rerunOf(m);
  if (own) {
    const r = await groupOfRun(own, deps.store);
    if (r.ok) return r;
  }
  const rec = recogniseAlert(m);
  let first: Resolution | undefined = rec ? await groupOfRecognised(rec, deps, signal) : undefined;
  if (first?.ok || !where.readThread) return first ?? { ok: false, reason: 'the message names no alert (no alertname, labels or fingerprint)' };
  const thread = await deps.api.replies({ channel: where.channel, ts: where.root, limit: THREAD_PAGE }, signal);
  const ours = thread.map(rerunOf).find((x) => x !== undefined);
  if (ours) {
    const r = await groupOfRun(ours, deps.store);
    if (r.ok) return r;
  }
  const parent = thread.find((x) => x.ts === where.root);
  if (parent && parent.ts !== m.ts) {
    const prec = recogniseAlert(parent);
    if (prec) first = await groupOfRecognised(prec, deps, signal);
  }
  return first ?? { ok: false, reason: 'neither the message nor its thread names an alert (no alertname, labels or fingerprint)' };
}

async function refuse(answer: Answer, why: string): Promise<string> {
  await answer(`Sorry, I can’t start a diagnosis here: ${why}.`);
  return 'refused';
}

async function unrecognised(answer: Answer, why: string): Promise<string> {
  await answer(`I couldn’t tell which alert you mean: ${escapeMrkdwn(why)}.\n${HOW_TO}`);
  return 'unrecognised';
}

function describeGroup(group: AlertGroup): string {
  const labels = Object.entries(group.commonLabels)
    .filter(([k]) => k !== 'alertname')
    .slice(0, 6)
    .map(([k, v]) => `${k}=${v.length > 60 ? `${v.slice(0, 59)}…` : v}`)
    .join(', ');
  const n = group.alerts.length;
  return escapeMrkdwn(`${alertnameOf(group)}${labels ? ` {${labels}}` : ''}${n > 1 ? ` (${n} alerts)` : ''}`);
}

/** Records the thread (where given), admits the run and tells the user what happens next. */
async function start(
  r: Extract<Resolution, { ok: true }>,
  where: { channel: string; ts: string } | undefined,
  answer: Answer,
  deps: EntryDeps,
  signal: AbortSignal,
  message?: string,
): Promise<string> {
  const { group } = r;
  const thread = where ? await rememberThread(deps.store, group.groupKey, where) : undefined;
  let admitted;
  try {
    admitted = await deps.pipeline.admit(group, 'slack', { notify: true });
  } catch (e) {
    deps.logger.warn({ groupKey: group.groupKey, err: (e as Error).message }, 'slack request not admitted');
    await answer('The receiver could not take the request right now (it is restarting or its store is unavailable); try again in a minute.');
    return 'not admitted';
  }
  const elsewhere = thread && where && (thread.channel !== where.channel || thread.ts !== where.ts);
  const whereText = elsewhere ? ` This alert already has a thread${thread.permalink ? ` (${thread.permalink})` : ''}; the diagnostic goes there.` : '';
  const note = r.note ? `\n_${escapeMrkdwn(r.note)}._` : '';
  const text =
    admitted.duplicate || admitted.coalesced
      ? `${await joinedRunAnswer(describeGroup(group), admitted, group.groupKey, deps, AbortSignal.any([signal, AbortSignal.timeout(ANSWER_TIMEOUT_MS)]))}${note}`
      : `${message ?? `Diagnosing ${describeGroup(group)}; the diagnostic will appear in this thread.`}${whereText}${note}`;
  await answer(text).catch((e) => deps.logger.warn({ err: (e as Error).message }, 'could not answer the user in Slack'));
  return admitted.duplicate ? `duplicate of run ${admitted.id}` : `admitted run ${admitted.id}`;
}
