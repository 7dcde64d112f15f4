/**
 * Reads a double-quoted string literal as Go's `strconv.Unquote` does for the escapes our quoting
 * writes (`\\`, `\"`, `\n`, `\r`, `\t`, `\xNN`): the rule of Prometheus' PromQL lexer and of
 * Alertmanager's UTF-8 matcher parser (matcher/parse/token.go `unquote`). Throws on any other escape,
 * a raw newline (Go refuses one) or a missing quote.
 */
export function goUnquote(literal: string): string {
  if (literal.length < 2 || !literal.startsWith('"') || !literal.endsWith('"')) throw new Error(`not a double-quoted literal: ${literal}`);
  const body = literal.slice(1, -1);
  if (body.includes('\n')) throw new Error('raw newline in a quoted string');
  const escapes: Record<string, string> = { '\\': '\\', '"': '"', n: '\n', r: '\r', t: '\t' };
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch === '"') throw new Error(`unescaped quote in ${literal}`);
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const c = body[++i];
    if (c === 'x') {
      out += String.fromCharCode(parseInt(body.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c !== undefined && c in escapes) out += escapes[c];
    else throw new Error(`unknown escape \\${c}`);
  }
  return out;
}
