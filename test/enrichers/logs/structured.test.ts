import { classifyText } from '../../../src/enrichers/logs/classify';
import { parseStructured, structuredDisplay, structuredText } from '../../../src/enrichers/logs/structured';

/**
 * JSON lines of each library, shaped as the library writes them (field names checked at their
 * source, see src/enrichers/logs/structured.ts), read on their message and error fields only.
 */

const j = (o: unknown) => JSON.stringify(o);

describe('formats', () => {
  test('pino: msg, numeric level, err {type, message, stack}', () => {
    const s = parseStructured(
      j({
        level: 50,
        time: 1741082583808,
        pid: 1,
        hostname: 'api-7',
        msg: 'query failed',
        err: {
          type: 'Error',
          message: 'timeout exceeded when trying to connect',
          stack: 'Error: timeout exceeded when trying to connect\n    at /app/node_modules/pg-pool/index.js:45:11\n    at /app/src/orders.js:12:20',
        },
      }),
    )!;
    expect(s.format).toBe('pino');
    expect(s.level).toBe('error');
    expect(s.message).toBe('query failed');
    expect(s.error).toEqual({
      type: 'Error',
      message: 'timeout exceeded when trying to connect',
      causes: [],
      frames: ['at /app/node_modules/pg-pool/index.js:45:11', 'at /app/src/orders.js:12:20'],
    });
    expect(structuredDisplay(s)).toBe('ERROR query failed — Error: timeout exceeded when trying to connect');
    expect(classifyText(structuredText(s))!.class).toBe('pool_timeout');
  });

  test('bunyan: v, msg, err {name, message, stack}', () => {
    const s = parseStructured(
      j({
        name: 'api',
        hostname: 'h',
        pid: 1,
        level: 50,
        err: {
          message: 'Connection terminated unexpectedly',
          name: 'Error',
          stack: 'Error: Connection terminated unexpectedly\n    at Connection.<anonymous> (/app/node_modules/pg/lib/client.js:132:73)',
        },
        msg: 'db error',
        time: '2026-01-01T00:00:00.000Z',
        v: 0,
      }),
    )!;
    expect(s.format).toBe('bunyan');
    expect(s.error!.type).toBe('Error');
    expect(classifyText(structuredText(s))!.class).toBe('connection_lost');
  });

  test('logback JsonEncoder: the message pattern with its arguments, the throwable with its frames and cause', () => {
    const s = parseStructured(
      j({
        sequenceNumber: 7,
        timestamp: 1715677923512,
        nanoseconds: 512000000,
        level: 'WARN',
        threadName: 'HikariPool-1 housekeeper',
        loggerName: 'com.zaxxer.hikari.pool.ProxyLeakTask',
        context: { name: 'default' },
        mdc: {},
        message: 'Connection leak detection triggered for {} on thread {}, stack trace follows',
        arguments: ['org.postgresql.jdbc.PgConnection@1b2c3d4e', 'http-nio-8080-exec-7'],
        throwable: {
          className: 'java.lang.Exception',
          message: 'Apparent connection leak detected',
          stepArray: [
            { className: 'com.zaxxer.hikari.HikariDataSource', methodName: 'getConnection', fileName: 'HikariDataSource.java', lineNumber: 128 },
            { className: 'com.example.shop.export.OrderExportService', methodName: 'streamOrders', fileName: 'OrderExportService.java', lineNumber: 88 },
          ],
        },
      }),
    )!;
    expect(s.format).toBe('logback');
    expect(s.level).toBe('warn');
    expect(s.message).toBe(
      'Connection leak detection triggered for org.postgresql.jdbc.PgConnection@1b2c3d4e on thread http-nio-8080-exec-7, stack trace follows',
    );
    expect(s.error!.frames[1]).toBe('at com.example.shop.export.OrderExportService.streamOrders(OrderExportService.java:88)');
    expect(classifyText(structuredText(s))!.class).toBe('leak_warning');
  });

  test('logstash-logback-encoder: message, level, stack_trace text', () => {
    const s = parseStructured(
      j({
        '@timestamp': '2024-05-14T11:12:33.918+02:00',
        '@version': '1',
        message: 'HikariPool-1 - Connection is not available, request timed out after 30000ms.',
        logger_name: 'o.h.engine.jdbc.spi.SqlExceptionHelper',
        thread_name: 'http-nio-8080-exec-3',
        level: 'ERROR',
        level_value: 40000,
        stack_trace:
          'java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.\n\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)\nCaused by: org.postgresql.util.PSQLException: FATAL: sorry, too many clients already\n\tat org.postgresql.Driver.connect(Driver.java:1)\n',
      }),
    )!;
    expect(s.format).toBe('logstash');
    expect(s.error!.type).toBe('java.sql.SQLTransientConnectionException');
    expect(s.error!.causes).toEqual(['Caused by: org.postgresql.util.PSQLException: FATAL: sorry, too many clients already']);
    expect(s.error!.frames).toHaveLength(2);
    // the cause named in the trace decides: the server's limit
    expect(classifyText(structuredText(s))!.class).toBe('too_many_clients');
  });

  test('ECS: log.level as a dotted key, error.* dotted or nested', () => {
    const dotted = parseStructured(
      j({
        '@timestamp': '2026-01-01T00:00:00.000Z',
        'log.level': 'error',
        message: 'request failed',
        'ecs.version': '1.2.0',
        'error.type': 'org.postgresql.util.PSQLException',
        'error.message': 'FATAL: remaining connection slots are reserved for non-replication superuser connections',
      }),
    )!;
    expect(dotted.format).toBe('ecs');
    expect(dotted.level).toBe('error');
    expect(classifyText(structuredText(dotted))!.class).toBe('too_many_clients');
    const nested = parseStructured(
      j({
        '@timestamp': '2026-01-01T00:00:00.000Z',
        'log.level': 'ERROR',
        message: 'x',
        ecs: { version: '8.11.0' },
        error: {
          type: 'Npgsql.NpgsqlException',
          message:
            "The connection pool has been exhausted, either raise 'Max Pool Size' (currently 100) or 'Timeout' (currently 15 seconds) in your connection string.",
          stack_trace: 'Npgsql.NpgsqlException (0x80004005): The connection pool has been exhausted\n   at Npgsql.PoolingDataSource.Get()',
        },
      }),
    )!;
    expect(nested.error!.type).toBe('Npgsql.NpgsqlException');
    expect(classifyText(structuredText(nested))!.class).toBe('pool_timeout');
  });

  test('zap: ts, msg, error string, errorVerbose', () => {
    const s = parseStructured(
      j({
        level: 'error',
        ts: 1741082587.02,
        caller: 'store/orders.go:42',
        msg: 'list orders',
        error: 'failed to acquire connection: context deadline exceeded',
        stacktrace: 'main.main\n\t/app/main.go:20',
      }),
    )!;
    expect(s.format).toBe('zap');
    expect(s.error!.message).toBe('failed to acquire connection: context deadline exceeded');
    expect(classifyText(structuredText(s))!.class).toBe('pool_timeout');
  });

  test('structlog: event, exception as dict_tracebacks or text', () => {
    const dict = parseStructured(
      '{"event":"Internal Server Error: /-/health/ready/","exception":[{"exc_type":"OperationalError","exc_value":"query_wait_timeout","syntax_error":null,"is_cause":false,"frames":[{"filename":"/app/health.py","lineno":9,"name":"ready"}]}],"level":"error"}',
    )!;
    expect(dict.format).toBe('structlog');
    expect(dict.error).toEqual({ type: 'OperationalError', message: 'query_wait_timeout', causes: [], frames: ['File "/app/health.py", line 9, in ready'] });
    expect(classifyText(structuredText(dict))!.class).toBe('pooler_limit');
    const text = parseStructured(
      j({
        event: 'export failed',
        level: 'error',
        exception:
          'Traceback (most recent call last):\n  File "/app/export.py", line 88, in run\n    conn = engine.connect()\nsqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00',
      }),
    )!;
    expect(text.error!.type).toBe('sqlalchemy.exc.TimeoutError');
    expect(text.error!.frames).toEqual(['File "/app/export.py", line 88, in run']);
  });

  test('logrus and slog: msg, level, error', () => {
    const s = parseStructured(j({ time: '2026-01-01T00:00:00Z', level: 'ERROR', msg: 'query', error: 'driver: bad connection' }))!;
    expect(s.format).toBe('json');
    expect(classifyText(structuredText(s))!.class).toBe('connection_lost');
  });
});

