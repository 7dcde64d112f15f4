import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { logSourceSchema } from '../../../src/sources/config';
import { createFileLogReader, lineTime, readLastLines, TAIL_BLOCK_BYTES } from '../../../src/sources/logs/file';

let dir: string;
const write = (name: string, content: string | Buffer) => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, content);
  return p;
};
const opts = () => ({ signal: new AbortController().signal, now: new Date(), filter: { pattern: 'x', caseInsensitive: true } });
const fileSource = (p: string, tail: number) => logSourceSchema.parse({ name: 'app', tail, file: { path: p } }) as Parameters<typeof createFileLogReader>[0];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-filelogs-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test.each([
  ['trailing newline', 'a\nb\nc\n', 2, ['b', 'c']],
  ['no trailing newline', 'a\nb\nc', 2, ['b', 'c']],
  ['CRLF', 'a\r\nb\r\nc\r\n', 2, ['b', 'c']],
  ['fewer lines than asked', 'only\n', 5, ['only']],
  ['exactly n', 'x\ny\n', 2, ['x', 'y']],
  ['empty file', '', 3, []],
])('last lines: %s', async (_n, content, n, expected) => {
  const r = await readLastLines(write(`f-${_n}`, content), n);
  expect(r.lines).toEqual(expected);
});

test('lines spanning block boundaries come back whole', async () => {
  const lines = Array.from({ length: 3000 }, (_, i) => `${i} ${'x'.repeat(i % 97)}`);
  const r = await readLastLines(write('blocks.log', lines.join('\n') + '\n'), 1500);
  expect(r.lines).toEqual(lines.slice(-1500));
});

test('a huge file is never read whole: bytes read stay near what the tail needs', async () => {
  // 1 GiB of sparse zeros, then 500 short lines at the end
  const p = path.join(dir, 'huge.log');
  const fd = fs.openSync(p, 'w');
  fs.ftruncateSync(fd, 1024 * 1024 * 1024);
  const tail = Array.from({ length: 500 }, (_, i) => `2026-11-27T06:${String(10 + (i % 50)).padStart(2, '0')}:00Z line ${i} connection pool`);
  fs.writeSync(fd, '\n' + tail.join('\n') + '\n', 1024 * 1024 * 1024);
  fs.closeSync(fd);

  const t0 = Date.now();
  const r = await readLastLines(p, 100);
  expect(r.lines).toEqual(tail.slice(-100));
  expect(r.bytesRead).toBeLessThanOrEqual(TAIL_BLOCK_BYTES);
  expect(Date.now() - t0).toBeLessThan(1_500);

  // asking for more lines than exist near the end: bounded by maxBytes, partial first line dropped
  const more = await readLastLines(p, 1000, { maxBytes: 1024 * 1024 });
  expect(more.bytesRead).toBe(1024 * 1024);
  expect(more.lines).toEqual(tail);
});

test('the reader parses leading ISO timestamps and JSON time fields; a missing file is "file not found"', async () => {
  const p = write(
    'app.log',
    [
      '2026-11-27T06:50:01.123456Z INFO pool ok',
      JSON.stringify({ level: 50, time: Date.parse('2026-11-27T06:50:02.000Z'), msg: 'database error' }),
      'no time here',
    ].join('\n'),
  );
  const r = await createFileLogReader(fileSource(p, 10)).read(opts());
  expect(r.lines.map((l) => l.time)).toEqual(['2026-11-27T06:50:01.123Z', '2026-11-27T06:50:02.000Z', null]);
  expect(r.lines[0]!.text).toBe('INFO pool ok');
  expect(r.scanned).toBe(3);
  const e = await createFileLogReader(fileSource(path.join(dir, 'missing.log'), 10))
    .read(opts())
    .catch((x) => x);
  expect(e.message).toBe(`file not found: ${path.join(dir, 'missing.log')}`);
  expect(lineTime('2026-11-27 06:50:01,250 +0100 WARN x').time).toBe('2026-11-27T05:50:01.250Z');
});
