import path from 'node:path';
import pino from 'pino';
import type { Cause, Enrichment } from '../../src/core/diagnostic';
import type { LogLeak } from '../../src/core/evidence';
import { diagnose } from '../../src/diagnosis';
import { createLogsEnricher } from '../../src/enrichers/logs/enricher';
import { logsSettingsSchema } from '../../src/enrichers/logs/settings';
import { runEnrichers } from '../../src/pipeline/enrich';
import { logSourceSchema } from '../../src/sources/config';
import { createLogReader } from '../../src/sources/logs';
import * as f from './fixtures';

/** What the rules make of the logs' classes and leak warnings. */

const find = (causes: Cause[], id: string) => causes.find((c) => c.id === id);
const ZERO = {
  leak_warning: 0,
  pooler_limit: 0,
  too_many_clients: 0,
  auth_failed: 0,
  connection_refused: 0,
  pool_timeout: 0,
  connection_lost: 0,
  connection_error: 0,
  timeout: 0,
};

const hikariLeak = (o: Partial<LogLeak> = {}): LogLeak => ({
  library: 'HikariCP',
  signature: 'hikaricp-leak',
  count: 3,
  firstSeen: '2026-11-27T06:41:00.000Z',
  lastSeen: '2026-11-27T06:48:00.000Z',
  threads: ['http-nio-8080-exec-7'],
  location: { class: 'com.example.shop.export.OrderExportService', method: 'streamOrders', file: 'OrderExportService.java', line: 88, frame: 'at ...' },
  where: 'com.example.shop.export.OrderExportService.streamOrders (OrderExportService.java:88)',
  noLocation: null,
  ...o,
});

const withLogs = (base: Enrichment[], logs: ReturnType<typeof f.logs>) => base.map((e) => (e.enricher === 'logs' ? f.enrichment('logs', logs) : e));

