import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { AlertGroup } from '../../src/core/alert';
import type { LogsEvidence } from '../../src/core/evidence';
import { lineShape, maskSecrets } from '../../src/enrichers/logs/lines';
import { CONTINUATION_PATTERN, createLogsEnricher, SIGNAL_PATTERN, type LogSourceOptions } from '../../src/enrichers/logs/enricher';
import { logsSettingsSchema } from '../../src/enrichers/logs/settings';
import { runEnrichers } from '../../src/pipeline/enrich';
import { logSourceSchema } from '../../src/sources/config';
import { createLogReader } from '../../src/sources/logs';
import { startFakeDockerEngine, type FakeDockerEngine } from '../fakes/docker-engine';
import { startFakeLoki, type FakeLoki } from '../fakes/loki';

const logger = pino({ level: 'silent' });
const NOW = new Date('2026-11-27T06:52:00.000Z');
let dir: string;
let docker: FakeDockerEngine;
let loki: FakeLoki;
let appLog: string;

function group(labels: Record<string, string> = {}): AlertGroup {
  const all = { alertname: 'db_pool_exhausted', ...labels };
  return {
    groupKey: 'g',
    status: 'firing',
    receiver: 'r',
    groupLabels: {},
    commonLabels: all,
    commonAnnotations: {},
    externalURL: '',
    truncatedAlerts: 0,
    alerts: [
      { status: 'firing', labels: all, annotations: {}, startsAt: NOW.toISOString(), endsAt: '0001-01-01T00:00:00Z', generatorURL: '', fingerprint: 'f' },
    ],
  };
}

function enricher(sources: Array<Record<string, unknown>>, settings: Record<string, unknown> = {}) {
  const parsed = sources.map((s) => logSourceSchema.parse(s));
  const options: Record<string, LogSourceOptions> = Object.fromEntries(
    parsed.map((s) => [s.name, { timezone: s.timezone, ...(s.multiline ? { multiline: s.multiline.start } : {}) }]),
  );
  return createLogsEnricher(logsSettingsSchema.parse(settings), { readers: parsed.map(createLogReader), options });
}

async function run(e: ReturnType<typeof enricher>, labels: Record<string, string> = {}, budgetMs = 5_000) {
  const [r] = await runEnrichers([e], { group: group(labels), logger, now: NOW }, { budgetMs, defaultTimeoutMs: budgetMs });
  return { ...r!, ev: r!.evidence as unknown as LogsEvidence };
}

const APP_LINES = [
  '2026-11-27T06:40:00.000Z INFO GET /health 200 3ms',
  '2026-11-27T06:41:00.000Z ERROR pg pool: timeout exceeded when trying to connect (waited 5000 ms) req=3f2a9c1e-7b1d-4c55-9a0e-1234567890ab',
  '2026-11-27T06:42:00.000Z ERROR pg pool: timeout exceeded when trying to connect (waited 5012 ms) req=8d1b2c3e-0000-4c55-9a0e-abcdefabcdef',
  '2026-11-27T06:43:00.000Z FATAL could not connect to postgres://app:S3cretPw@10.0.0.5:5432/orders: sorry, too many clients already',
  '2026-11-27T06:44:00.000Z WARN retrying database login user=app password=hunter2 api_key="ak_live_0123456789" attempt=2',
  '2026-11-27T06:45:00.000Z ERROR connect ECONNREFUSED 10.0.0.5:5432',
  JSON.stringify({
    level: 50,
    time: Date.parse('2026-11-27T06:46:00.000Z'),
    msg: 'query failed',
    err: { message: 'Connection terminated unexpectedly' },
    headers: { authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl' },
  }),
  '2026-11-27T06:47:00.000Z INFO cache warmed in 812 ms',
  '2026-11-27T06:48:00.000Z ERROR pg pool: timeout exceeded when trying to connect (waited 5001 ms) req=00000000-1111-4c55-9a0e-222222222222',
];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-logs-'));
  appLog = path.join(dir, 'app.log');
  fs.writeFileSync(appLog, APP_LINES.join('\n') + '\n');
  docker = await startFakeDockerEngine();
  docker.containers.set('api', {
    tty: false,
    entries: [
      { stream: 2, time: '2026-11-27T06:49:00.100000000Z', text: 'Error: Connection terminated due to connection timeout' },
      { stream: 1, time: '2026-11-27T06:49:30.000000000Z', text: 'listening on :8080' },
      { stream: 2, time: '2026-11-27T06:50:00.000000000Z', text: 'remaining connection slots are reserved for non-replication superuser connections' },
    ],
  });
  loki = await startFakeLoki();
  loki.entries.push({
    labels: { app: 'api' },
    ns: BigInt(Date.parse('2026-11-27T06:51:00.000Z')) * 1_000_000n + 42n,
    line: 'database pool exhausted: 20/20 in use, Authorization: Bearer tok_abcdef123456',
  });
});

