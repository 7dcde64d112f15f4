/**
 * The leak warning a Java service's HikariCP writes, as Spring Boot's console pattern lays it out
 * (`yyyy-MM-dd HH:mm:ss.SSS LEVEL pid --- [thread] logger : message`, then the exception on the
 * lines after a blank one; see test/fixtures/field/12-*): the demo backend writes it for the
 * connections its leak scenario never returns, so the receiver's logs enricher can name the code
 * that took them. Wording: brettwooldridge/HikariCP ProxyLeakTask.run(); the exception is the one
 * ProxyLeakTask creates when the connection is borrowed ("Apparent connection leak detected").
 */

/** Where the leak scenario takes its connections: demo/backend/scenarios.ts, the `db.checkout` of `leak()` (a test keeps this line true). */
export const LEAK_CHECKOUT_FRAME = { class: 'demo.backend.ScenarioController', method: 'leak', file: 'scenarios.ts', line: 172 } as const;

export interface LeakWarningInput {
  /** When the warning is written. */
  at: Date;
  /** The process id Spring Boot prints after the level. */
  pid: number;
  /** The pool's name for the connection: PgConnection@<hex>. */
  connection: string;
  /** The thread that borrowed it. */
  thread: string;
}

/** The warning and its stack trace, newline-terminated. Times are UTC without a zone, as Spring Boot writes them in a UTC container. */
export function hikariLeakWarning(w: LeakWarningInput): string {
  const ts = w.at.toISOString().replace('T', ' ').replace('Z', '');
  const f = LEAK_CHECKOUT_FRAME;
  return [
    `${ts}  WARN ${w.pid} --- [l-1 housekeeper] com.zaxxer.hikari.pool.ProxyLeakTask     : Connection leak detection triggered for ${w.connection} on thread ${w.thread}, stack trace follows`,
    '',
    'java.lang.Exception: Apparent connection leak detected',
    '\tat com.zaxxer.hikari.HikariDataSource.getConnection(HikariDataSource.java:128) ~[HikariCP-4.0.3.jar!/:na]',
    `\tat ${f.class}.${f.method}(${f.file}:${f.line}) ~[demo-backend]`,
    '\tat java.base/java.lang.Thread.run(Thread.java:833) ~[na:na]',
    '',
    '',
  ].join('\n');
}
