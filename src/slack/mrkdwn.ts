/**
 * Slack mrkdwn helpers: escaping, cutting text on a line boundary with a visible marker, code
 * blocks that untrusted text cannot close, and links. Pure: no I/O; nothing Block Kit specific.
 */

/** The visible marker where text was cut. */
export const TRUNCATED = '…truncated';
/** Room kept for the marker line ("\n…truncated (123456 more lines)"). */
export const MARKER_RESERVE = 40;

/** Escapes Slack's control characters (&, <, >) and nothing else (docs/reference/slack.md). */
export function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Cuts `s` to at most `n` UTF-16 units without splitting a surrogate pair or an entity (&amp;). */
export function safeSlice(s: string, n: number): string {
  if (s.length <= n) return s;
  let out = s.slice(0, Math.max(0, n));
  const last = out.charCodeAt(out.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) out = out.slice(0, -1);
  const amp = out.lastIndexOf('&');
  if (amp >= 0 && amp >= out.length - 5 && !out.slice(amp).includes(';')) out = out.slice(0, amp);
  return out;
}

/** A one-line plain value cut to `n` with an ellipsis. */
/** `s` cut to at most `n` characters, ending with "…" when cut (surrogate pairs and entities kept whole). */
export function clip(s: string, n: number): string {
  return s.length <= n ? s : `${safeSlice(s, n - 1)}…`;
}

interface Fit {
  text: string;
  cut: boolean;
  shown: number;
  total: number;
  /** The last line shown was itself cut. */
  partial?: boolean;
}

/** Keeps whole lines of `text` while they fit in `max`; a first line longer than `max` is cut. */
function fitLines(text: string, max: number): Fit {
  const lines = text.split('\n');
  if (text.length <= max) return { text, cut: false, shown: lines.length, total: lines.length };
  const kept: string[] = [];
  let len = 0;
  for (const l of lines) {
    const add = (kept.length > 0 ? 1 : 0) + l.length;
    if (len + add > max) break;
    kept.push(l);
    len += add;
  }
  if (kept.length === 0) return { text: safeSlice(lines[0]!, max), cut: true, shown: 1, total: lines.length, partial: true };
  return { text: kept.join('\n'), cut: true, shown: kept.length, total: lines.length };
}

function marker(f: Fit): string {
  const more = f.total - f.shown;
  const lines = more > 0 ? `${more} more line${more === 1 ? '' : 's'}` : '';
  return `${TRUNCATED} (${[f.partial ? 'line cut' : '', lines].filter(Boolean).join(', ')})`;
}

/**
 * Cuts already-escaped text to at most `max` characters on a line boundary, ending with a
 * visible "…truncated" line. Returns whether it cut.
 */
export function cutText(text: string, max: number): { text: string; cut: boolean } {
  if (text.length <= max) return { text, cut: false };
  const f = fitLines(text, Math.max(0, max - MARKER_RESERVE));
  const body = f.text.length > 0 ? `${f.text}\n` : '';
  return { text: `${body}${marker(f)}`, cut: true };
}

/** Breaks runs of three backticks so code cannot close its own code block. */
export function neutraliseFences(code: string): string {
  return code.replace(/`{3,}/g, (m) => m.split('').join('\u200b'));
}

/** Untrusted code as an escaped mrkdwn code block of at most `max` characters; the marker goes after the fence. */
export function codeBlock(code: string, max: number): { text: string; cut: boolean } {
  const escaped = escapeMrkdwn(neutraliseFences(code.length > 0 ? code : ' '));
  const fence = (body: string) => `\`\`\`\n${body}\n\`\`\``;
  if (fence(escaped).length <= max) return { text: fence(escaped), cut: false };
  const f = fitLines(escaped, Math.max(1, max - 8 - MARKER_RESERVE));
  return { text: `${fence(f.text.length > 0 ? f.text : ' ')}\n${marker(f)}`, cut: true };
}

/** A Slack link `<url|label>`: the url's control characters made safe, the label escaped and without `|`. */
export function slackLink(url: string, label: string): string {
  const safeUrl = url.replace(/\|/g, '%7C').replace(/</g, '%3C').replace(/>/g, '%3E').replace(/ /g, '%20').replace(/&/g, '&amp;');
  return `<${safeUrl}|${escapeMrkdwn(clip(label.replace(/[|\n]/g, ' '), 120))}>`;
}
