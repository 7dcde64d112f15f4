import { EventFolder, eventText, foldEvents, FOLD_MAX_GAP_MS, MAX_EVENT_FRAMES, type LogEvent } from '../../../src/enrichers/logs/events';
import type { LogLine } from '../../../src/sources/logs';

/** Lines without times (a file's continuation lines have none). */
const lines = (...texts: string[]): LogLine[] => texts.map((text) => ({ time: null, text }));
/** Lines all stamped `at` (Docker, Loki and Kubernetes stamp every line). */
const stamped = (at: string, ...texts: string[]): LogLine[] => texts.map((text) => ({ time: at, text }));
const heads = (events: LogEvent[]) => events.map((e) => e.head);

describe('Java and Kotlin', () => {
  test('a logback error with its stack trace, causes and elided frames is one event', () => {
    const ev = foldEvents(
      lines(
        'ERROR 1 --- [exec-3] o.a.c.c.C.[.[.[/].[dispatcherServlet] : Servlet.service() threw exception with root cause',
        '',
        'org.springframework.dao.DataAccessResourceFailureException: Unable to acquire JDBC Connection',
        '\tat org.springframework.orm.jpa.vendor.HibernateJpaDialect.convertHibernateAccessException(HibernateJpaDialect.java:275)',
        '\tat com.example.shop.cart.CartService.addItem(CartService.java:57)',
        'Caused by: java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.',
        '\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)',
        '\t... 42 common frames omitted',
        '\tSuppressed: java.lang.IllegalStateException: second',
        '\t\tat com.example.Foo.bar(Foo.kt:12)',
        '\t\t... 3 more',
        'INFO 1 --- [main] c.e.App : next record',
      ),
    );
    expect(heads(ev)).toEqual([
      'ERROR 1 --- [exec-3] o.a.c.c.C.[.[.[/].[dispatcherServlet] : Servlet.service() threw exception with root cause',
      'INFO 1 --- [main] c.e.App : next record',
    ]);
    const [e] = ev;
    expect(e!.kind).toBe('java');
    expect(e!.messages).toEqual([
      'org.springframework.dao.DataAccessResourceFailureException: Unable to acquire JDBC Connection',
      'Caused by: java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.',
      'Suppressed: java.lang.IllegalStateException: second',
    ]);
    expect(e!.frames).toHaveLength(4);
    expect(e!.frames[1]).toBe('at com.example.shop.cart.CartService.addItem(CartService.java:57)');
    expect(e!.lineCount).toBe(11);
    expect(eventText(e!)).not.toContain('at com.zaxxer');
  });

  test('a throwable printed on its own starts its own event; one without frames is an ordinary line', () => {
    const ev = foldEvents(
      lines('INFO started', 'java.lang.IllegalStateException: boom', '\tat com.example.A.b(A.java:1)', 'com.example.Settings: loaded', 'INFO next'),
    );
    // With no times, a throwable's first line joins the line before it (that is how loggers print them) ...
    expect(heads(ev)).toEqual(['INFO started', 'com.example.Settings: loaded', 'INFO next']);
    expect(ev[0]!.messages).toEqual(['java.lang.IllegalStateException: boom']);
    // ... but not when it was written long after that line.
    const later = foldEvents([
      { time: '2026-01-01T00:00:00.000Z', text: 'INFO started' },
      { time: '2026-01-01T00:00:05.000Z', text: 'java.lang.IllegalStateException: boom' },
      { time: '2026-01-01T00:00:05.000Z', text: '\tat com.example.A.b(A.java:1)' },
    ]);
    expect(heads(later)).toEqual(['INFO started', 'java.lang.IllegalStateException: boom']);
    expect(later[1]!.frames).toEqual(['at com.example.A.b(A.java:1)']);
  });

  test(`the gap is FOLD_MAX_GAP_MS (${FOLD_MAX_GAP_MS} ms), inclusive`, () => {
    const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
    const fold = (gap: number) =>
      foldEvents([
        { time: at(0), text: 'ERROR failed' },
        { time: at(gap), text: 'java.lang.RuntimeException: x' },
        { time: at(gap), text: '\tat a.B.c(B.java:1)' },
      ]).length;
    expect(fold(FOLD_MAX_GAP_MS)).toBe(1);
    expect(fold(FOLD_MAX_GAP_MS + 1)).toBe(2);
  });

  test('frames past MAX_EVENT_FRAMES are counted, not kept', () => {
    const many = Array.from({ length: MAX_EVENT_FRAMES + 25 }, (_, i) => `\tat a.B.m${i}(B.java:${i})`);
    const [e] = foldEvents(lines('ERROR deep', 'java.lang.StackOverflowError', ...many));
    expect(e!.frames).toHaveLength(MAX_EVENT_FRAMES);
    expect(e!.dropped).toBe(25);
    expect(e!.lineCount).toBe(MAX_EVENT_FRAMES + 27);
  });
});

