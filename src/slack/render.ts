/**
 * Block Kit from the neutral message model (../message.ts). Pure: no I/O. Every message this
 * file returns stays within Slack's documented limits, whatever the diagnostic holds: parts that
 * do not fit are cut on a line boundary with a visible marker, or left out with a note, and
 * every cut is reported in `cuts` so the caller can log it.
 */
import { formatDuration } from '../core/duration';
import { TOP_CAUSES, type MessageModel, type ModelPart } from '../notifiers/message';
import {
  MAX_BLOCKS,
  MAX_BLOCKS_JSON,
  MAX_BUTTON_URL,
  MAX_CONTEXT_ELEMENTS,
  MAX_CONTEXT_TEXT,
  MAX_FALLBACK_TEXT,
  MAX_FIELD_TEXT,
  MAX_FIELDS,
  MAX_HEADER_TEXT,
  MAX_SECTION_TEXT,
  blocksSize,
  markerBlockId,
  type SlackBlock,
  type SlackMessage,
  type TextObject,
} from './blocks';
import { MARKER_RESERVE, TRUNCATED, clip, codeBlock, cutText, escapeMrkdwn, neutraliseFences, slackLink } from './mrkdwn';

/** Per-part caps inside the diagnostic message, so one part never crowds out the others. */
const MAX_HEADLINE_TEXT = 1_200;
const MAX_CAUSE_TEXT = 900;
const MAX_ACTIONS_TEXT = 1_200;
const MAX_LINKS_TEXT = 2_000;
const MAX_OTHER_CAUSES_TEXT = 1_200;
/** The "values that fired" line (Grafana-managed alerts): a few refId=value pairs per alert. */
const MAX_VALUES_TEXT = 800;
/** Room kept for the "N more findings" note. */
const OMISSION_NOTE_RESERVE = 400;
const MAX_PART_SECTION_TEXT = 1_500;
const MAX_DESCRIPTION = 500;
const MAX_FAILURE_LINE = 300;
const MAX_TITLE = 200;
const MAX_EVIDENCE_LINES = 3;
const MAX_EVIDENCE_LINE = 250;
/** Field blocks per fields section (10 fields each). */
const MAX_FIELD_BLOCKS = 2;

/** Options every renderer takes: `tag` goes into the first block's id (see markerBlockId). */
export interface RenderOptions {
  tag?: string;
}

/** Our cap on the re-run button's value (Slack allows MAX_BUTTON_VALUE): escaped again inside the JSON, it can weigh double. */
export const MAX_RERUN_VALUE = 1_000;

/** The action_id of the re-run button (the Slack interactions entry point handles it). */
export const RERUN_ACTION_ID = 'rerun_diagnosis';

/** Shown where a text would be empty (Slack refuses empty text objects). */
const EMPTY = '—';

function mrkdwn(text: string): TextObject {
  return { type: 'mrkdwn', text: text.trim().length > 0 ? text : EMPTY };
}

function plain(text: string): TextObject {
  return { type: 'plain_text', text: text.trim().length > 0 ? text : EMPTY, emoji: true };
}

/** Collects blocks under the block count and size budgets, remembering cuts. */
class Budget {
  readonly blocks: SlackBlock[] = [];
  readonly cuts: string[] = [];
  private size = 2;
  constructor(
    private readonly maxBlocks: number,
    private readonly maxSize: number,
  ) {}
  get blocksLeft(): number {
    return this.maxBlocks - this.blocks.length;
  }
  get sizeLeft(): number {
    return this.maxSize - this.size;
  }
  fits(b: SlackBlock): boolean {
    return this.blocksLeft > 0 && JSON.stringify(b).length + 1 <= this.sizeLeft;
  }
  /** Adds the block when it fits; otherwise records `what` as cut (when given) and returns false. */
  add(b: SlackBlock, what?: string): boolean {
    if (!this.fits(b)) {
      if (what) this.cut(what);
      return false;
    }
    this.blocks.push(b);
    this.size += JSON.stringify(b).length + 1;
    return true;
  }
  cut(what: string): void {
    this.cuts.push(what);
  }
}

const STATUS_EMOJI = { firing: ':rotating_light:', resolved: ':white_check_mark:' } as const;

