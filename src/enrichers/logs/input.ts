/**
 * What is not a log line: binary data read as text, and the colour codes of a terminal. A line is
 * judged on its characters (the sources decode bytes as UTF-8, invalid sequences becoming U+FFFD,
 * and cut lines at MAX_LINE_CHARS), so a judgement costs one pass over at most that many.
 */

/** Share of control characters (other than tab and carriage return, after colour codes are removed) past which a line is binary: text has none. */
export const BINARY_CONTROL_SHARE = 0.1;
/** Share of U+FFFD past which a line is binary: a few stand for a mis-encoded name, a third for bytes that were never text. */
export const BINARY_REPLACEMENT_SHARE = 0.3;

/** `text`: a log line; `invalid_utf8`: text with a few invalid UTF-8 sequences (shown as U+FFFD); `binary`: not text. */
export type LineQuality = 'text' | 'invalid_utf8' | 'binary';

/** ECMA-48 control sequences (CSI ... final byte): colours and cursor moves of a terminal logger. */
// eslint-disable-next-line no-control-regex -- ESC is what starts the sequence to remove
const CSI = /\x1b\[[0-?]*[ -/]*[@-~]/g;

/** `text` without terminal colour and cursor codes. */
export function stripAnsi(text: string): string {
  return text.includes('\x1b') ? text.replace(CSI, '') : text;
}

/** Judges a line (after stripAnsi). A NUL byte makes any line binary. */
export function lineQuality(text: string): LineQuality {
  if (text.length === 0) return 'text';
  let controls = 0;
  let replaced = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0) return 'binary';
    if ((c < 32 && c !== 9 && c !== 13) || c === 127) controls++;
    else if (c === 0xfffd) replaced++;
  }
  if (controls / text.length > BINARY_CONTROL_SHARE || replaced / text.length > BINARY_REPLACEMENT_SHARE) return 'binary';
  return replaced > 0 ? 'invalid_utf8' : 'text';
}
