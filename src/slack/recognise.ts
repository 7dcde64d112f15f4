/**
 * Reading an alert out of a Slack message: the page Alertmanager's Slack receiver posted
 * (title `[FIRING:2] <group label values> (<other common label values>)`, labels listed as
 * `• *name:* \`value\``), a Prometheus-style `alertname{label="value"}`, attachment fields, an `alertname:` line,
 * a fingerprint, or one of our own diagnostics (its re-run button). Pure functions.
 */
import type { SlackHistoryMessage } from './client';
import { messageText } from './thread';
import { RERUN_ACTION_ID } from './constants';

/** What a message tells about its alert. */
export interface RecognisedAlert {
  alertname?: string;
  /** `labels`: named in the message as a label (reliable); `title`: the first word of a `[FIRING:n]` title (a guess). */
  alertnameFrom?: 'labels' | 'title';
  /** Labels named in the message (including alertname when named as a label). */
  labels: Record<string, string>;
  /** The words of a `[FIRING:n] …` / `[RESOLVED] …` title: label values every alert of the page has. */
  titleValues: string[];
  fingerprint?: string;
}

/** The run named by one of our re-run buttons. */
export interface RerunRef {
  runId: string;
  groupKey?: string;
}

const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ALERTNAME = /^[A-Za-z_:][A-Za-z0-9_:]*$/;
/** Label values longer than this are not labels we trust from free text (Alertmanager has no limit; pages show short ones). */
const MAX_VALUE = 1_000;
/** `• *name:* \`value\`` (Alertmanager's common Slack template), also `name: \`value\`` and `*name*: \`value\``. */
const BULLET_LINE = /^[\s>•·*-]*\*?_?([A-Za-z_][A-Za-z0-9_]*)_?\*?\s*:\s*\*?_?\s*`([^`\n]+)`\s*$/;
/** `\`name=value\`` (our own thread parent's label line). */
const TICKED_PAIR = /`([A-Za-z_][A-Za-z0-9_]*)=([^`\n]+)`/g;
/** `[alertname]{name="value", …}` (Prometheus / amtool style); a name before the brace is the alertname. */
const BRACED_SET = /([A-Za-z_:][A-Za-z0-9_:]*)?\{([^{}\n]*)\}/g;
const QUOTED_PAIR = /([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"/g;
/** `alertname: x`, `alertname=x`, `*alertname:* x`. */
const ALERTNAME_LINE = /(?:^|[^A-Za-z0-9_])alertname\*?\s*[:=]\s*\*?\s*[`"]?([A-Za-z_:][A-Za-z0-9_:]*)/;
/** `[FIRING:3] a b (c d)` / `[RESOLVED] a b`. */
const TITLE = /\[(FIRING|RESOLVED)(?::\d+)?\]\s*([^\n|]*)/i;
/** `fingerprint: 0123456789abcdef` (16 hex digits, as Alertmanager prints them). */
const FINGERPRINT = /fingerprint[\s*_`"':=]*([0-9a-f]{16})(?![0-9a-f])/i;

function add(labels: Record<string, string>, name: string, value: string): void {
  const v = value.trim();
  if (!LABEL_NAME.test(name) || v.length === 0 || v.length > MAX_VALUE) return;
  if (!(name in labels)) labels[name] = v;
}

function unquote(s: string): string {
  return s.replace(/\\(.)/g, '$1');
}

/**
 * Reads alertname, labels, title values and fingerprint from a message (text, attachments,
 * fields and blocks). Undefined when it names neither an alertname nor a fingerprint.
 */
export function recogniseAlert(m: SlackHistoryMessage): RecognisedAlert | undefined {
  const text = messageText(m);
  const labels: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const b = BULLET_LINE.exec(line);
    if (b) add(labels, b[1]!, b[2]!);
  }
  for (const p of text.matchAll(TICKED_PAIR)) add(labels, p[1]!, p[2]!);
  let bracedName: string | undefined;
  for (const set of text.matchAll(BRACED_SET)) {
    const pairs = [...set[2]!.matchAll(QUOTED_PAIR)];
    for (const p of pairs) add(labels, p[1]!, unquote(p[2]!));
    if (pairs.length > 0 && set[1] && !bracedName) bracedName = set[1];
  }
  for (const a of m.attachments ?? []) {
    for (const f of a.fields ?? []) {
      const name = (f.title ?? '').replace(/[*`_:]/g, '').trim();
      const value = (f.value ?? '').replace(/^[`*]+|[`*]+$/g, '');
      if (LABEL_NAME.test(name) && name.toLowerCase() === name) add(labels, name, value);
    }
  }
  if (!labels.alertname) {
    const line = ALERTNAME_LINE.exec(text);
    if (line) labels.alertname = line[1]!;
    else if (bracedName) labels.alertname = bracedName;
  }
  if (labels.alertname && !ALERTNAME.test(labels.alertname)) delete labels.alertname;

  const title = TITLE.exec(text);
  const titleValues = title
    ? title[2]!
        .replace(/[()]/g, ' ')
        .split(/\s+/)
        .filter((w) => w.length > 0)
    : [];
  const fingerprint = FINGERPRINT.exec(text)?.[1]?.toLowerCase();

  let alertname: string | undefined = labels.alertname;
  let alertnameFrom: RecognisedAlert['alertnameFrom'] = alertname ? 'labels' : undefined;
  if (!alertname && titleValues[0] && ALERTNAME.test(titleValues[0])) {
    alertname = titleValues[0];
    alertnameFrom = 'title';
  }
  if (!alertname && !fingerprint) return undefined;
  return { ...(alertname ? { alertname, alertnameFrom } : {}), labels, titleValues, ...(fingerprint ? { fingerprint } : {}) };
}

/** The run named by a re-run button value: `{"runId","groupKey"}` JSON or `{"runId"}`. Undefined when it is neither. */
export function parseRerunValue(value: string | undefined): RerunRef | undefined {
  if (!value) return undefined;
  try {
    const v = JSON.parse(value) as { runId?: unknown; groupKey?: unknown };
    if (typeof v?.runId !== 'string' || v.runId.length === 0) return undefined;
    return { runId: v.runId, ...(typeof v.groupKey === 'string' ? { groupKey: v.groupKey } : {}) };
  } catch {
    return undefined;
  }
}

/** The run of our re-run button in a message's blocks (one of our diagnostics), if it has one. */
export function rerunOf(m: SlackHistoryMessage): RerunRef | undefined {
  let found: RerunRef | undefined;
  const walk = (v: unknown): void => {
    if (found) return;
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (o.type === 'button' && o.action_id === RERUN_ACTION_ID && typeof o.value === 'string') found = parseRerunValue(o.value);
      else Object.values(o).forEach(walk);
    }
  };
  walk(m.blocks ?? []);
  return found;
}