describe('matched on message and error, never on keys or other fields', () => {
  test("the demo's startup line: a key named `database` is not a database error", () => {
    const s = parseStructured(
      j({ level: 30, time: 1764226320000, pid: 4242, hostname: 'demo', database: 'postgres://app@127.0.0.1:5432/app', msg: 'starting' }),
    )!;
    expect(structuredText(s)).toBe('starting');
    expect(/connection|pool|database/i.test(structuredText(s))).toBe(false);
    expect(structuredDisplay(s)).toBe('INFO starting');
  });

  test('an unrelated field that happens to hold a signature wording is ignored', () => {
    const s = parseStructured(j({ level: 30, msg: 'config loaded', note: 'sorry, too many clients already' }))!;
    expect(classifyText(structuredText(s))).toBeNull();
  });
});

describe('bad input', () => {
  test('a JSON line cut at the source cap is read from its string values', () => {
    const cut = `${j({ level: 50, msg: 'pool exhausted', err: { message: 'ResourceRequest timed out', stack: 'x'.repeat(100) } }).slice(0, 90)}…`;
    const s = parseStructured(cut)!;
    expect(s.truncated).toBe(true);
    expect(s.message).toBe('pool exhausted');
    expect(s.level).toBe('error');
    expect(classifyText(structuredText(s))!.class).toBe('pool_timeout');
  });

  test('plain text, arrays, numbers and garbage are not structured lines', () => {
    for (const t of ['INFO hello', '[1,2]', '42', '{', '{}x', '\u0000\u0001{"a"']) expect(parseStructured(t)?.message ?? null).toBeNull();
    expect(parseStructured('INFO hello')).toBeNull();
  });

  test('deep or odd values do not throw', () => {
    let deep: Record<string, unknown> = { message: 'leaf' };
    for (let i = 0; i < 200; i++) deep = { cause: deep, className: `C${i}` };
    expect(() => parseStructured(j({ level: 'error', message: 'm', throwable: deep, sequenceNumber: 1 }))).not.toThrow();
    expect(parseStructured(j({ level: { nested: 1 }, msg: 5, err: [1, 2] }))!.message).toBeNull();
  });
});