function headerBlock(m: MessageModel, blockId: string): SlackBlock {
  return { type: 'header', block_id: blockId, text: plain(clip(`${STATUS_EMOJI[m.status]} ${m.title}`, MAX_HEADER_TEXT)) };
}

/** A section of escaped mrkdwn cut to `max` (≤ 3,000), reporting a cut under `what`. */
function textSection(b: Budget, escapedText: string, max: number, what: string): SlackBlock {
  const c = cutText(escapedText, Math.min(max, MAX_SECTION_TEXT));
  if (c.cut) b.cut(what);
  return { type: 'section', text: mrkdwn(c.text) };
}

function causeText(m: MessageModel, i: number): string {
  const c = m.causes[i]!;
  const lines = [`*${i + 1}. ${escapeMrkdwn(clip(c.title.replace(/\n/g, ' '), MAX_TITLE))}* · ${c.confidenceText} confidence`];
  for (const e of c.evidence.slice(0, MAX_EVIDENCE_LINES)) lines.push(`• ${escapeMrkdwn(clip(e.replace(/\n/g, ' '), MAX_EVIDENCE_LINE))}`);
  if (c.evidence.length > MAX_EVIDENCE_LINES) lines.push(`_…and ${c.evidence.length - MAX_EVIDENCE_LINES} more_`);
  for (const a of c.against.slice(0, 2)) lines.push(`_against:_ ${escapeMrkdwn(clip(a.replace(/\n/g, ' '), MAX_EVIDENCE_LINE))}`);
  return lines.join('\n');
}

/** The one-line list of causes beyond the top ones. */
function otherCausesText(m: MessageModel): string | undefined {
  const rest = m.causes.slice(TOP_CAUSES);
  if (rest.length === 0) return undefined;
  return `_Also considered:_ ${rest.map((c) => `${escapeMrkdwn(clip(c.title.replace(/\n/g, ' '), 40))} (${c.confidenceText})`).join(', ')}`;
}

function partTitle(p: ModelPart): string {
  return `*${escapeMrkdwn(clip(p.enricher, 80))}* · ${p.durationMs} ms`;
}

/** Width cap of a table column in the code block (the last column is not padded or capped). */
const MAX_COLUMN_WIDTH = 40;

function tableText(columns: string[], rows: string[][]): string {
  const cell = (s: string | undefined) => (s ?? '').replace(/\n/g, ' ');
  const width = (i: number) => Math.min(MAX_COLUMN_WIDTH, Math.max(cell(columns[i]).length, ...rows.map((r) => cell(r[i]).length)));
  const widths = columns.map((_, i) => width(i));
  const last = columns.length - 1;
  const line = (cells: string[]) =>
    widths
      .map((w, i) => (i === last ? cell(cells[i]) : cell(cells[i]).slice(0, w).padEnd(w)))
      .join('  ')
      .trimEnd();
  return [line(columns), ...rows.map(line)].join('\n');
}