describe('Python', () => {
  test('logger.exception with a chained traceback is one event; its exception lines are its messages', () => {
    const ev = foldEvents(
      stamped(
        '2026-01-01T00:00:00.000Z',
        'ERROR:app.orders:export failed',
        'Traceback (most recent call last):',
        '  File "/usr/lib/python3.12/site-packages/sqlalchemy/pool/impl.py", line 169, in _do_get',
        '    raise exc.TimeoutError(',
        'queue.Empty',
        '',
        'During handling of the above exception, another exception occurred:',
        '',
        'Traceback (most recent call last):',
        '  File "/app/orders/export.py", line 88, in stream_orders',
        '    with engine.connect() as conn:',
        '         ^^^^^^^^^^^^^^^^',
        'sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00',
        'INFO:app:next',
      ),
    );
    expect(heads(ev)).toEqual(['ERROR:app.orders:export failed', 'INFO:app:next']);
    expect(ev[0]!.kind).toBe('python');
    expect(ev[0]!.messages).toEqual([
      'queue.Empty',
      'sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00',
    ]);
    expect(ev[0]!.frames).toEqual([
      'File "/usr/lib/python3.12/site-packages/sqlalchemy/pool/impl.py", line 169, in _do_get',
      'File "/app/orders/export.py", line 88, in stream_orders',
    ]);
  });

  test("an uncaught traceback on stderr is its own event; libpq's appended message and detail join it", () => {
    const ev = foldEvents(
      lines(
        'Traceback (most recent call last):',
        '  File "/app/worker.py", line 12, in <module>',
        '    cur.execute("select 1")',
        'psycopg2.OperationalError: query_wait_timeout',
        'server closed the connection unexpectedly',
        '\tThis probably means the server terminated abnormally',
        '\tbefore or while processing the request.',
      ),
    );
    expect(ev).toHaveLength(1);
    expect(ev[0]!.messages).toEqual([
      'psycopg2.OperationalError: query_wait_timeout',
      'server closed the connection unexpectedly',
      'This probably means the server terminated abnormally',
      'before or while processing the request.',
    ]);
  });
});

describe('Go', () => {
  test('a panic with its goroutines is one event', () => {
    const ev = foldEvents(
      lines(
        'panic: runtime error: invalid memory address or nil pointer dereference',
        '[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a1c2b]',
        '',
        'goroutine 37 [running]:',
        'main.(*Store).Orders(0x0, {0x7f3c, 0xc0000a2000})',
        '\t/app/store.go:42 +0x1b',
        'net/http.HandlerFunc.ServeHTTP(0xc000112000?, {0x7f3c?, 0xc00014c000?}, 0x0?)',
        '\t/usr/local/go/src/net/http/server.go:2136 +0x29',
        'created by net/http.(*Server).Serve in goroutine 1',
        '\t/usr/local/go/src/net/http/server.go:3285 +0x4b4',
        'exit status 2',
        '2026/01/01 00:00:01 restarted',
      ),
    );
    expect(heads(ev)).toEqual(['panic: runtime error: invalid memory address or nil pointer dereference', '2026/01/01 00:00:01 restarted']);
    expect(ev[0]!.kind).toBe('go');
    expect(ev[0]!.frames.slice(0, 3)).toEqual([
      '[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a1c2b]',
      'main.(*Store).Orders(0x0, {0x7f3c, 0xc0000a2000})',
      '/app/store.go:42 +0x1b',
    ]);
  });
});

describe('Node.js', () => {
  test('an error with its stack and the properties util.inspect prints is one event', () => {
    const ev = foldEvents(
      lines(
        'Error: connect ECONNREFUSED 127.0.0.1:5432',
        '    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16) {',
        '  errno: -111,',
        "  code: 'ECONNREFUSED',",
        "  syscall: 'connect',",
        '  port: 5432',
        '}',
        'listening on :3000',
      ),
    );
    expect(heads(ev)).toEqual(['Error: connect ECONNREFUSED 127.0.0.1:5432', 'listening on :3000']);
    expect(ev[0]!.kind).toBe('node');
    expect(ev[0]!.messages).toContain("code: 'ECONNREFUSED',");
  });
});

describe('what does not continue an event', () => {
  test('indented lines that start a record (Spring Boot pads the level) are records', () => {
    const ev = foldEvents(lines(' INFO 1 --- [main] first', ' WARN 1 --- [main] second', '  2026-01-01 00:00:00 third'));
    expect(ev).toHaveLength(3);
  });

  test("libpq's message joins only an error written just before it", () => {
    const ev = foldEvents([
      { time: '2026-01-01T00:00:00.000Z', text: 'INFO request served' },
      { time: '2026-01-01T00:00:00.001Z', text: 'server closed the connection unexpectedly' },
      { time: '2026-01-01T00:00:00.002Z', text: 'DatabaseError: (psycopg2.DatabaseError) query_wait_timeout' },
      { time: '2026-01-01T00:00:03.000Z', text: 'server closed the connection unexpectedly' },
    ]);
    expect(heads(ev)).toEqual([
      'INFO request served',
      'server closed the connection unexpectedly',
      'DatabaseError: (psycopg2.DatabaseError) query_wait_timeout',
      'server closed the connection unexpectedly',
    ]);
  });

  test('JSON lines are records', () => {
    expect(foldEvents(lines('{"msg":"a"}', '{"msg":"b"}'))).toHaveLength(2);
  });
});

