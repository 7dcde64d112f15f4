import path from 'node:path';
import { classifyText, type Classification } from '../../../src/enrichers/logs/classify';
import { eventText, foldEvents, type LogEvent } from '../../../src/enrichers/logs/events';
import { formatLocation } from '../../../src/enrichers/logs/frames';
import { leakWarning } from '../../../src/enrichers/logs/leaks';
import { parseStructured, structuredText } from '../../../src/enrichers/logs/structured';
import { logSourceSchema } from '../../../src/sources/config';
import { createFileLogReader } from '../../../src/sources/logs/file';

/**
 * The field files test/fixtures/field/12-* and 13-* (logs of real applications) read the way
 * the enricher reads them: through the file source, folded into events, JSON read on its message
 * and error, each event classified by the signature table.
 */

const FIELD = path.join(__dirname, '../../fixtures/field');

async function read(file: string, timezone?: string) {
  const source = logSourceSchema.parse({ name: 'app', file: { path: path.join(FIELD, file) }, tail: 1000, ...(timezone ? { timezone } : {}) });
  if (!('file' in source)) throw new Error('not a file source');
  return createFileLogReader(source).read({
    signal: new AbortController().signal,
    now: new Date('2025-03-04T10:10:00Z'),
    filter: { pattern: '.', caseInsensitive: true },
  });
}

function classify(e: LogEvent): Classification | null {
  const s = parseStructured(e.head);
  return classifyText(s ? [structuredText(s), ...e.messages].join('\n') : eventText(e));
}

describe('field file 12: Spring Boot with HikariCP', () => {
  test('one event per log call: each stack trace folds into the line that printed it', async () => {
    const events = foldEvents((await read('12-logs-spring-hikari-stacktraces.txt')).lines);
    expect(events.map((e) => /^(\w+) 1 --- \[\s*([^\]]+)\]/.exec(e.head.trim())!.slice(1).join(' '))).toEqual([
      'DEBUG l-1 housekeeper',
      'WARN l-1 housekeeper',
      'WARN nio-8080-exec-3',
      'ERROR nio-8080-exec-3',
      'ERROR nio-8080-exec-3',
      'WARN nio-8080-exec-9',
      'ERROR nio-8080-exec-9',
      'ERROR nio-8080-exec-9',
    ]);
    expect(events.map((e) => e.frames.length)).toEqual([0, 7, 0, 0, 25, 0, 0, 16]);
    expect(events.map((e) => e.kind)).toEqual(['line', 'java', 'line', 'line', 'java', 'line', 'line', 'java']);
    // no frame is matched or classified on its own
    for (const e of events) expect(eventText(e)).not.toMatch(/^\s*at /m);
  });

  test('the leak warning is leak evidence, with the code location its trace names', async () => {
    const events = foldEvents((await read('12-logs-spring-hikari-stacktraces.txt')).lines);
    const classes = events.map((e) => classify(e)?.class ?? null);
    expect(classes).toEqual([null, 'leak_warning', null, 'pool_timeout', 'pool_timeout', null, 'pool_timeout', 'pool_timeout']);
    const leak = leakWarning(events[1]!, classify(events[1]!));
    expect(leak).toMatchObject({ library: 'HikariCP', thread: 'http-nio-8080-exec-7', connection: 'org.postgresql.jdbc.PgConnection@1b2c3d4e' });
    expect(formatLocation(leak!.location!)).toBe('com.example.shop.export.OrderExportService.streamOrders (OrderExportService.java:88)');
  });

  test('a zone-less time follows the configured zone (default UTC)', async () => {
    const utc = await read('12-logs-spring-hikari-stacktraces.txt');
    expect(utc.lines[0]!.time).toBe('2024-05-14T11:12:02.118Z');
    expect(utc.zoneless).toBe(8);
    const berlin = await read('12-logs-spring-hikari-stacktraces.txt', 'Europe/Berlin');
    expect(berlin.lines[0]!.time).toBe('2024-05-14T09:12:02.118Z');
    expect(foldEvents(berlin.lines)[1]!.time).toBe('2024-05-14T09:12:03.512Z');
  });
});