/** The blocks of one ok part, each within its own limits. */
function partBlocks(p: ModelPart, b: Budget, maxText: number): SlackBlock[] {
  const out: SlackBlock[] = [];
  const summary = cutText(`${partTitle(p)}\n${escapeMrkdwn(p.summary)}`, Math.min(maxText, MAX_SECTION_TEXT));
  if (summary.cut) b.cut(`${p.enricher}: summary`);
  out.push({ type: 'section', text: mrkdwn(summary.text) });
  for (const s of p.sections) {
    const title = s.title ? `*${escapeMrkdwn(clip(s.title, MAX_TITLE))}*\n` : '';
    switch (s.type) {
      case 'text':
        out.push(textSection(b, `${title}${escapeMrkdwn(s.text)}`, maxText, `${p.enricher}: text`));
        break;
      case 'code': {
        const c = codeBlock(s.code, Math.min(maxText, MAX_SECTION_TEXT) - title.length);
        if (c.cut) b.cut(`${p.enricher}: code`);
        out.push({ type: 'section', text: mrkdwn(`${title}${c.text}`) });
        break;
      }
      case 'table': {
        const c = codeBlock(tableText(s.columns, s.rows), Math.min(maxText, MAX_SECTION_TEXT) - title.length);
        if (c.cut) b.cut(`${p.enricher}: table`);
        out.push({ type: 'section', text: mrkdwn(`${title}${c.text}`) });
        break;
      }
      case 'fields': {
        const fields = s.fields.map((f) => {
          const c = cutText(`*${escapeMrkdwn(clip(f.label, MAX_TITLE))}*\n${escapeMrkdwn(f.value)}`, Math.min(MAX_FIELD_TEXT, Math.floor(maxText / 2)));
          if (c.cut) b.cut(`${p.enricher}: field ${f.label.slice(0, 40)}`);
          return mrkdwn(c.text);
        });
        for (let i = 0; i < fields.length && i / MAX_FIELDS < MAX_FIELD_BLOCKS; i += MAX_FIELDS) {
          out.push({ type: 'section', ...(i === 0 && title ? { text: mrkdwn(title.trim()) } : {}), fields: fields.slice(i, i + MAX_FIELDS) });
        }
        if (fields.length === 0 && title) out.push({ type: 'section', text: mrkdwn(title.trim()) });
        if (fields.length > MAX_FIELDS * MAX_FIELD_BLOCKS) {
          b.cut(`${p.enricher}: ${fields.length - MAX_FIELDS * MAX_FIELD_BLOCKS} fields`);
          out.push({
            type: 'context',
            elements: [mrkdwn(`${TRUNCATED}: ${fields.length - MAX_FIELDS * MAX_FIELD_BLOCKS} more values in the stored diagnostic`)],
          });
        }
        break;
      }
    }
  }
  if (p.series.length > 0) {
    const names = p.series.flatMap((s) => s.series.map((x) => `${x.name} ${x.points.at(-1)?.[1] ?? 'n/a'}${s.unit ? ` ${s.unit}` : ''}`));
    const c = cutText(`_Latest:_ ${escapeMrkdwn(names.join(' · '))}`, Math.min(maxText, MAX_CONTEXT_TEXT));
    out.push({ type: 'context', elements: [mrkdwn(c.text)] });
  }
  return out;
}

/**
 * The links section: runbook, Grafana, silence and source first, then one line per Prometheus
 * query. Each link is shown whole or left out (and counted): a link is never cut in half.
 */
function linksText(m: MessageModel, b: Budget, max: number): string | undefined {
  if (m.links.length === 0) return undefined;
  const head = '*Links*';
  let out = head;
  let used = head.length + MARKER_RESERVE;
  let dropped = 0;
  let onFirstLine = 0;
  for (const l of [...m.links.filter((x) => x.kind !== 'prometheus'), ...m.links.filter((x) => x.kind === 'prometheus')]) {
    const query = l.kind === 'prometheus';
    const text = query ? `• ${slackLink(l.url, l.label)}` : slackLink(l.url, l.label);
    const sep = query || onFirstLine === 0 ? '\n' : ' · ';
    if (l.url.length > MAX_BUTTON_URL || used + sep.length + text.length > max) {
      dropped++;
      continue;
    }
    if (!query) onFirstLine++;
    out += sep + text;
    used += sep.length + text.length;
  }
  if (dropped > 0) {
    b.cut(`links: ${dropped} left out`);
    out += `\n${TRUNCATED} (${dropped} link${dropped === 1 ? '' : 's'} too long or too many)`;
  }
  return out;
}

/**
 * The re-run button's value: `{"runId","groupKey"}` JSON, or only the run id where the key
 * makes it too long (the run names its group in the store); undefined if even that is too long.
 */
export function rerunValue(m: Pick<MessageModel, 'runId' | 'groupKey'>): string | undefined {
  const full = JSON.stringify({ runId: m.runId, groupKey: m.groupKey });
  if (full.length <= MAX_RERUN_VALUE) return full;
  const short = JSON.stringify({ runId: m.runId });
  return short.length <= MAX_RERUN_VALUE ? short : undefined;
}

function rerunBlock(m: MessageModel): SlackBlock | undefined {
  const value = rerunValue(m);
  if (value === undefined) return undefined;
  return {
    type: 'actions',
    block_id: 'pf_actions',
    elements: [{ type: 'button', action_id: RERUN_ACTION_ID, text: plain('Re-run diagnosis'), value }],
  };
}

/** The fallback `text`: status, alert and the headline, escaped, within MAX_FALLBACK_TEXT. */
export function fallbackText(m: MessageModel, lead?: string): string {
  const parts = [lead ?? `${m.title}`, m.headline];
  if (m.actions[0]) parts.push(`First step: ${m.actions[0]}`);
  return clip(escapeMrkdwn(parts.join(' · ').replace(/\n/g, ' ')), MAX_FALLBACK_TEXT);
}