describe('as the runtimes print them (captured from JDK 17, CPython 3.11 and Node 24 on this machine)', () => {
  test('JDK printStackTrace: Suppressed and Caused by with elided frames', () => {
    const ev = foldEvents(
      lines(
        'ERROR 1 --- [main] T : request failed',
        'java.lang.RuntimeException: Unable to acquire JDBC Connection',
        '\tat T.mid(T.java:3)',
        '\tat T.main(T.java:4)',
        '\tat java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(Native Method)',
        '\tat jdk.compiler/com.sun.tools.javac.launcher.Main.main(Main.java:132)',
        '\tSuppressed: java.lang.IllegalStateException: second',
        '\t\t... 9 more',
        'Caused by: java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.',
        '\tat T.inner(T.java:2)',
        '\t... 9 more',
        ' INFO 1 --- [main] T : next',
      ),
    );
    expect(ev).toHaveLength(2);
    expect(ev[0]!.messages).toEqual([
      'java.lang.RuntimeException: Unable to acquire JDBC Connection',
      'Suppressed: java.lang.IllegalStateException: second',
      'Caused by: java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.',
    ]);
    expect(ev[0]!.frames).toHaveLength(5);
  });

  test('CPython exception groups', () => {
    const ev = foldEvents(
      lines(
        'ERROR:app:batch failed',
        '  + Exception Group Traceback (most recent call last):',
        '  |   File "<string>", line 5, in <module>',
        '  | ExceptionGroup: two failed (2 sub-exceptions)',
        '  +-+---------------- 1 ----------------',
        '    | TimeoutError: QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00',
        '    +---------------- 2 ----------------',
        '    | ConnectionError: server closed the connection unexpectedly',
        '    +------------------------------------',
        'WARNING:app:next',
      ),
    );
    expect(heads(ev)).toEqual(['ERROR:app:batch failed', 'WARNING:app:next']);
    expect(eventText(ev[0]!)).toContain('TimeoutError: QueuePool limit of size 5');
  });

  test("Node's console.error of an error with a cause", () => {
    const ev = foldEvents(
      lines(
        'Error: timeout exceeded when trying to connect',
        '    at [eval]:2:11',
        '    at runScriptInThisContext (node:internal/vm:219:10)',
        '    ... 5 lines matching cause stack trace ...',
        '    at node:internal/main/eval_string:71:3 {',
        '  [cause]: Error: connect ECONNREFUSED 127.0.0.1:5432',
        '      at [eval]:2:87',
        '      at node:internal/main/eval_string:71:3 {',
        "    code: 'ECONNREFUSED'",
        '  }',
        '}',
        'next',
      ),
    );
    expect(heads(ev)).toEqual(['Error: timeout exceeded when trying to connect', 'next']);
    expect(ev[0]!.messages).toEqual(['[cause]: Error: connect ECONNREFUSED 127.0.0.1:5432', "code: 'ECONNREFUSED'"]);
    expect(ev[0]!.frames).toHaveLength(5);
    expect(ev[0]!.kind).toBe('node');
  });
});

describe('sources.logs[].multiline.start', () => {
  test('a matching line starts an event, every other line continues it; the line as written is matched', () => {
    const ev = foldEvents(
      [
        { time: '2026-01-01T00:00:00.000Z', text: 'begin batch', raw: '2026-01-01 00:00:00 begin batch' },
        { time: null, text: 'row 1 failed: sorry, too many clients already' },
        { time: null, text: '{"not":"a record here"}' },
        { time: '2026-01-01T00:00:01.000Z', text: 'next', raw: '2026-01-01 00:00:01 next' },
      ],
      { start: /^\d{4}-\d\d-\d\d / },
    );
    expect(heads(ev)).toEqual(['begin batch', 'next']);
    expect(ev[0]!.kind).toBe('multiline');
    expect(eventText(ev[0]!)).toContain('too many clients');
  });
});

test('a million lines fold in one pass, holding one event at a time', () => {
  let events = 0;
  let lineCount = 0;
  const folder = new EventFolder({}, (e) => {
    events++;
    lineCount += e.lineCount;
  });
  const trace = ['ERROR failed', 'java.lang.RuntimeException: x', '\tat a.B.c(B.java:1)', '\tat a.B.d(B.java:2)'];
  for (let i = 0; i < 1_000_000; i++) folder.push({ time: null, text: i % 10 < 4 ? trace[i % 10]! : `INFO line ${i}` });
  folder.end();
  expect(lineCount).toBe(1_000_000);
  // per 10 lines: one 4-line error event and 6 single lines
  expect(events).toBe(700_000);
});
