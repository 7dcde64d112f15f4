import { classifyText } from '../../../src/enrichers/logs/classify';
import { eventText, foldEvents } from '../../../src/enrichers/logs/events';
import { applicationFrame, formatLocation, parseFrame } from '../../../src/enrichers/logs/frames';
import { leakWarning } from '../../../src/enrichers/logs/leaks';
import { parseStructured, structuredText } from '../../../src/enrichers/logs/structured';

const lines = (...texts: string[]) => texts.map((text) => ({ time: null, text }));

describe('frames', () => {
  test('each syntax reads into class, method, file and line', () => {
    expect(parseFrame('at java.base/java.lang.Thread.run(Thread.java:833) ~[na:na]')).toMatchObject({
      language: 'java',
      class: 'java.lang.Thread',
      method: 'run',
      file: 'Thread.java',
      line: 833,
    });
    expect(parseFrame('at com.example.Foo$Bar.lambda$run$0(Foo.kt:12)')).toMatchObject({
      class: 'com.example.Foo$Bar',
      method: 'lambda$run$0',
      file: 'Foo.kt',
      line: 12,
    });
    expect(parseFrame('at jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(Native Method)')).toMatchObject({ file: null, line: null });
    expect(parseFrame('at pool.acquire.catch.error (/app/node_modules/sequelize/lib/dialects/abstract/connection-manager.js:282:52)')).toMatchObject({
      language: 'node',
      method: 'pool.acquire.catch.error',
      file: '/app/node_modules/sequelize/lib/dialects/abstract/connection-manager.js',
      line: 282,
    });
    expect(parseFrame('at /app/src/orders.js:12:20')).toMatchObject({ language: 'node', method: null, file: '/app/src/orders.js', line: 12 });
    expect(parseFrame('File "/app/orders/export.py", line 88, in stream_orders')).toMatchObject({
      language: 'python',
      method: 'stream_orders',
      file: '/app/orders/export.py',
      line: 88,
    });
    expect(parseFrame('INFO hello')).toBeNull();
  });

  test('the application frame is the innermost one outside runtime, pool, driver and framework', () => {
    expect(
      formatLocation(
        applicationFrame([
          'at com.zaxxer.hikari.HikariDataSource.getConnection(HikariDataSource.java:128)',
          'at org.springframework.jdbc.core.JdbcTemplate.execute(JdbcTemplate.java:646)',
          'at com.example.Svc$$SpringCGLIB$$0.run(<generated>)',
          'at com.example.Svc.run(Svc.java:9)',
        ])!,
      ),
    ).toBe('com.example.Svc.run (Svc.java:9)');
    expect(
      formatLocation(
        applicationFrame([
          'at Pool.connect (/app/node_modules/pg-pool/index.js:45:11)',
          'at node:internal/process/task_queues:95:5',
          'at listOrders (/app/src/orders.js:12:20)',
        ])!,
      ),
    ).toBe('listOrders (/app/src/orders.js:12)');
    // Python tracebacks list the innermost frame last
    expect(
      formatLocation(
        applicationFrame([
          'File "/app/api.py", line 3, in handler',
          'File "/app/orders.py", line 88, in export',
          'File "/usr/lib/python3.12/site-packages/sqlalchemy/engine/base.py", line 1, in connect',
        ])!,
      ),
    ).toBe('export (/app/orders.py:88)');
    expect(
      formatLocation(
        applicationFrame([
          'main.(*Store).Orders(0x0)',
          '/app/store.go:42 +0x1b',
          'net/http.HandlerFunc.ServeHTTP(0x1)',
          '/usr/local/go/src/net/http/server.go:2136 +0x29',
        ])!,
      ),
    ).toBe('main.(*Store).Orders (/app/store.go:42)');
    expect(applicationFrame(['at java.lang.Thread.run(Thread.java:833)'])).toBeNull();
  });
});

