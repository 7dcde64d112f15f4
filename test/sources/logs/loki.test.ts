import axios from 'axios';
import { logSourceSchema } from '../../../src/sources/config';
import { createLokiLogReader, LOKI_MAX_ENTRIES, lokiQuery, nsToIso } from '../../../src/sources/logs/loki';
import { MAX_ENTRIES_LIMIT, startFakeLoki, type FakeLoki } from '../../fakes/loki';

type LokiSource = Parameters<typeof createLokiLogReader>[0];
const filter = { pattern: 'connection|pool|database', caseInsensitive: true };
const NOW = new Date('2026-11-27T06:52:00.000Z');
const ns = (iso: string, extra = 0n) => BigInt(Date.parse(iso)) * 1_000_000n + extra;

let loki: FakeLoki;
const source = (over: Record<string, unknown> = {}, tail = 100) =>
  logSourceSchema.parse({ name: 'loki-api', tail, loki: { url: loki.url, query: '{container="api"}', ...over } }) as LokiSource;
const read = (src: LokiSource) => createLokiLogReader(src).read({ signal: new AbortController().signal, now: NOW, filter });

beforeAll(async () => {
  loki = await startFakeLoki();
  loki.entries.push(
    { labels: { container: 'api' }, ns: ns('2026-11-27T06:40:00.000Z', 123_456n), line: 'Connection pool exhausted' },
    {
      labels: { container: 'api', stream: 'stderr' },
      ns: ns('2026-11-27T06:50:00.987Z', 654_321n),
      line: 'timeout exceeded when trying to connect to the database',
    },
    { labels: { container: 'api' }, ns: ns('2026-11-27T06:51:00.000Z'), line: 'GET /health 200' },
    { labels: { container: 'worker' }, ns: ns('2026-11-27T06:51:30.000Z'), line: 'database down' },
    { labels: { container: 'api' }, ns: ns('2026-11-27T06:00:00.000Z'), line: 'DATABASE connection from long ago' },
  );
});
afterAll(() => loki.close());

test('query_range: nanosecond strings, backward, limit, filter, tenant header; lines oldest first with exact times', async () => {
  loki.requests.length = 0;
  const r = await read(source({ orgId: 'team-a', sinceMinutes: 15 }));
  expect(r.lines).toEqual([
    { time: '2026-11-27T06:40:00.000Z', text: 'Connection pool exhausted' },
    { time: '2026-11-27T06:50:00.987Z', text: 'timeout exceeded when trying to connect to the database' },
  ]);
  const [req] = loki.requests;
  expect(req!.orgId).toBe('team-a');
  const p = Object.fromEntries(req!.params);
  expect(p.query).toBe('{container="api"} |~ `(?i)connection|pool|database`');
  expect(p.direction).toBe('backward');
  expect(p.limit).toBe('100');
  expect(p.start).toMatch(/^\d{19}$/);
  expect(p.end).toMatch(/^\d{19}$/);
  expect(BigInt(p.end!) - BigInt(p.start!)).toBe(15n * 60n * 1_000_000_000n + 1n);
  expect(BigInt(p.start!)).toBe(ns('2026-11-27T06:37:00.000Z'));
  expect(r.query).toEqual({ source: 'loki', query: p.query, start: '2026-11-27T06:37:00.000Z', end: '2026-11-27T06:52:00.000Z' });
});

test('a large tail is capped at the limit Loki accepts; above it the fake answers 400 like Loki', async () => {
  loki.requests.length = 0;
  await read(source({}, 100_000));
  expect(loki.requests[0]!.params.get('limit')).toBe(String(LOKI_MAX_ENTRIES));
  const raw = await axios.get(`${loki.url}/loki/api/v1/query_range`, {
    params: { query: '{container="api"}', limit: MAX_ENTRIES_LIMIT + 1 },
    validateStatus: () => true,
    responseType: 'text',
  });
  expect(raw.status).toBe(400);
  expect(raw.data).toMatch(/max entries limit per query exceeded/);
});

test('plain-text error bodies become the error message; a missing tenant is 401', async () => {
  const bad = await read(source({ query: 'rate(x[5m])' })).catch((e) => e);
  expect(bad.message).toBe('loki answered HTTP 400: parse error at line 1, col 1: syntax error: unexpected IDENTIFIER');
  loki.tenant = 'team-a';
  try {
    const e = await read(source()).catch((x) => x);
    expect(e.message).toBe('loki answered HTTP 401: no org id');
  } finally {
    loki.tenant = undefined;
  }
});

test('a slow Loki is a timeout within timeoutMs; a URL password never shows in errors', async () => {
  loki.delayMs = 1_000;
  try {
    const t0 = Date.now();
    const e = await read(
      logSourceSchema.parse({ name: 'l', timeoutMs: 200, loki: { url: loki.url.replace('http://', 'http://u:pa55word@'), query: '{a="b"}' } }) as LokiSource,
    ).catch((x) => x);
    expect(e).toMatchObject({ name: 'TimeoutError', timeout: true });
    expect(e.message).not.toContain('pa55word');
    expect(Date.now() - t0).toBeLessThan(1_000);
  } finally {
    loki.delayMs = undefined;
  }
});

test('nsToIso never goes through Number; lokiQuery quotes a pattern holding a backtick', () => {
  expect(nsToIso('1764226346123999999')).toBe('2025-11-27T06:52:26.123Z');
  expect(nsToIso('12x')).toBeNull();
  expect(lokiQuery('{a="b"}', { pattern: 'a`b', caseInsensitive: false })).toBe('{a="b"} |~ "a`b"');
});