/**
 * The diagnostic message (a reply in the alert's thread): header, the headline and the likely
 * causes with confidence, suggested actions, one part per enricher (failed ones in one line
 * each), links, run details and the "Re-run diagnosis" button. Within every limit above.
 * Space goes by priority (header, headline, causes, button, run, actions, links, other causes,
 * then the evidence in order); blocks are shown in reading order.
 */
export function renderDiagnostic(m: MessageModel, opts: RenderOptions = {}): SlackMessage {
  const b = new Budget(MAX_BLOCKS, MAX_BLOCKS_JSON);
  const header = headerBlock(m, markerBlockId('header', opts.tag));
  const desc = m.description ? `\n${escapeMrkdwn(clip(m.description.replace(/\n+/g, ' '), MAX_DESCRIPTION))}` : '';
  const first = m.actions[0] ? `\n*Do first:* ${escapeMrkdwn(clip(m.actions[0].replace(/\n/g, ' '), 400))}` : '';
  const headline: SlackBlock = {
    type: 'section',
    block_id: 'pf_headline',
    text: mrkdwn(cutText(`*${escapeMrkdwn(m.headline)}*${first}${desc}`, MAX_HEADLINE_TEXT).text),
  };
  const causes = m.causes.slice(0, TOP_CAUSES).map((_, i) => textSection(b, causeText(m, i), MAX_CAUSE_TEXT, `cause ${i + 1}`));
  const othersText = otherCausesText(m);
  const others: SlackBlock | undefined = othersText ? { type: 'context', elements: [mrkdwn(cutText(othersText, MAX_OTHER_CAUSES_TEXT).text)] } : undefined;
  const actions =
    m.actions.length > 0
      ? textSection(
          b,
          `*Suggested actions* (not executed)\n${m.actions.map((a) => `• ${escapeMrkdwn(clip(a.replace(/\n/g, ' '), 400))}`).join('\n')}`,
          MAX_ACTIONS_TEXT,
          'actions',
        )
      : undefined;
  const linksBody = linksText(m, b, MAX_LINKS_TEXT);
  const links: SlackBlock | undefined = linksBody ? { type: 'section', block_id: 'pf_links', text: mrkdwn(linksBody) } : undefined;
  const values: SlackBlock | undefined = m.firedValues?.length
    ? {
        type: 'context',
        block_id: 'pf_values',
        elements: [
          mrkdwn(
            cutText(
              `*Values that fired* · ${m.firedValues.map((l) => `\`${escapeMrkdwn(neutraliseFences(l).replace(/`/g, "'"))}\``).join(' · ')}`,
              MAX_VALUES_TEXT,
            ).text,
          ),
        ],
      }
    : undefined;
  const run: SlackBlock = {
    type: 'context',
    block_id: 'pf_run',
    elements: [
      mrkdwn(
        `Run \`${escapeMrkdwn(clip(m.runId, 80))}\` · ${m.trigger} · diagnosed in ${m.durationMs} ms${m.startsAt ? ` · alert started ${escapeMrkdwn(clip(m.startsAt, 40))}` : ''}${m.truncatedNote ? ` · ${escapeMrkdwn(m.truncatedNote)}` : ''}`,
      ),
    ],
  };
  const rerun = rerunBlock(m);
  if (!rerun) b.cut('re-run button (run id too long)');
  const divider: SlackBlock = { type: 'divider' };

  const chosen = new Set<SlackBlock>();
  const take = (blk: SlackBlock | undefined, what: string) => {
    if (blk && b.add(blk, what)) chosen.add(blk);
  };
  take(header, 'header');
  take(headline, 'headline');
  causes.forEach((c, i) => take(c, `cause ${i + 1}`));
  take(rerun, 're-run button');
  take(run, 'run details');
  take(actions, 'actions');
  take(links, 'links');
  take(values, 'values that fired');
  take(others, 'other causes');
  take(divider, 'divider');

  // Evidence: each ok part in order, then one line per failed one; what does not fit is counted.
  const failed = m.parts.filter((p) => p.failure);
  const failedBlock: SlackBlock | undefined =
    failed.length === 0
      ? undefined
      : {
          type: 'context',
          block_id: 'pf_unavailable',
          elements: chunkLines(
            failed.map((p) => `:warning: *${escapeMrkdwn(clip(p.enricher, 80))}* ${escapeMrkdwn(clip(p.failure!.replace(/\n/g, ' '), MAX_FAILURE_LINE))}`),
            MAX_CONTEXT_ELEMENTS,
          ).map((t) => mrkdwn(cutText(t, MAX_CONTEXT_TEXT).text)),
        };
  const failedSize = failedBlock ? JSON.stringify(failedBlock).length + 1 : 0;
  const evidence: SlackBlock[] = [];
  let omitted = 0;
  for (const p of m.parts.filter((x) => !x.failure)) {
    const sizeLeft = b.sizeLeft - OMISSION_NOTE_RESERVE - failedSize;
    const blocksLeft = b.blocksLeft - 1 - (failedBlock ? 1 : 0);
    let blocks = partBlocks(p, b, MAX_PART_SECTION_TEXT);
    if (blocks.length > blocksLeft || blocksSize(blocks) + blocks.length > sizeLeft) {
      // Too big: the summary alone, cut to what is left (JSON may double the text).
      b.cut(`${p.enricher}: details`);
      const room = Math.min(MAX_SECTION_TEXT, Math.floor((sizeLeft - 80) / 2));
      blocks = room > 80 && blocksLeft > 0 ? [{ type: 'section', text: mrkdwn(cutText(`${partTitle(p)}\n${escapeMrkdwn(p.summary)}`, room).text) }] : [];
    }
    if (blocks.length === 0 || blocksSize(blocks) + blocks.length > sizeLeft) {
      omitted++;
      continue;
    }
    for (const blk of blocks) if (b.add(blk)) evidence.push(blk);
  }
  if (failedBlock) {
    if (b.add(failedBlock)) evidence.push(failedBlock);
    else omitted += failed.length;
  }
  if (omitted > 0) {
    b.cut(`${omitted} enricher parts left out`);
    const note: SlackBlock = {
      type: 'context',
      elements: [mrkdwn(`${TRUNCATED}: ${omitted} more finding(s) in the stored diagnostic (run \`${escapeMrkdwn(clip(m.runId, 80))}\`)`)],
    };
    if (b.add(note)) evidence.push(note);
  }
  const order: Array<SlackBlock | undefined> = [header, headline, values, ...causes, others, actions, divider, ...evidence, links, run, rerun];
  const blocks = order.filter((blk): blk is SlackBlock => blk !== undefined && (chosen.has(blk) || evidence.includes(blk)));
  return { text: fallbackText(m), blocks, cuts: b.cuts };
}