describe('leak warnings name the code that took the connection', () => {
  test('HikariCP: the first application frame of the borrow stack, the thread and the connection', () => {
    const [e] = foldEvents(
      lines(
        'WARN 1 --- [l-1 housekeeper] com.zaxxer.hikari.pool.ProxyLeakTask     : Connection leak detection triggered for org.postgresql.jdbc.PgConnection@1b2c3d4e on thread http-nio-8080-exec-7, stack trace follows',
        '',
        'java.lang.Exception: Apparent connection leak detected',
        '\tat com.zaxxer.hikari.HikariDataSource.getConnection(HikariDataSource.java:128) ~[HikariCP-4.0.3.jar!/:na]',
        '\tat org.springframework.jdbc.datasource.DataSourceUtils.fetchConnection(DataSourceUtils.java:159) ~[spring-jdbc-5.3.27.jar!/:5.3.27]',
        '\tat com.example.shop.export.OrderExportService.streamOrders(OrderExportService.java:88) ~[classes!/:0.0.1]',
      ),
    );
    const leak = leakWarning(e!, classifyText(eventText(e!)))!;
    expect(leak).toMatchObject({
      signature: 'hikaricp-leak',
      library: 'HikariCP',
      thread: 'http-nio-8080-exec-7',
      connection: 'org.postgresql.jdbc.PgConnection@1b2c3d4e',
      noLocation: null,
    });
    expect(leak.location).toMatchObject({
      class: 'com.example.shop.export.OrderExportService',
      method: 'streamOrders',
      file: 'OrderExportService.java',
      line: 88,
    });
  });

  test('HikariCP before 2.7.2 names no thread; logback JSON carries the stack in its throwable', () => {
    const [old] = foldEvents(
      lines(
        'Connection leak detection triggered for conn10: url=jdbc:h2:mem: user=SA, stack trace follows',
        'java.lang.Exception: Apparent connection leak detected',
        '\tat app.Repo.find(Repo.java:7)',
      ),
    );
    expect(leakWarning(old!, classifyText(eventText(old!)))).toMatchObject({
      thread: null,
      connection: 'conn10: url=jdbc:h2:mem: user=SA',
      location: { class: 'app.Repo', line: 7 },
    });
    const json =
      '{"sequenceNumber":1,"level":"WARN","loggerName":"com.zaxxer.hikari.pool.ProxyLeakTask","threadName":"h","message":"Connection leak detection triggered for {} on thread {}, stack trace follows","arguments":["c@1","exec-1"],"throwable":{"className":"java.lang.Exception","message":"Apparent connection leak detected","stepArray":[{"className":"com.example.Dao","methodName":"load","fileName":"Dao.java","lineNumber":31}]}}';
    const [e] = foldEvents(lines(json));
    const s = parseStructured(json);
    expect(leakWarning(e!, classifyText(structuredText(s!)), s)).toMatchObject({
      thread: 'exec-1',
      location: { class: 'com.example.Dao', method: 'load', line: 31 },
    });
  });

  test("Tomcat's and DBCP2's abandoned-connection traces", () => {
    const [tomcat] = foldEvents(
      lines(
        'WARNING [pool-cleaner] org.apache.tomcat.jdbc.pool.ConnectionPool.abandon Connection has been abandoned PooledConnection[org.postgresql.jdbc.PgConnection@5b0d]:java.lang.Exception',
        '\tat org.apache.tomcat.jdbc.pool.ConnectionPool.getThreadDump(ConnectionPool.java:1102)',
        '\tat org.apache.tomcat.jdbc.pool.DataSourceProxy.getConnection(DataSourceProxy.java:132)',
        '\tat com.acme.billing.InvoiceJob.run(InvoiceJob.java:54)',
      ),
    );
    expect(leakWarning(tomcat!, classifyText(eventText(tomcat!)))!.location).toMatchObject({ class: 'com.acme.billing.InvoiceJob', line: 54 });
    const [dbcp] = foldEvents(
      lines(
        'Pooled object created 2024-05-14 11:12:02 +0200 by the following code has not been returned to the pool:',
        'org.apache.commons.pool2.impl.ThrowableCallStack$Snapshot',
        '\tat org.apache.commons.pool2.impl.GenericObjectPool.borrowObject(GenericObjectPool.java:250)',
        '\tat com.acme.Report.build(Report.java:19)',
      ),
    );
    expect(leakWarning(dbcp!, classifyText(eventText(dbcp!)))!.location).toMatchObject({ class: 'com.acme.Report', method: 'build', line: 19 });
  });

  test('SQLAlchemy names no location, and says why', () => {
    const [e] = foldEvents(
      lines(
        'ERROR:sqlalchemy.pool.impl.QueuePool:The garbage collector is trying to clean up non-checked-in connection <connection object at 0x7f>, which will be terminated.',
      ),
    );
    expect(leakWarning(e!, classifyText(eventText(e!)))).toMatchObject({ location: null, noLocation: expect.stringContaining('garbage collector') });
  });

  test('a stack of framework frames only gives no location, with the count', () => {
    const [e] = foldEvents(
      lines(
        'Connection leak detection triggered for c on thread t, stack trace follows',
        'java.lang.Exception: Apparent connection leak detected',
        '\tat org.springframework.X.y(X.java:1)',
      ),
    );
    expect(leakWarning(e!, classifyText(eventText(e!)))).toMatchObject({ location: null, noLocation: expect.stringContaining('1 frames') });
  });

  test('other classes are not leak warnings', () => {
    const [e] = foldEvents(lines('HikariPool-1 - Connection is not available, request timed out after 30000ms.'));
    expect(leakWarning(e!, classifyText(eventText(e!)))).toBeNull();
  });
});
