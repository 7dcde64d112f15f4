/**
 * The answer to a re-run asked from Slack (the button, the "Diagnose this alert" shortcut, a
 * mention) that joined a run instead of starting one: within `pipeline.rerunCooldownMs` of the
 * re-run that started it, asking again about the same alert is that run (the pipeline's re-run
 * key: ten clicks make one run). Whoever asked is told when it ran (or that it is running or
 * queued), where its result is, and from what time asking again starts a fresh run.
 *
 * There is no "run again anyway" button: the cool-down is what keeps ten people clicking during
 * an incident from being ten runs, and it is short (30 s by default); the answer gives the time.
 */
import type { Diagnostic } from '../core/diagnostic';
import type { Admission } from '../core/runs';
import type { RunRecord, StateStore } from '../store/types';
import type { SlackApi } from './client';
import { NOTIFIER as SLACK_NOTIFIER, threadOf, type ThreadState } from './thread';
import { clip, escapeMrkdwn, slackLink } from './mrkdwn';

export interface JoinedRunDeps {
  store: Pick<StateStore, 'getRun' | 'getNotifierState'>;
  api: Pick<SlackApi, 'getPermalink'>;
}

/** Characters of a notifier's outcome detail quoted in an answer (it is redacted already; the rest is in the Diagnostic). */
const DETAIL_CHARS = 200;

/**
 * The text for whoever asked, when `admitted` joined run `admitted.id` (a duplicate, or a queued
 * run it was coalesced into). `what` is the group as the entry code describes it (mrkdwn, escaped).
 * The result's link is the permalink of our diagnostic message in the group's thread
 * (chat.getPermalink, which takes `channel` and `message_ts` and answers `permalink`, with
 * `?thread_ts=…&cid=…` for a reply: https://api.slack.com/methods/chat.getPermalink), else the
 * thread's stored permalink, else the channel. Slack or store failures here only make the answer
 * vaguer; it never throws for them.
 */
export async function joinedRunAnswer(
  what: string,
  admitted: Pick<Admission, 'id' | 'keyExpiresAt'>,
  groupKey: string,
  deps: JoinedRunDeps,
  signal: AbortSignal,
): Promise<string> {
  const [run, thread] = await Promise.all([deps.store.getRun(admitted.id).catch(() => undefined), threadOf(deps.store, groupKey).catch(() => undefined)]);
  const fresh = (ref: number) =>
    `You can start a fresh run after ${utc(admitted.keyExpiresAt, ref)} (the re-run cool-down, \`pipeline.rerunCooldownMs\`); until then, asking again joins this run.`;
  const tag = `run \`${admitted.id}\``;
  if (!run) return `A diagnosis of ${what} was just asked for (${tag}); its result goes into the alert’s thread. ${fresh(admitted.keyExpiresAt)}`;
  if (run.state === 'done' && run.diagnostic) {
    const d = run.diagnostic;
    const ran = Date.parse(d.startedAt);
    const result = await resultOf(d, thread, deps.api, signal);
    return `A diagnosis of ${what} already ran at ${utc(ran, admitted.keyExpiresAt)} (${tag}, finished ${utc(Date.parse(d.finishedAt), ran)}); ${result}. ${fresh(ran)}`;
  }
  const where = thread ? threadLink(thread) : 'the alert’s thread';
  const asked = `asked for at ${utc(run.createdAt, admitted.keyExpiresAt)}, ${tag}`;
  return running(run)
    ? `A diagnosis of ${what} is running now (${asked}); its result goes into ${where}. ${fresh(run.createdAt)}`
    : `A diagnosis of ${what} is queued (${asked}): it starts once the run of this alert before it finishes, and its result goes into ${where}. ${fresh(run.createdAt)}`;
}

function running(run: RunRecord): boolean {
  return run.state === 'enriching' || run.state === 'notifying';
}

/** Where a finished run's result is, or why it is not in Slack. */
async function resultOf(d: Diagnostic, thread: ThreadState | undefined, api: JoinedRunDeps['api'], signal: AbortSignal): Promise<string> {
  const slack = d.notifications.find((n) => n.notifier === SLACK_NOTIFIER);
  if (!slack) return `its route posts nothing to Slack, so its result is only at \`GET /diagnostics/${d.id}\``;
  if (slack.status !== 'sent')
    return `its result did not reach Slack (${slack.status}: ${clip(escapeMrkdwn(slack.detail), DETAIL_CHARS)}); it is at \`GET /diagnostics/${d.id}\``;
  if (!thread) return 'its result is in the alert’s thread';
  if (thread.diagnosticTs) {
    // A failure (the message deleted since, Slack unreachable) leaves the thread's own link.
    const link = await api.getPermalink({ channel: thread.channel, ts: thread.diagnosticTs }, signal).catch(() => '');
    if (link) return `its result is here: ${slackLink(link, 'the diagnostic in the alert’s thread')}`;
  }
  return `its result is in ${threadLink(thread)}`;
}

function threadLink(thread: ThreadState): string {
  return thread.permalink ? slackLink(thread.permalink, 'the alert’s thread') : `the alert’s thread in <#${escapeMrkdwn(thread.channel)}>`;
}

/** `HH:MM:SS UTC`, with the date in front when it is not `ref`'s UTC day. */
export function utc(ms: number, ref: number): string {
  const iso = new Date(ms).toISOString();
  const sameDay = iso.slice(0, 10) === new Date(ref).toISOString().slice(0, 10);
  return `${sameDay ? '' : `${iso.slice(0, 10)} `}${iso.slice(11, 19)} UTC`;
}