afterAll(async () => {
  await docker.close();
  await loki.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const fileSrc = () => ({ name: 'app-file', file: { path: appLog } });
const dockerSrc = (container = 'api') => ({ name: 'api', docker: { socket: docker.socketPath, container } });
const lokiSrc = () => ({ name: 'loki', loki: { url: loki.url, query: '{app="api"}', sinceMinutes: 30 } });

test('groups matching events by shape across file, docker and loki; classes, signals, counts, first/last seen; secrets masked', async () => {
  const r = await run(enricher([fileSrc(), dockerSrc(), lokiSrc()]));
  expect(r.status).toBe('ok');
  expect(r.ev.sources).toEqual([
    {
      name: 'app-file',
      kind: 'file',
      scanned: 9,
      matched: 7,
      error: null,
      events: 9,
      binary: 0,
      invalidUtf8: 0,
      outsideWindow: 0,
      timezone: 'UTC',
      zoneless: 0,
    },
    { name: 'api', kind: 'docker', scanned: 3, matched: 2, error: null, events: 3, binary: 0, invalidUtf8: 0, outsideWindow: 0, timezone: 'UTC', zoneless: 0 },
    { name: 'loki', kind: 'loki', scanned: 1, matched: 1, error: null, events: 1, binary: 0, invalidUtf8: 0, outsideWindow: 0, timezone: 'UTC', zoneless: 0 },
  ]);
  expect(r.ev.matched).toBe(10);
  const timeout = r.ev.groups[0]!;
  expect(timeout).toEqual({
    shape: expect.stringMatching(/^ERROR pg pool: timeout exceeded when trying to connect \(waited <n> ms\) req=<uuid>/),
    count: 3,
    firstSeen: '2026-11-27T06:41:00.000Z',
    lastSeen: '2026-11-27T06:48:00.000Z',
    signal: 'pool_timeout',
    class: 'pool_timeout',
    signature: 'node-postgres-pool-timeout',
  });
  expect(r.ev.classes).toEqual({
    leak_warning: 0,
    pooler_limit: 0,
    too_many_clients: 2,
    auth_failed: 0,
    connection_refused: 1,
    pool_timeout: 3,
    connection_lost: 1,
    connection_error: 1,
    timeout: 0,
  });
  expect(r.ev.signals).toEqual({ too_many_clients: 2, pool_timeout: 3, connection_refused: 1, connection_error: 2, other: 2 });
  expect(r.ev.groups.filter((g) => g.class === 'connection_refused')).toEqual([
    expect.objectContaining({ shape: 'ERROR connect ECONNREFUSED <ip>', count: 1 }),
  ]);
  // the JSON line is grouped and shown by its level, message and error
  expect(r.ev.groups.some((g) => g.shape === 'ERROR query failed — Connection terminated unexpectedly' && g.class === 'connection_lost')).toBe(true);
  expect(r.ev.window).toEqual({ from: '2026-11-27T06:22:00.000Z', to: '2026-11-27T06:53:00.000Z' });

  const all = JSON.stringify(r);
  for (const secret of ['S3cretPw', 'hunter2', 'eyJhbGciOiJIUzI1NiJ9', 'ak_live_0123456789', 'tok_abcdef123456']) expect(all).not.toContain(secret);
  expect(all).not.toContain('health');
  const code = r.sections.find((s) => s.type === 'code');
  expect(code?.type === 'code' && code.code.split('\n').at(-1)).toBe(
    '[loki] 2026-11-27T06:51:00.000Z database pool exhausted: 20/20 in use, Authorization: Bearer ***',
  );
  expect(code?.type === 'code' && code.code).toContain(
    '[app-file] 2026-11-27T06:43:00.000Z FATAL could not connect to postgres://app:***@10.0.0.5:5432/orders',
  );
  expect(r.queries).toEqual([
    expect.objectContaining({ source: 'loki', query: `{app="api"} |~ \`(?i)(?:connection|pool|database)|(?:${SIGNAL_PATTERN})|(?:${CONTINUATION_PATTERN})\`` }),
  ]);
  expect(r.summary).toBe(
    "10 of 13 log events (13 lines) match: 2 the server's connection limit, 1 connection refused, 3 the application's pool timed out, 1 connection lost, 1 could not connect",
  );
});

test('the filter is configurable; the alert label picks a configured source by name, never anything else', async () => {
  const refused = await run(enricher([fileSrc()], { filter: 'refused', matchSignals: false }));
  expect(refused.ev.matched).toBe(1);
  const strict = await run(enricher([fileSrc()], { filter: 'DATABASE', caseInsensitive: false, matchSignals: false }));
  expect(strict.ev.matched).toBe(0);
  expect(strict.sections.some((s) => s.type === 'text' && /No event matched/.test(s.text))).toBe(true);

  const picked = await run(enricher([fileSrc(), dockerSrc()]), { service: 'api' });
  expect(picked.ev.sources.map((s) => s.name)).toEqual(['api']);
  const unknown = await run(enricher([fileSrc(), dockerSrc()]), { service: '/etc/passwd' });
  expect(unknown.ev.sources.map((s) => s.name)).toEqual(['app-file', 'api']);
  expect(unknown.sections.some((s) => s.type === 'text' && /names no configured log source/.test(s.text))).toBe(true);
});

test('a failing source is evidence beside the others; all failing is an error; all slow is a timeout within budget', async () => {
  const partly = await run(enricher([fileSrc(), dockerSrc('gone')]));
  expect(partly.status).toBe('ok');
  expect(partly.ev.sources[1]).toEqual({
    name: 'api',
    kind: 'docker',
    scanned: 0,
    matched: 0,
    error: 'container not found: gone',
    timezone: 'UTC',
    zoneless: 0,
  });
  expect(partly.summary).toMatch(/1 source\(s\) failed/);

  const none = await run(enricher([dockerSrc('gone'), { name: 'f', file: { path: path.join(dir, 'nope.log') } }]));
  expect(none.status).toBe('error');
  expect(none.error).toBe(`api: container not found: gone; f: file not found: ${path.join(dir, 'nope.log')}`);

  loki.delayMs = 2_000;
  try {
    const slow = await run(enricher([{ ...lokiSrc(), timeoutMs: 200 }]));
    expect(slow.status).toBe('timeout');
    expect(slow.durationMs).toBeLessThan(1_000);
    const budget = await run(enricher([{ ...lokiSrc(), timeoutMs: 5_000 }]), {}, 300);
    expect(budget.status).toBe('timeout');
    expect(budget.durationMs).toBeLessThan(1_000);
  } finally {
    loki.delayMs = undefined;
  }
});

test('no log source configured: skipped', async () => {
  expect((await run(enricher([]))).status).toBe('skipped');
});

describe('line analysis', () => {
  test.each([
    ['postgres://user:p%40ss@db:5432/x', 'postgres://user:***@db:5432/x'],
    ['redis://:onlypass@cache:6379', 'redis://:***@cache:6379'],
    ['password=hunter2 next', 'password=*** next'],
    ['DB_PASSWORD: "x y z" ok', 'DB_PASSWORD: *** ok'],
    ['{"password":"a\\"b","user":"u"}', '{"password":"***","user":"u"}'],
    ['secret_key=abc&token=def', 'secret_key=***&token=***'],
    ['Authorization: Bearer abc.def-ghi_jkl', 'Authorization: Bearer ***'],
    ['slack xoxb-1234-5678-abcdefgh leaked', 'slack *** leaked'],
    ['aws AKIAIOSFODNN7EXAMPLE key', 'aws *** key'],
    ['pool connection timeout after 30s', 'pool connection timeout after 30s'],
  ])('maskSecrets(%s)', (input, expected) => {
    expect(maskSecrets(input)).toBe(expected);
  });

  test('shapes replace numbers, uuids, hex, quoted strings and addresses', () => {
    expect(lineShape('2026-11-27T06:41:00Z conn 0xdeadbeef to [::1]:5432 from 192.168.1.20:51234 id=6f1c2a3b4d5e6f70 user "alice" took 12.5ms')).toBe(
      'conn <hex> to [<ip>]:<n> from <ip> id=<hex> user "<str>" took <n>ms',
    );
    expect(lineShape('pool2 worker-17 error')).toBe('pool2 worker-<n> error');
  });
});

describe('events, zones, windows and leak warnings', () => {
  const FIELD = path.join(__dirname, '../fixtures/field');
  // the field file's lines are from 2024-05-14 11:12 (no zone); the alert fired then, in Berlin
  const at = (iso: string, labels: Record<string, string> = {}) => {
    const g = group(labels);
    g.alerts[0]!.startsAt = iso;
    return g;
  };
  async function runAt(e: ReturnType<typeof enricher>, startsAt: string, now: string) {
    const [r] = await runEnrichers([e], { group: at(startsAt), logger, now: new Date(now) }, { budgetMs: 5_000, defaultTimeoutMs: 5_000 });
    return { ...r!, ev: r!.evidence as unknown as LogsEvidence };
  }
  const spring = (extra: Record<string, unknown> = {}) => ({
    name: 'shop',
    file: { path: path.join(FIELD, '12-logs-spring-hikari-stacktraces.txt') },
    ...extra,
  });

  test('field file 12: events, one count per failed request, the leak with its code location in the evidence and the section', async () => {
    const r = await runAt(enricher([spring({ timezone: 'Europe/Berlin' })]), '2024-05-14T09:12:30Z', '2024-05-14T09:13:00Z');
    expect(r.status).toBe('ok');
    expect(r.ev.sources[0]).toMatchObject({ scanned: 65, events: 8, matched: 6, timezone: 'Europe/Berlin', zoneless: 8 });
    expect(r.ev.classes).toMatchObject({ pool_timeout: 2, leak_warning: 1 });
    expect(r.ev.classEvents).toMatchObject({ pool_timeout: 4 });
    expect(r.ev.leaks).toEqual([
      {
        library: 'HikariCP',
        signature: 'hikaricp-leak',
        count: 1,
        firstSeen: '2024-05-14T09:12:03.512Z',
        lastSeen: '2024-05-14T09:12:03.512Z',
        threads: ['http-nio-8080-exec-7'],
        location: {
          class: 'com.example.shop.export.OrderExportService',
          method: 'streamOrders',
          file: 'OrderExportService.java',
          line: 88,
          frame: 'at com.example.shop.export.OrderExportService.streamOrders(OrderExportService.java:88) ~[classes!/:0.0.1]',
        },
        where: 'com.example.shop.export.OrderExportService.streamOrders (OrderExportService.java:88)',
        noLocation: null,
      },
    ]);
    const leakTable = r.sections.find((s) => s.type === 'table' && s.title?.startsWith('leak warnings'));
    expect(leakTable?.type === 'table' && leakTable.rows[0]).toEqual([
      'HikariCP',
      'com.example.shop.export.OrderExportService.streamOrders (OrderExportService.java:88)',
      '1',
      'http-nio-8080-exec-7',
      '2024-05-14T09:12:03.512Z',
    ]);
    const sources = r.sections.find((s) => s.type === 'fields');
    expect(sources?.type === 'fields' && sources.fields[0]!.value).toBe(
      '8 events in 65 lines, 6 matching /connection|pool|database/i or a known error; 8 times without a zone read as Europe/Berlin',
    );
    const code = r.sections.find((s) => s.type === 'code');
    // no frame is a line of its own
    expect(code?.type === 'code' && code.code).not.toMatch(/^\S* ?\S* ?\s*at /m);
    expect(r.summary).toContain('leak at com.example.shop.export.OrderExportService.streamOrders (OrderExportService.java:88)');
  });

  test('read as UTC, the same times fall outside the window and are left out, and the section says so', async () => {
    const r = await runAt(enricher([spring()]), '2024-05-14T09:12:30Z', '2024-05-14T09:13:00Z');
    // 11:12 read as UTC is two hours after the run: past the clock skew allowed
    expect(r.ev.matched).toBe(0);
    expect(r.ev.sources[0]).toMatchObject({ outsideWindow: 6, timezone: 'UTC' });
    const left = r.sections.find((s) => s.type === 'text' && s.title === 'left out or not seen');
    expect(left?.type === 'text' && left.text).toMatch(/^shop: 6 matching events outside the window 2024-05-14T08:42:30.000Z to 2024-05-14T09:14:00.000Z/);
  });

  test('multiline.start folds what the built-in rules do not know', async () => {
    const p = path.join(dir, 'batch.log');
    fs.writeFileSync(
      p,
      ['2026-11-27 06:50:00 batch 7 failed:', '  row 1: ok', 'row 2: sorry, too many clients already', '2026-11-27 06:50:01 batch 8 done'].join('\n') + '\n',
    );
    const plain = await run(enricher([{ name: 'b', file: { path: p } }]));
    const folded = await run(enricher([{ name: 'b', file: { path: p }, multiline: { start: '^\\d{4}-\\d\\d-\\d\\d ' } }]));
    expect(plain.ev.sources[0]).toMatchObject({ events: 3 });
    expect(folded.ev.sources[0]).toMatchObject({ events: 2, matched: 1 });
    expect(folded.ev.groups[0]).toMatchObject({ class: 'too_many_clients', shape: 'batch <n> failed: ⇒ row <n>: sorry, too many clients already' });
  });

  test('binary garbage and invalid UTF-8 in the file: a line in the section, the rest read', async () => {
    const p = path.join(dir, 'garbage.log');
    fs.writeFileSync(
      p,
      Buffer.concat([
        Buffer.from('2026-11-27T06:50:00Z ERROR sorry, too many clients already\n'),
        Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 31 + 7) % 256).filter((b) => b !== 10)),
        Buffer.from('\n2026-11-27T06:50:01Z ERROR caf'),
        Buffer.from([0xe9]),
        Buffer.from(' pool exhausted\n'),
      ]),
    );
    const r = await run(enricher([{ name: 'g', file: { path: p } }]));
    expect(r.status).toBe('ok');
    expect(r.ev.sources[0]).toMatchObject({ scanned: 3, binary: 1, invalidUtf8: 1, matched: 2 });
    const left = r.sections.find((s) => s.type === 'text' && s.title === 'left out or not seen');
    expect(left?.type === 'text' && left.text).toBe('g: 1 line of binary data, not text; 1 line with invalid UTF-8 (read, shown with �)');
  });
});

describe('shapes of Spring Boot lines', () => {
  test("the logger prefix and Java's identity hashes do not split a group", () => {
    const a = lineShape(
      ' WARN 4242 --- [l-1 housekeeper] com.zaxxer.hikari.pool.ProxyLeakTask     : Connection leak detection triggered for org.postgresql.jdbc.PgConnection@4b8f on thread leak-scenario-3, stack trace follows',
    );
    const b = lineShape(
      ' WARN 4242 --- [shop] [l-1 housekeeper] com.zaxxer.hikari.pool.ProxyLeakTask     : Connection leak detection triggered for org.postgresql.jdbc.PgConnection@1b2c3d4e on thread leak-scenario-9, stack trace follows',
    );
    expect(a).toBe('WARN Connection leak detection triggered for org.postgresql.jdbc.PgConnection@<hex> on thread leak-scenario-<n>, stack trace follows');
    expect(b).toBe(a);
  });
});