describe('field file 13: pool exhaustion and connection errors of other stacks', () => {
  /** Per the field README: pool timeout, pooler limit, server connection limit, connection lost. */
  const EXPECTED: Array<[string, string]> = [
    ['E, [2025-03-04T10:00:01.101234 #7] ERROR -- : ActiveRecord::ConnectionTimeoutError (could not obtain a connection from the pool', 'pool_timeout'],
    ['ActiveRecord::ConnectionTimeoutError: could not obtain a database connection', 'pool_timeout'],
    ['PrismaClientKnownRequestError: Timed out fetching a new connection', 'pool_timeout'],
    ['Error: Timed out fetching a new connection from the pool. Please consider', 'pool_timeout'],
    ['Invalid `prisma.order.findMany()` invocation', 'pool_timeout'],
    ['Error in connector: Error creating a database connection. (Operation timed out (mobc timeout))', 'pool_timeout'],
    ['SequelizeConnectionAcquireTimeoutError: Operation timeout', 'pool_timeout'],
    ['{"level":"error","time":"2025-03-04T10:00:03.808Z","msg":"Error in tracker filter."', 'pool_timeout'],
    ['TimeoutError: ResourceRequest timed out', 'pool_timeout'],
    ['KnexTimeoutError: Knex: Timeout acquiring a connection', 'pool_timeout'],
    ['sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached', 'pool_timeout'],
    ['Error: timeout exceeded when trying to connect', 'pool_timeout'],
    ['psycopg2.OperationalError: ERROR:  no more connections allowed (max_client_conn)', 'pooler_limit'],
    // PgBouncer's query_wait_timeout and the close that libpq appends to it: one event, the pooler's
    ['DatabaseError: (psycopg2.DatabaseError) query_wait_timeout', 'pooler_limit'],
    ['{"event":"Internal Server Error: /-/health/ready/"', 'pooler_limit'],
    ['PG::UnableToSend: server closed the connection unexpectedly', 'connection_lost'],
    ['failed to connect to `host=db.internal.example user=app database=app`: server error (FATAL: sorry, too many clients already', 'too_many_clients'],
    ['django.db.utils.OperationalError: connection to server at "db.internal.example"', 'too_many_clients'],
    ['FATAL: remaining connection slots are reserved for roles with the SUPERUSER attribute', 'too_many_clients'],
    // Go's context error alone does not say whether the pool, the connect or the query waited
    ['context deadline exceeded', 'timeout'],
    ['driver: bad connection', 'connection_lost'],
  ];

  test('every line is classified as what it is, each event once', async () => {
    const r = await read('13-logs-pool-exhaustion-other-stacks.txt');
    expect(r.lines).toHaveLength(22);
    const events = foldEvents(r.lines);
    expect(events.map((e) => [e.head.slice(0, EXPECTED[events.indexOf(e)]?.[0].length ?? 0), classify(e)?.class ?? null])).toEqual(EXPECTED);
    const qwt = events.find((e) => e.head.includes('query_wait_timeout'))!;
    expect(qwt.messages).toEqual(['server closed the connection unexpectedly']);
    expect(qwt.lineCount).toBe(2);
  });

  test('the JSON lines are read on their message and error, and shown as level, message and error', async () => {
    const events = foldEvents((await read('13-logs-pool-exhaustion-other-stacks.txt')).lines);
    const pino = parseStructured(events[7]!.head)!;
    expect(pino).toMatchObject({
      level: 'error',
      message: 'Error in tracker filter.',
      error: { type: 'SequelizeConnectionAcquireTimeoutError', message: 'Operation timeout' },
    });
    expect(pino.error!.frames).toEqual(['at pool.acquire.catch.error (/app/node_modules/sequelize/lib/dialects/abstract/connection-manager.js:282:52)']);
    const structlog = parseStructured(events[14]!.head)!;
    expect(structlog).toMatchObject({
      format: 'structlog',
      level: 'error',
      message: 'Internal Server Error: /-/health/ready/',
      error: { type: 'OperationalError', message: 'query_wait_timeout' },
    });
  });
});