describe('connection_leak from the pool’s leak detection', () => {
  test('leak warnings alone raise it, naming the code that took the connection in evidence and actions', () => {
    // a saturated pool whose connections the database sees working: no idle-in-transaction or held-idle sign of a leak
    const busy = f.db({ connections: 12, byState: { active: 10, idle: 2 } });
    const e = withLogs(
      f
        .healthy()
        .map((x) =>
          x.enricher === 'pool' ? f.enrichment('pool', f.saturatedPool()) : x.enricher === 'postgres' ? f.enrichment('postgres', { databases: [busy] }) : x,
        ),
      f.logs({ matched: 3, leaks: [hikariLeak()], classes: { ...ZERO, leak_warning: 3 } }),
    );
    const c = find(diagnose(e, f.group), 'connection_leak')!;
    expect(c).toBeDefined();
    expect(c.evidence).toContain(
      "HikariCP leak detection in the backend's logs (3 warnings, last 2026-11-27T06:48:00.000Z): the leaked connection was taken at com.example.shop.export.OrderExportService.streamOrders (OrderExportService.java:88) (thread http-nio-8080-exec-7)",
    );
    expect(c.actions[0]).toMatch(
      /^Fix the code that takes the connection at com\.example\.shop\.export\.OrderExportService\.streamOrders \(OrderExportService\.java:88\)/,
    );
    // without the warning, nothing here suggests a leak
    expect(find(diagnose(withLogs(e, f.logs()), f.group), 'connection_leak')).toBeUndefined();
  });

  test('beside idle-in-transaction sessions: stronger, and the culprit comes second in evidence and actions (a page shows the first few)', () => {
    const without = find(diagnose(f.leak(), f.group), 'connection_leak')!;
    const c = find(diagnose(withLogs(f.leak(), f.logs({ leaks: [hikariLeak()] })), f.group), 'connection_leak')!;
    expect(c.confidence).toBeGreaterThanOrEqual(without.confidence);
    expect(c.evidence[0]).toBe(without.evidence[0]);
    expect(c.evidence[1]).toContain('the leaked connection was taken at com.example.shop.export.OrderExportService.streamOrders');
    expect(c.actions[0]).toMatch(/^SELECT pg_terminate_backend\(4711\)/);
    expect(c.actions[1]).toMatch(/^Fix the code that takes the connection at com\.example\.shop\.export\.OrderExportService\.streamOrders/);
    expect(c.actions.slice(2)).toEqual(without.actions.slice(1));
  });

  test('a warning without a location says why and gives no code action; slow queries speak against it', () => {
    const sqla = hikariLeak({
      library: 'SQLAlchemy',
      signature: 'sqlalchemy-gc-connection',
      threads: [],
      location: null,
      where: null,
      noLocation: 'SQLAlchemy writes this when the garbage collector finds the connection, without the stack that checked it out',
    });
    const e = withLogs(f.slow(), f.logs({ leaks: [sqla] }));
    const c = find(diagnose(e, f.group), 'connection_leak')!;
    expect(c.evidence.join('\n')).toContain(
      "SQLAlchemy leak detection in the backend's logs (3 warnings, last 2026-11-27T06:48:00.000Z), naming no code location: SQLAlchemy writes this",
    );
    expect(c.actions.join('\n')).not.toContain('Fix the code');
    expect(c.against!.join('\n')).toMatch(/queries run long: a connection held by a slow query also trips the pool's leak detection/);
  });

  test("field file 12 through the real logs enricher: the culprit's code location reaches the cause", async () => {
    const source = logSourceSchema.parse({
      name: 'shop',
      timezone: 'Europe/Berlin',
      file: { path: path.join(__dirname, '../fixtures/field/12-logs-spring-hikari-stacktraces.txt') },
    });
    const enricher = createLogsEnricher(logsSettingsSchema.parse({}), { readers: [createLogReader(source)], options: { shop: { timezone: 'Europe/Berlin' } } });
    const group = {
      ...f.group,
      alerts: [
        {
          status: 'firing' as const,
          labels: {},
          annotations: {},
          startsAt: '2024-05-14T09:12:30Z',
          endsAt: '0001-01-01T00:00:00Z',
          generatorURL: '',
          fingerprint: 'f',
        },
      ],
    };
    const [logs] = await runEnrichers(
      [enricher],
      { group, logger: pino({ level: 'silent' }), now: new Date('2024-05-14T09:13:00Z') },
      { budgetMs: 5_000, defaultTimeoutMs: 5_000 },
    );
    const e = f.healthy().map((x) => (x.enricher === 'logs' ? logs! : x.enricher === 'pool' ? f.enrichment('pool', f.saturatedPool()) : x));
    const c = find(diagnose(e, f.group), 'connection_leak')!;
    expect(c.evidence.join('\n')).toContain(
      'the leaked connection was taken at com.example.shop.export.OrderExportService.streamOrders (OrderExportService.java:88)',
    );
    expect(c.actions[0]).toContain('com.example.shop.export.OrderExportService.streamOrders (OrderExportService.java:88)');
  });
});

describe('the pooler is not the database going down', () => {
  const lost = (pooler: number) =>
    withLogs(
      f.healthy(),
      f.logs({
        matched: 4 + pooler,
        signals: { too_many_clients: 0, pool_timeout: 0, connection_refused: 0, connection_error: 4, other: pooler },
        classes: { ...ZERO, connection_lost: 4, pooler_limit: pooler },
        groups: [
          {
            shape: 'DatabaseError: (psycopg2.DatabaseError) query_wait_timeout',
            count: pooler,
            firstSeen: null,
            lastSeen: null,
            signal: 'other',
            class: 'pooler_limit',
            signature: 'pgbouncer-query-wait-timeout',
          },
          {
            shape: 'PG::UnableToSend: server closed the connection unexpectedly',
            count: 4,
            firstSeen: null,
            lastSeen: null,
            signal: 'connection_error',
            class: 'connection_lost',
            signature: 'libpq-server-closed',
          },
        ],
      }),
    );

  test("lost connections beside as many of the pooler's refusals: weaker, and it says why", () => {
    const plain = find(diagnose(lost(0), f.group), 'database_unavailable')!;
    const pooled = find(diagnose(lost(5), f.group), 'database_unavailable');
    expect(pooled?.confidence ?? 0).toBeLessThan(plain.confidence);
    if (pooled)
      expect(pooled.against!.join('\n')).toContain('5 refusals or timeouts by the pooler, e.g. DatabaseError: (psycopg2.DatabaseError) query_wait_timeout');
  });

  test("field file 13's pooler lines are not connection errors in the signals", async () => {
    const source = logSourceSchema.parse({ name: 'app', file: { path: path.join(__dirname, '../fixtures/field/13-logs-pool-exhaustion-other-stacks.txt') } });
    const enricher = createLogsEnricher(logsSettingsSchema.parse({}), { readers: [createLogReader(source)] });
    const group = {
      ...f.group,
      alerts: [
        {
          status: 'firing' as const,
          labels: {},
          annotations: {},
          startsAt: '2025-03-04T10:00:00Z',
          endsAt: '0001-01-01T00:00:00Z',
          generatorURL: '',
          fingerprint: 'f',
        },
      ],
    };
    const [r] = await runEnrichers(
      [enricher],
      { group, logger: pino({ level: 'silent' }), now: new Date('2025-03-04T10:01:00Z') },
      { budgetMs: 5_000, defaultTimeoutMs: 5_000 },
    );
    const ev = r!.evidence as { signals: Record<string, number>; classes: Record<string, number> };
    expect(ev.classes).toMatchObject({ pooler_limit: 3, connection_lost: 2 });
    expect(ev.signals.connection_error).toBe(2);
    expect(find(diagnose(withLogs(f.healthy(), r!.evidence as ReturnType<typeof f.logs>), f.group), 'database_unavailable')).toBeUndefined();
  });
});