function chunkLines(lines: string[], n: number): string[] {
  if (lines.length <= n) return lines;
  const per = Math.ceil(lines.length / n);
  const out: string[] = [];
  for (let i = 0; i < lines.length; i += per) out.push(lines.slice(i, i + per).join('\n'));
  return out;
}

/** Label pairs as escaped inline code, cut to `max`. */
function labelsLine(labels: Record<string, string>, max: number): string {
  const s = Object.entries(labels)
    .map(([k, v]) => `\`${escapeMrkdwn(neutraliseFences(`${k}=${v}`).replace(/`/g, "'").replace(/\n/g, ' '))}\``)
    .join(' ');
  return clip(s, max);
}

/**
 * Our own thread parent (where no page from Alertmanager was found, or without an alerts
 * channel): the alert, its status, the headline and labels. Updated in place on later runs.
 */
export function renderParent(m: MessageModel, opts: RenderOptions & { endedAfterMs?: number } = {}): SlackMessage {
  const status = m.status === 'resolved' ? `Resolved${opts.endedAfterMs !== undefined ? ` after ${formatDuration(opts.endedAfterMs)}` : ''}` : 'Firing';
  const desc = m.description ? `\n${escapeMrkdwn(clip(m.description.replace(/\n+/g, ' '), MAX_DESCRIPTION))}` : '';
  const blocks: SlackBlock[] = [
    headerBlock(m, markerBlockId('parent', opts.tag)),
    { type: 'section', text: mrkdwn(cutText(`*${status}* · ${escapeMrkdwn(m.headline)}${desc}`, MAX_SECTION_TEXT).text) },
    {
      type: 'context',
      elements: [
        mrkdwn(labelsLine(m.labels, 1_500) || '(no labels)'),
        mrkdwn(`Diagnosis in the thread${m.startsAt ? ` · started ${escapeMrkdwn(clip(m.startsAt, 40))}` : ''}`),
      ],
    },
  ];
  return { text: fallbackText(m, m.status === 'resolved' ? `${m.title} (${status})` : m.title), blocks, cuts: [] };
}

