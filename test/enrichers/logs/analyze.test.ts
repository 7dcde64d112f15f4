import fs from 'node:fs';
import path from 'node:path';
import { analyzeLogs, DUPLICATE_WINDOW_MS, type AnalyzeOptions } from '../../../src/enrichers/logs/analyze';
import { lineTime } from '../../../src/sources/logs/file';
import type { LogLine } from '../../../src/sources/logs';

const FIELD = path.join(__dirname, '../../fixtures/field');
const fieldLines = (file: string, zone = 'UTC'): LogLine[] =>
  fs
    .readFileSync(path.join(FIELD, file), 'utf8')
    .replace(/\n$/, '')
    .split('\n')
    .map((l) => {
      const t = lineTime(l, zone);
      return { time: t.time, text: t.text };
    });

const opts = (o: Partial<AnalyzeOptions> = {}): AnalyzeOptions => ({
  filter: /connection|pool|database/i,
  matchSignatures: true,
  window: null,
  newest: 10,
  mask: (s) => s.replace(/password=\S+/g, 'password=***'),
  shape: (s) => s.replace(/\d+/g, '<n>'),
  ...o,
});

describe('field file 12 as the enricher reads it', () => {
  const a = analyzeLogs([{ name: 'app', lines: fieldLines('12-logs-spring-hikari-stacktraces.txt') }], opts());

  test('events are counted, not lines: 8 events of 65 lines, 6 of them matching', () => {
    expect(a.sources.get('app')).toMatchObject({ lines: 65, events: 8, matched: 6 });
    expect(a.matched).toBe(6);
  });

  test('one pool timeout per failed request: each logs it twice (Hibernate, then the servlet container), counted once', () => {
    expect(a.classEvents.pool_timeout).toBe(4);
    expect(a.classes.pool_timeout).toBe(2);
  });

  test('the leak warning is collected with its location and thread', () => {
    expect(a.leaks).toEqual([
      expect.objectContaining({
        library: 'HikariCP',
        count: 1,
        threads: ['http-nio-8080-exec-7'],
        where: 'com.example.shop.export.OrderExportService.streamOrders (OrderExportService.java:88)',
        firstSeen: '2024-05-14T11:12:03.512Z',
      }),
    ]);
    expect(a.classes.leak_warning).toBe(1);
  });

  test('the newest list shows events, a servlet error with the line that classified it', () => {
    expect(a.newest).toHaveLength(6);
    expect(a.newest.every((e) => !/^\s*at /.test(e.display))).toBe(true);
    const servlet = a.newest.find((e) => e.display.includes('Servlet.service()'))!;
    expect(servlet.display).toContain(
      '⇒ java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.',
    );
    expect(servlet.lineCount).toBe(29);
  });

  test('the window leaves out events outside it, in the configured zone', () => {
    const lines = fieldLines('12-logs-spring-hikari-stacktraces.txt', 'Europe/Berlin');
    // 11:12:33 Berlin is 09:12:33Z: a window of 09:12:30Z..09:13:00Z keeps the two failed requests, not the leak at 09:12:03Z
    const w = analyzeLogs([{ name: 'app', lines }], opts({ window: { from: Date.parse('2024-05-14T09:12:30Z'), to: Date.parse('2024-05-14T09:13:00Z') } }));
    expect(w.matched).toBe(4);
    expect(w.sources.get('app')!.outsideWindow).toBe(2);
    expect(w.leaks).toEqual([]);
  });
});

describe('field file 13 as the enricher reads it', () => {
  test('per class, each line once', () => {
    const a = analyzeLogs([{ name: 'app', lines: fieldLines('13-logs-pool-exhaustion-other-stacks.txt') }], opts());
    expect(a.classes).toMatchObject({ pool_timeout: 12, pooler_limit: 3, too_many_clients: 3, connection_lost: 2, timeout: 1, leak_warning: 0 });
    // "context deadline exceeded" names neither connection, pool nor database: only the table keeps it
    expect(a.matched).toBe(21);
    expect(analyzeLogs([{ name: 'app', lines: fieldLines('13-logs-pool-exhaustion-other-stacks.txt') }], opts({ matchSignatures: false })).matched).toBe(17);
  });
});

