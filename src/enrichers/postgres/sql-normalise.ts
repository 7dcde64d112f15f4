/**
 * SQL text made safe to show: literals replaced so no customer data leaves the enricher.
 * A small scanner (not regexes over the whole text) so quotes inside comments, doubled quotes,
 * E'' escapes and dollar quoting are handled; text cut mid-literal (pg_stat_activity truncates
 * at track_activity_query_size) has the rest replaced too.
 */

/** Marker appended where text was cut. */
export const CUT_MARKER = '…';

/**
 * Replaces string literals ('..', E'..', B'..', X'..', U&'..', $tag$..$tag$) and numeric
 * literals with `?`, drops comments, collapses `(?, ?, ?)` lists to `(?, ...)`, collapses
 * whitespace and caps the result at `maxLength` characters (CUT_MARKER marks a cut).
 * Positional parameters (`$1`) and quoted identifiers are kept.
 */
export function normaliseSql(text: string, maxLength: number): string {
  const out: string[] = [];
  const n = text.length;
  let i = 0;
  const isIdent = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_$\u0080-\uffff]/.test(c);
  while (i < n) {
    const c = text[i]!;
    const next = text[i + 1];
    // comments
    if (c === '-' && next === '-') {
      const end = text.indexOf('\n', i);
      i = end < 0 ? n : end;
      out.push(' ');
      continue;
    }
    if (c === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (text[i] === '/' && text[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (text[i] === '*' && text[i + 1] === '/') {
          depth--;
          i += 2;
        } else i++;
      }
      out.push(' ');
      continue;
    }
    // quoted identifier: kept
    if (c === '"') {
      const end = text.indexOf('"', i + 1);
      const stop = end < 0 ? n : end + 1;
      out.push(text.slice(i, stop));
      i = stop;
      continue;
    }
    // string literal, with an optional prefix E/B/X/N/U&
    const prev = out.length ? out[out.length - 1]!.slice(-1) : '';
    let prefixLen = 0;
    if (/[eEbBxXnN]/.test(c) && next === "'" && !isIdent(prev)) prefixLen = 1;
    else if ((c === 'u' || c === 'U') && next === '&' && text[i + 2] === "'" && !isIdent(prev)) prefixLen = 2;
    if (c === "'" || prefixLen > 0) {
      const backslash = prefixLen === 1 && (c === 'e' || c === 'E');
      let j = i + prefixLen + 1;
      while (j < n) {
        if (backslash && text[j] === '\\') {
          j += 2;
          continue;
        }
        if (text[j] === "'") {
          if (text[j + 1] === "'") {
            j += 2;
            continue;
          }
          break;
        }
        j++;
      }
      out.push('?');
      i = j + 1;
      continue;
    }
    // dollar quoting: $$..$$ or $tag$..$tag$ (a tag does not start with a digit)
    if (c === '$' && !isIdent(prev)) {
      const m = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(text.slice(i, i + 70));
      if (m) {
        const tag = m[0];
        const end = text.indexOf(tag, i + tag.length);
        out.push('?');
        i = end < 0 ? n : end + tag.length;
        continue;
      }
      // $1: a parameter, kept
      const p = /^\$\d+/.exec(text.slice(i, i + 12));
      if (p) {
        out.push(p[0]);
        i += p[0].length;
        continue;
      }
    }
    // numbers not part of an identifier
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(next ?? ''))) {
      if (!isIdent(prev)) {
        const m = /^(?:0[xX][0-9A-Fa-f_]+|0[oO][0-7_]+|0[bB][01_]+|(?:\d[\d_]*)?\.?\d[\d_]*(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 100));
        if (m && m[0].length > 0) {
          out.push('?');
          i += m[0].length;
          continue;
        }
      }
    }
    out.push(c);
    i++;
  }
  let s = out.join('').replace(/\s+/g, ' ').trim();
  // IN (?, ?, ?) and VALUES (?, ?), (?, ?) lists
  s = s.replace(/\(\s*\?(?:\s*,\s*\?)+\s*\)/g, '(?, ...)');
  s = s.replace(/\(\?, \.\.\.\)(?:\s*,\s*\(\?, \.\.\.\))+/g, '(?, ...), ...');
  return capText(s, maxLength);
}

/** `text` cut to `max` characters with CUT_MARKER at the end when it was longer. */
export function capText(text: string, max: number): string {
  if (text.length <= max) return text;
  return text.slice(0, Math.max(0, max - CUT_MARKER.length)) + CUT_MARKER;
}