/** The top-level summary in the incident channel: status, top causes and a link to the thread. */
export function renderIncidentSummary(
  m: MessageModel,
  threadPermalink: string | undefined,
  opts: RenderOptions & { endedAfterMs?: number } = {},
): SlackMessage {
  const causes = m.causes
    .slice(0, TOP_CAUSES)
    .map((c, i) => `${i + 1}. *${escapeMrkdwn(clip(c.title, MAX_TITLE))}* · ${c.confidenceText}`)
    .join('\n');
  const status =
    m.status === 'resolved'
      ? `:white_check_mark: Resolved${opts.endedAfterMs !== undefined ? ` after ${formatDuration(opts.endedAfterMs)}` : ''}`
      : ':rotating_light: Firing';
  const blocks: SlackBlock[] = [
    headerBlock(m, markerBlockId('incident', opts.tag)),
    { type: 'section', text: mrkdwn(cutText(`${status} · ${escapeMrkdwn(m.headline)}${causes ? `\n${causes}` : ''}`, MAX_SECTION_TEXT).text) },
  ];
  if (m.actions[0]) blocks.push({ type: 'section', text: mrkdwn(`*First step:* ${escapeMrkdwn(clip(m.actions[0].replace(/\n/g, ' '), 500))}`) });
  blocks.push({
    type: 'context',
    elements: [
      mrkdwn(
        threadPermalink && threadPermalink.length <= MAX_BUTTON_URL
          ? slackLink(threadPermalink, 'Diagnosis and evidence in the alert thread')
          : 'Diagnosis and evidence in the alert thread',
      ),
    ],
  });
  return { text: fallbackText(m), blocks, cuts: [] };
}

/** The short reply of a re-run or repeat: what changed since the diagnostic the thread showed before. */
export function renderChangeReply(m: MessageModel, changes: string[], opts: RenderOptions = {}): SlackMessage {
  const lead = `:arrows_counterclockwise: *Diagnosis re-run* (${m.trigger}); the diagnostic above is updated.`;
  const body =
    changes.length === 0
      ? 'Nothing changed since the last run.'
      : `*What changed:*\n${changes.map((c) => `• ${escapeMrkdwn(c.replace(/\n/g, ' '))}`).join('\n')}`;
  const c = cutText(`${lead}\n${body}`, MAX_SECTION_TEXT);
  return {
    text: clip(escapeMrkdwn(`Diagnosis re-run: ${changes.length === 0 ? 'nothing changed' : changes.slice(0, 3).join('; ')}`), MAX_FALLBACK_TEXT),
    blocks: [{ type: 'section', block_id: markerBlockId('change', opts.tag), text: mrkdwn(c.text) }],
    cuts: c.cut ? ['change list'] : [],
  };
}

/** The reply when the alert resolves: how long it lasted and the headline of the last diagnosis. */
export function renderResolveReply(m: MessageModel, lastedMs: number | undefined, opts: RenderOptions = {}): SlackMessage {
  const lasted = lastedMs === undefined ? '' : ` after ${formatDuration(lastedMs)}`;
  const when = m.startsAt ? ` (started ${escapeMrkdwn(clip(m.startsAt, 40))}${m.endsAt ? `, ended ${escapeMrkdwn(clip(m.endsAt, 40))}` : ''})` : '';
  const text = `:white_check_mark: *Resolved${lasted}*${when}\n${escapeMrkdwn(m.headline)}`;
  return {
    text: clip(escapeMrkdwn(`RESOLVED ${m.alertname}${lasted}`), MAX_FALLBACK_TEXT),
    blocks: [{ type: 'section', block_id: markerBlockId('resolved', opts.tag), text: mrkdwn(cutText(text, MAX_SECTION_TEXT).text) }],
    cuts: [],
  };
}
