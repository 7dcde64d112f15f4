import { classifyText, MAX_CLASSIFY_CHARS } from '../../../src/enrichers/logs/classify';
import { foldEvents } from '../../../src/enrichers/logs/events';
import { lineQuality, stripAnsi } from '../../../src/enrichers/logs/input';
import { parseStructured } from '../../../src/enrichers/logs/structured';

describe('what is not a log line', () => {
  test("a coloured console line is text once the terminal's codes are gone", () => {
    const coloured =
      '\x1b[2m2024-05-14 11:12:33.918\x1b[0;39m \x1b[31mERROR\x1b[0;39m \x1b[35m1\x1b[0;39m --- HikariPool-1 - Connection is not available, request timed out after 30000ms.';
    const plain = stripAnsi(coloured);
    expect(plain).toBe('2024-05-14 11:12:33.918 ERROR 1 --- HikariPool-1 - Connection is not available, request timed out after 30000ms.');
    expect(lineQuality(plain)).toBe('text');
    expect(classifyText(plain)!.class).toBe('pool_timeout');
  });

  test('binary garbage, NUL bytes and invalid UTF-8', () => {
    // bytes that were never text, decoded as UTF-8 the way the sources decode them
    const garbage = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256)).toString('utf8');
    expect(lineQuality(garbage)).toBe('binary');
    expect(lineQuality('ERROR pool\u0000timeout')).toBe('binary');
    // one Latin-1 "é" in a UTF-8 stream
    const misEncoded = Buffer.concat([Buffer.from('ERROR caf'), Buffer.from([0xe9]), Buffer.from(' sorry, too many clients already')]).toString('utf8');
    expect(lineQuality(misEncoded)).toBe('invalid_utf8');
    expect(classifyText(misEncoded)!.class).toBe('too_many_clients');
    expect(lineQuality('')).toBe('text');
    expect(lineQuality('\tindented with a tab\r')).toBe('text');
  });
});

describe('a 10 MB line', () => {
  const huge = `ERROR sorry, too many clients already ${'x'.repeat(10 * 1024 * 1024)}`;

  test('is classified on its first MAX_CLASSIFY_CHARS and judged, folded and parsed without a throw', () => {
    expect(classifyText(huge)!.class).toBe('too_many_clients');
    expect(classifyText(`${'x'.repeat(MAX_CLASSIFY_CHARS)} sorry, too many clients already`)).toBeNull();
    expect(lineQuality(huge)).toBe('text');
    expect(foldEvents([{ time: null, text: huge }])).toHaveLength(1);
    // past MAX_JSON_CHARS: salvaged, never matched as raw JSON
    expect(parseStructured(`{"level":50,"msg":"${'y'.repeat(10 * 1024 * 1024)}"}`)).toMatchObject({ truncated: true, message: null, level: 'error' });
  });
});