describe('what is matched', () => {
  const l = (text: string, time: string | null = '2026-01-01T00:00:00.000Z'): LogLine => ({ time, text });

  test("the demo's startup line (a key named database) does not match; its JSON errors do", () => {
    const a = analyzeLogs(
      [
        {
          name: 'demo',
          lines: [
            l('{"level":30,"time":1764226320000,"pid":1,"hostname":"demo","database":"postgres://app@127.0.0.1:5432/app","msg":"starting"}'),
            l('{"level":50,"time":1764226321000,"msg":"database error","error":{"message":"sorry, too many clients already","code":"53300"}}'),
          ],
        },
      ],
      opts(),
    );
    expect(a.matched).toBe(1);
    expect(a.newest[0]!.display).toBe('ERROR database error — sorry, too many clients already');
    expect(a.classes.too_many_clients).toBe(1);
  });

  test('binary lines are left out and counted; invalid UTF-8 is read and counted; colours are removed', () => {
    const a = analyzeLogs(
      [
        {
          name: 'x',
          lines: [l('\u0000\u0001\u0002garbage\u0003\u0004'), l('ERROR caf\uFFFD: sorry, too many clients already'), l('\x1b[31mERROR\x1b[0m pool exhausted')],
        },
      ],
      opts(),
    );
    expect(a.sources.get('x')).toMatchObject({ lines: 3, binary: 1, invalidUtf8: 1, matched: 2 });
    expect(a.newest.map((e) => e.display)).toEqual(['ERROR caf\uFFFD: sorry, too many clients already', 'ERROR pool exhausted']);
  });

  test(`one error logged by two layers of one thread within DUPLICATE_WINDOW_MS (${DUPLICATE_WINDOW_MS} ms) is one occurrence; a retry, another thread or a later one is another`, () => {
    const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
    const hikari = (ms: number, thread: string) =>
      l(`ERROR 1 --- [${thread}] o.h.SqlExceptionHelper : HikariPool-1 - Connection is not available, request timed out after 30000ms.`, at(ms));
    const servlet = (ms: number, thread: string) =>
      l(
        `ERROR 1 --- [${thread}] o.a.c.c.C : Servlet.service() threw exception: HikariPool-1 - Connection is not available, request timed out after 30000ms.`,
        at(ms),
      );
    const count = (...lines: LogLine[]) => analyzeLogs([{ name: 's', lines }], opts()).classes.pool_timeout;
    expect(count(hikari(0, 'a'), servlet(7, 'a'))).toBe(1);
    expect(count(hikari(0, 'a'), hikari(5, 'a'))).toBe(2);
    expect(count(hikari(0, 'a'), servlet(7, 'b'))).toBe(2);
    expect(count(hikari(0, 'a'), servlet(DUPLICATE_WINDOW_MS + 1, 'a'))).toBe(2);
    // Spring Boot 3.2+ puts the application's name before the thread: the thread still tells them apart
    const sb32 = (ms: number, thread: string, logger: string) =>
      l(`ERROR 1 --- [shop] [${thread}] ${logger} : HikariPool-1 - Connection is not available, request timed out after 30000ms.`, at(ms));
    expect(count(sb32(0, 'a', 'o.h.SqlExceptionHelper'), sb32(7, 'b', 'o.a.c.c.C'))).toBe(2);
    expect(count(sb32(0, 'a', 'o.h.SqlExceptionHelper'), sb32(7, 'a', 'o.a.c.c.C'))).toBe(1);
    // no thread known: each counts
    expect(
      count(
        l('HikariPool-1 - Connection is not available, request timed out after 30000ms.'),
        l('x: HikariPool-1 - Connection is not available, request timed out after 30000ms.'),
      ),
    ).toBe(2);
  });

  test('a source that reads several places (Kubernetes pods) interleaved by time is folded per place', () => {
    const t = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
    const lines: LogLine[] = [
      { time: t(0), origin: 'api-1/app', text: 'ERROR request failed' },
      { time: t(0), origin: 'api-2/app', text: 'INFO served' },
      {
        time: t(1),
        origin: 'api-1/app',
        text: 'java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.',
      },
      { time: t(1), origin: 'api-2/app', text: 'INFO served again' },
      { time: t(1), origin: 'api-1/app', text: '\tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:197)' },
    ];
    const a = analyzeLogs([{ name: 'k8s', lines }], opts());
    expect(a.sources.get('k8s')).toMatchObject({ lines: 5, events: 3, matched: 1 });
    expect(a.newest[0]).toMatchObject({ origin: 'api-1/app', lineCount: 3, classification: { class: 'pool_timeout' } });
  });

  test('secrets are masked before anything is kept; two sources merge by time', () => {
    const a = analyzeLogs(
      [
        { name: 'a', lines: [l('ERROR pool: login password=hunter2 failed', '2026-01-01T00:00:02.000Z')] },
        { name: 'b', lines: [l('ERROR database down', '2026-01-01T00:00:01.000Z')] },
      ],
      opts(),
    );
    expect(a.newest.map((e) => [e.source, e.display])).toEqual([
      ['b', 'ERROR database down'],
      ['a', 'ERROR pool: login password=*** failed'],
    ]);
    expect(JSON.stringify(a)).not.toContain('hunter2');
  });

  test('a million lines: counted, grouped within MAX_TRACKED_SHAPES, the newest kept', () => {
    function* lines() {
      for (let i = 0; i < 1_000_000; i++) yield { time: null, text: `ERROR pool item-${i.toString(36)} failed` };
    }
    const a = analyzeLogs([{ name: 'big', lines: lines() }], opts({ shape: (s) => s }));
    expect(a.sources.get('big')).toMatchObject({ lines: 1_000_000, events: 1_000_000, matched: 1_000_000 });
    expect(a.groups.length).toBe(2_000);
    expect(a.untrackedShapes).toBe(998_000);
    expect(a.newest).toHaveLength(10);
    expect(a.newest.at(-1)!.display).toBe(`ERROR pool item-${(999_999).toString(36)} failed`);
  });
});
