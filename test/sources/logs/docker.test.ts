import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { logSourceSchema } from '../../../src/sources/config';
import { createDockerLogReader, FrameDemuxer } from '../../../src/sources/logs/docker';
import { LogSourceError, MAX_LINE_CHARS } from '../../../src/sources/logs/types';
import { startFakeDockerEngine, type FakeDockerEngine, type FakeLogEntry } from '../../fakes/docker-engine';

const opts = () => ({ signal: new AbortController().signal, now: new Date(), filter: { pattern: 'x', caseInsensitive: true } });
const source = (socket: string, container: string, extra: Record<string, unknown> = {}) =>
  logSourceSchema.parse({ name: 'api', docker: { socket, container, ...extra }, tail: 50 }) as Extract<
    ReturnType<typeof logSourceSchema.parse>,
    { docker: unknown }
  >;

function frame(stream: number, s: string | Buffer): Buffer {
  const p = Buffer.isBuffer(s) ? s : Buffer.from(s);
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(p.length, 4);
  return Buffer.concat([h, p]);
}

describe('FrameDemuxer', () => {
  test('reassembles frames split at every byte, per stream, across frame and UTF-8 boundaries', () => {
    const euro = Buffer.from('€'); // 3 bytes, split across two frames below
    const stream = Buffer.concat([
      frame(1, 'first line\nsecond '),
      frame(2, 'an error\n'),
      frame(1, Buffer.concat([Buffer.from('half '), euro.subarray(0, 1)])),
      frame(1, Buffer.concat([euro.subarray(1), Buffer.from(' done\n')])),
      frame(0, 'stdin echo\n'),
      frame(2, 'no newline at the end'),
    ]);
    const out: Array<[string, string]> = [];
    const d = new FrameDemuxer((l, s) => out.push([s, l]));
    for (const b of stream) d.push(Buffer.from([b]));
    d.end();
    expect(out).toEqual([
      ['stdout', 'first line'],
      ['stderr', 'an error'],
      ['stdout', 'second half € done'],
      ['stdout', 'stdin echo'],
      ['stderr', 'no newline at the end'],
    ]);
  });

  test('an endless line is cut at MAX_LINE_CHARS instead of buffered whole', () => {
    const out: string[] = [];
    const d = new FrameDemuxer((l) => out.push(l));
    for (let i = 0; i < 100; i++) d.push(frame(1, 'x'.repeat(10_000)));
    d.push(frame(1, 'tail\nnext\n'));
    d.end();
    // the buffered part never exceeds MAX_LINE_CHARS plus one chunk (the reader then caps the line itself)
    expect(out).toEqual(['x'.repeat(MAX_LINE_CHARS) + 'tail', 'next']);
  });

  test('a stream that is not multiplexed is refused', () => {
    const d = new FrameDemuxer(() => {});
    expect(() => d.push(Buffer.from('2026-11-27T06:00:00Z hello\n'))).toThrow('bad frame header');
  });
});

describe('docker reader against a fake Engine on a unix socket', () => {
  let fake: FakeDockerEngine;
  beforeAll(async () => {
    fake = await startFakeDockerEngine();
  });
  afterAll(() => fake.close());

  test('non-TTY: both streams demuxed, timestamps parsed (nanoseconds cut), tail honoured', async () => {
    fake.containers.set('api', {
      tty: false,
      entries: [
        { stream: 1, time: '2026-11-27T06:50:00.000000001Z', text: 'too old, beyond the tail' },
        ...Array.from({ length: 48 }, (_, i): FakeLogEntry => ({
          stream: i % 2 ? 2 : 1,
          time: `2026-11-27T06:51:${String(i).padStart(2, '0')}.123456789Z`,
          text: `line ${i} pool — connection ✓`,
        })),
        { stream: 2, time: '2026-11-27T06:52:00.999999999Z', text: 'Error: timeout exceeded when trying to connect' },
        { stream: 1, time: '2026-11-27T06:52:01.5Z', text: 'last' },
      ],
    });
    const r = await createDockerLogReader(source(fake.socketPath, 'api')).read(opts());
    expect(r.lines).toHaveLength(50);
    expect(r.scanned).toBe(50);
    expect(r.lines[0]).toEqual({ time: '2026-11-27T06:51:00.123Z', text: 'line 0 pool — connection ✓' });
    expect(r.lines[1]).toEqual({ time: '2026-11-27T06:51:01.123Z', text: 'line 1 pool — connection ✓' });
    expect(r.lines.at(-2)).toEqual({ time: '2026-11-27T06:52:00.999Z', text: 'Error: timeout exceeded when trying to connect' });
    expect(r.lines.at(-1)).toEqual({ time: '2026-11-27T06:52:01.500Z', text: 'last' });
    const logsUrl = fake.requests.find((u) => u.includes('/logs'))!;
    expect(logsUrl).toMatch(/^\/v1\.43\/containers\/api\/logs\?/);
    const q = new URL(logsUrl, 'http://x').searchParams;
    expect(Object.fromEntries(q)).toEqual({ stdout: '1', stderr: '1', timestamps: '1', tail: '50' });
    expect(fake.requests).toContain('/v1.43/containers/api/json');
  });

  test('TTY: a raw stream, not demuxed', async () => {
    fake.containers.set('tty-app', {
      tty: true,
      entries: [
        { stream: 1, time: '2026-11-27T06:51:00.000000000Z', text: 'raw one\r' },
        { stream: 1, time: '2026-11-27T06:51:01.000000000Z', text: 'raw two: database down' },
      ],
    });
    const r = await createDockerLogReader(source(fake.socketPath, 'tty-app')).read(opts());
    expect(r.lines).toEqual([
      { time: '2026-11-27T06:51:00.000Z', text: 'raw one' },
      { time: '2026-11-27T06:51:01.000Z', text: 'raw two: database down' },
    ]);
  });

  test('404 is "container not found"; an unsupported API version is Docker\'s message', async () => {
    const e = await createDockerLogReader(source(fake.socketPath, 'nope'))
      .read(opts())
      .catch((x) => x);
    expect(e).toBeInstanceOf(LogSourceError);
    expect(e.message).toBe('container not found: nope');
    const v = await createDockerLogReader(source(fake.socketPath, 'api', { apiVersion: 'v9.99' }))
      .read(opts())
      .catch((x) => x);
    expect(v.message).toMatch(/HTTP 400: client version 9.99 is too new/);
  });

  test('a missing socket, and a daemon that never answers (timeout)', async () => {
    const missing = await createDockerLogReader(source('/nonexistent/docker.sock', 'api'))
      .read(opts())
      .catch((x) => x);
    expect(missing.message).toBe('docker socket /nonexistent/docker.sock not available (ENOENT)');

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-silent-'));
    const sock = path.join(dir, 's.sock');
    const held: net.Socket[] = [];
    const silent = net.createServer((s) => held.push(s));
    await new Promise<void>((r) => silent.listen(sock, r));
    try {
      const src = logSourceSchema.parse({ name: 'api', timeoutMs: 200, docker: { socket: sock, container: 'api' } }) as Parameters<
        typeof createDockerLogReader
      >[0];
      const t0 = Date.now();
      const e = await createDockerLogReader(src)
        .read(opts())
        .catch((x) => x);
      expect(e).toMatchObject({ name: 'TimeoutError', timeout: true });
      expect(Date.now() - t0).toBeLessThan(1_000);
    } finally {
      held.forEach((s) => s.destroy());
      silent.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
