import { LOG_EVENT_CLASSES } from '../../core/evidence';
import { SIGNATURES, type EventClass, type SignatureRow } from './signatures';

/**
 * Applies the signature table (`signatures.ts`) to an event's message and error text: the first
 * row that matches decides the class. The table is compiled once, at module load, and checked
 * there (one of `regex`/`literal` per row, ids unique, every regex valid): a broken row fails
 * the receiver's start, not a page.
 */

export type { EventClass, SignatureRow } from './signatures';

/** Every class, in the order the table lists them. */
export const EVENT_CLASSES: readonly EventClass[] = LOG_EVENT_CLASSES;

interface Compiled {
  row: SignatureRow;
  re: RegExp;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Compiles and checks `rows`; throws an Error naming the first bad row. */
export function compileSignatures(rows: readonly SignatureRow[]): { rows: readonly Compiled[]; any: RegExp } {
  const ids = new Set<string>();
  const compiled = rows.map((row) => {
    if (ids.has(row.id)) throw new Error(`signature ${row.id}: duplicate id`);
    ids.add(row.id);
    if ((row.regex === undefined) === (row.literal === undefined)) throw new Error(`signature ${row.id}: needs exactly one of regex and literal`);
    if (!EVENT_CLASSES.includes(row.class)) throw new Error(`signature ${row.id}: unknown class ${String(row.class)}`);
    if (!row.source.trim()) throw new Error(`signature ${row.id}: no source`);
    const src = row.regex ?? escape(row.literal!);
    try {
      return { row, re: new RegExp(src, 'i') };
    } catch (e) {
      throw new Error(`signature ${row.id}: ${(e as Error).message}`, { cause: e });
    }
  });
  // One pass over the text tells whether any row can match: most events match none.
  const any = new RegExp(compiled.map((c) => `(?:${c.re.source})`).join('|'), 'i');
  return { rows: compiled, any };
}

const TABLE = compileSignatures(SIGNATURES);

/** Which class `text` is evidence of and the row that said so, or null when no row matches. */
export interface Classification {
  class: EventClass;
  /** The signature row's id. */
  signature: string;
  library: string;
  /** The text the row matched (for grouping repeats of one error). */
  matched: string;
}

/**
 * Characters of an event's text examined: the wordings sit in its first lines (an exception's
 * message, its causes), and bounding the text bounds the time every row's pattern takes.
 */
export const MAX_CLASSIFY_CHARS = 32 * 1024;

/**
 * Classifies `text` (an event's message and error lines, never its stack frames or unrelated
 * fields), of which the first MAX_CLASSIFY_CHARS are read. Rows are tried in table order.
 */
export function classifyText(text: string, table = TABLE): Classification | null {
  if (text.length > MAX_CLASSIFY_CHARS) text = text.slice(0, MAX_CLASSIFY_CHARS);
  if (!table.any.test(text)) return null;
  for (const { row, re } of table.rows) {
    const m = re.exec(text);
    if (m) return { class: row.class, signature: row.id, library: row.library, matched: m[0] };
  }
  return null;
}
