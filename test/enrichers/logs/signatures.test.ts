import { classifyText, compileSignatures, EVENT_CLASSES } from '../../../src/enrichers/logs/classify';
import { SIGNAL_PATTERN } from '../../../src/enrichers/logs/enricher';
import { SIGNATURES } from '../../../src/enrichers/logs/signatures';

/**
 * The signature table, line by line: each row with the wording its library writes (filled in as
 * the library fills it in), and lines that must not match. Field file 13 has its own test
 * (field-files.test.ts).
 */

const EXAMPLES: Array<[string, string, string]> = [
  // [line, class, signature id]
  [
    'WARN 1 --- [l-1 housekeeper] com.zaxxer.hikari.pool.ProxyLeakTask : Connection leak detection triggered for org.postgresql.jdbc.PgConnection@1b2c3d4e on thread http-nio-8080-exec-7, stack trace follows',
    'leak_warning',
    'hikaricp-leak',
  ],
  ['Connection leak detection triggered for conn10: url=jdbc:h2:mem: user=SA, stack trace follows', 'leak_warning', 'hikaricp-leak'],
  [
    'WARNING: Connection has been abandoned PooledConnection[org.postgresql.jdbc.PgConnection@5b0d2a4c]:java.lang.Exception',
    'leak_warning',
    'tomcat-jdbc-abandoned',
  ],
  ['Pooled object created 2024-05-14 11:12:02 +0200 by the following code has not been returned to the pool:', 'leak_warning', 'dbcp2-abandoned'],
  [
    'ERROR | sqlalchemy.pool.impl.QueuePool | The garbage collector is trying to clean up non-checked-in connection <connection object at 0x7f>, which will be terminated.  Please ensure that SQLAlchemy pooled connections are returned to the pool explicitly',
    'leak_warning',
    'sqlalchemy-gc-connection',
  ],
  [
    'SAWarning: The garbage collector is trying to clean up connection <AdaptedConnection <asyncpg.connection.Connection object at 0x7f>>.',
    'leak_warning',
    'sqlalchemy-gc-connection',
  ],

  ['psycopg2.OperationalError: ERROR:  no more connections allowed (max_client_conn)', 'pooler_limit', 'pgbouncer-max-client-conn'],
  ['FATAL: client connections exceeded (max_db_client_connections) (SQLSTATE 08P01)', 'pooler_limit', 'pgbouncer-client-connections-exceeded'],
  ['DatabaseError: (psycopg2.DatabaseError) query_wait_timeout', 'pooler_limit', 'pgbouncer-query-wait-timeout'],
  ['error: query_timeout', 'pooler_limit', 'pgbouncer-query-timeout'],
  [
    'FATAL: server login has been failing, cached error: password authentication failed for user "app" (server_login_retry)',
    'pooler_limit',
    'pgbouncer-server-login-retry',
  ],
  ['ERROR: server login has been failing, try again later (server_login_retry)', 'pooler_limit', 'pgbouncer-server-login-retry'],
  ['FATAL:  client_login_timeout (server down)', 'pooler_limit', 'pgbouncer-client-login-timeout'],

  ['org.postgresql.util.PSQLException: FATAL: sorry, too many clients already', 'too_many_clients', 'postgres-too-many-clients'],
  ['FATAL:  remaining connection slots are reserved for non-replication superuser connections', 'too_many_clients', 'postgres-reserved-slots-superuser'],
  ['FATAL:  remaining connection slots are reserved for roles with the SUPERUSER attribute', 'too_many_clients', 'postgres-reserved-slots-roles'],
  [
    'FATAL:  remaining connection slots are reserved for roles with privileges of the "pg_use_reserved_connections" role',
    'too_many_clients',
    'postgres-reserved-slots-roles',
  ],
  ['FATAL:  too many connections for role "app"', 'too_many_clients', 'postgres-too-many-connections-for'],
  ['FATAL:  too many connections for database "orders"', 'too_many_clients', 'postgres-too-many-connections-for'],
  ['FATAL: too many clients (SQLSTATE 53300)', 'too_many_clients', 'pgx-sqlstate-53300'],

  ['FATAL:  password authentication failed for user "app"', 'auth_failed', 'postgres-password-auth-failed'],
  ['FATAL:  no pg_hba.conf entry for host "10.0.0.7", user "app", database "app", no encryption', 'auth_failed', 'postgres-no-hba-entry'],

  ['Error: connect ECONNREFUSED 127.0.0.1:5432', 'connection_refused', 'node-econnrefused'],
  [
    'org.postgresql.util.PSQLException: Connection to db:5432 refused. Check that the hostname and port are correct and that the postmaster is accepting TCP/IP connections.',
    'connection_refused',
    'pgjdbc-connection-refused',
  ],
  ['connection to server at "db" (10.0.0.5), port 5432 failed: Connection refused', 'connection_refused', 'os-connection-refused'],
  ['FATAL:  the database system is starting up', 'connection_refused', 'postgres-not-accepting'],
  ['FATAL:  the database system is shutting down', 'connection_refused', 'postgres-not-accepting'],

  ['HikariPool-1 - Connection is not available, request timed out after 30000ms.', 'pool_timeout', 'hikaricp-timeout'],
  ['HikariPool-1 - Connection is not available, request timed out after 30004ms (total=10, active=10, idle=0, waiting=3)', 'pool_timeout', 'hikaricp-timeout'],
  [
    'sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00',
    'pool_timeout',
    'sqlalchemy-queuepool-timeout',
  ],
  ["psycopg_pool.PoolTimeout: couldn't get a connection after 30.00 sec", 'pool_timeout', 'psycopg-pool-timeout'],
  ["psycopg_pool.TooManyRequests: the pool 'pool-1' has already 5 requests waiting", 'pool_timeout', 'psycopg-pool-too-many-requests'],
  [
    'could not obtain a connection from the pool within 5.000 seconds (waited 5.001 seconds); all pooled connections were in use',
    'pool_timeout',
    'rails-connection-timeout',
  ],
  ['could not obtain a database connection within 5.000 seconds (waited 5.000 seconds)', 'pool_timeout', 'rails-connection-timeout'],
  ['ActiveRecord::ConnectionTimeoutError', 'pool_timeout', 'rails-connection-timeout-class'],
  [
    'Timed out fetching a new connection from the connection pool. More info: http://pris.ly/d/connection-pool (Current connection pool timeout: 10, connection limit: 5)',
    'pool_timeout',
    'prisma-p2024',
  ],
  [
    'Error in connector: Error creating a database connection. (Timed out fetching a connection from the pool (connection limit: 1, in use: 1, pool timeout 1))',
    'pool_timeout',
    'prisma-p2024',
  ],
  ['Error in connector: Error creating a database connection. (Operation timed out (mobc timeout))', 'pool_timeout', 'prisma-mobc-timeout'],
  ['SequelizeConnectionAcquireTimeoutError: Operation timeout', 'pool_timeout', 'sequelize-acquire-timeout'],
  [
    'KnexTimeoutError: Knex: Timeout acquiring a connection. The pool is probably full. Are you missing a .transacting(trx) call?',
    'pool_timeout',
    'knex-acquire-timeout',
  ],
  ['TimeoutError: ResourceRequest timed out', 'pool_timeout', 'generic-pool-timeout'],
  ['Error: timeout exceeded when trying to connect', 'pool_timeout', 'node-postgres-pool-timeout'],
  [
    "Npgsql.NpgsqlException (0x80004005): The connection pool has been exhausted, either raise 'Max Pool Size' (currently 100) or 'Timeout' (currently 15 seconds) in your connection string.",
    'pool_timeout',
    'npgsql-pool-exhausted',
  ],
  [
    'The connection pool has been exhausted, either raise MaxPoolSize (currently 20) or Timeout (currently 15 seconds)',
    'pool_timeout',
    'npgsql-pool-exhausted',
  ],
  ['failed to acquire connection: context deadline exceeded', 'pool_timeout', 'go-acquire-deadline'],

  ['PG::UnableToSend: server closed the connection unexpectedly', 'connection_lost', 'libpq-server-closed'],
  ['could not receive data from server: Connection reset by peer', 'connection_lost', 'libpq-could-not-receive'],
  ['psycopg2.OperationalError: SSL SYSCALL error: EOF detected', 'connection_lost', 'libpq-ssl-syscall-eof'],
  ['FATAL:  terminating connection due to administrator command', 'connection_lost', 'postgres-terminating-connection'],
  ['FATAL:  terminating connection due to idle-in-transaction timeout', 'connection_lost', 'postgres-terminating-connection'],
  ['Error: Connection terminated unexpectedly', 'connection_lost', 'node-postgres-terminated'],
  ['Error: Client has encountered a connection error and is not queryable', 'connection_lost', 'node-postgres-not-queryable'],
  ['org.postgresql.util.PSQLException: An I/O error occurred while sending to the backend.', 'connection_lost', 'pgjdbc-io-error'],
  ['org.postgresql.util.PSQLException: This connection has been closed.', 'connection_lost', 'pgjdbc-connection-closed'],
  ['driver: bad connection', 'connection_lost', 'go-bad-connection'],
  ['Error: read ECONNRESET', 'connection_lost', 'node-econnreset'],
  ['write: broken pipe', 'connection_lost', 'node-econnreset'],

  ['Error: Connection terminated due to connection timeout', 'connection_error', 'node-postgres-connect-timeout'],
  ['org.postgresql.util.PSQLException: The connection attempt failed.', 'connection_error', 'pgjdbc-attempt-failed'],
  ["Can't reach database server at `db.internal`:`5432`", 'connection_error', 'prisma-p1001'],
  ['connection to server at "db.internal" (10.0.0.5), port 5432 failed: timeout expired', 'connection_error', 'libpq-connection-failed'],
  ['Error: getaddrinfo ENOTFOUND db.internal', 'connection_error', 'node-connect-errno'],
  ['Error: connect ETIMEDOUT 10.0.0.5:5432', 'connection_error', 'node-connect-errno'],

  ['context deadline exceeded', 'timeout', 'go-context-deadline'],
];

const NOT_SIGNATURES = [
  'HikariPool-1 - Pool stats (total=20, active=20, idle=0, waiting=31)',
  'SQL Error: 0, SQLState: null',
  'Previously reported leaked connection org.postgresql.jdbc.PgConnection@1b2c3d4e on thread http-nio-8080-exec-7 was returned to the pool (unleaked)',
  'starting',
  'database connection pool started with 10 connections',
  '[pgbouncer] query_wait_timeout = 120', // PgBouncer's own config listing, not the error
  'query_timeout=0 client_idle_timeout=0',
  'GET /health 200 3ms',
  'database ready',
  'Connection established to db:5432',
];

describe('the signature table', () => {
  test('compiles: ids unique, one of regex or literal each, every class known, every row cites its source', () => {
    const { rows } = compileSignatures(SIGNATURES);
    expect(rows).toHaveLength(SIGNATURES.length);
    for (const r of SIGNATURES) {
      expect(EVENT_CLASSES).toContain(r.class);
      // a repository path, a binary installed here, or a URL
      expect(r.source).toMatch(/\/|https?:/);
      expect(r.library.length).toBeGreaterThan(0);
    }
  });

  test('refuses a broken row with its id', () => {
    expect(() => compileSignatures([{ id: 'x', regex: '(', class: 'pool_timeout', library: 'l', source: 's/p' }])).toThrow(/signature x/);
    expect(() => compileSignatures([{ id: 'x', regex: 'a', literal: 'a', class: 'pool_timeout', library: 'l', source: 's/p' }])).toThrow(/exactly one/);
    const dup = { id: 'x', literal: 'a', class: 'pool_timeout' as const, library: 'l', source: 's/p' };
    expect(() => compileSignatures([dup, dup])).toThrow(/duplicate/);
  });

  test.each(EXAMPLES)('%s → %s (%s)', (line, cls, id) => {
    const c = classifyText(line);
    expect(c).not.toBeNull();
    expect(c!.class).toBe(cls);
    expect(c!.signature).toBe(id);
    expect(line).toContain(c!.matched);
  });

  test('every row has an example above', () => {
    const covered = new Set(EXAMPLES.map(([, , id]) => id));
    expect(SIGNATURES.map((r) => r.id).filter((id) => !covered.has(id))).toEqual([]);
  });

  test('a source that filters on its side (Loki) lets every row through: the default filter or SIGNAL_PATTERN matches each example', () => {
    const server = new RegExp(`connection|pool|database|${SIGNAL_PATTERN}`, 'i');
    expect(EXAMPLES.map(([line]) => line).filter((line) => !server.test(line))).toEqual([]);
  });

  test.each(NOT_SIGNATURES)('no row matches %s', (line) => {
    expect(classifyText(line)).toBeNull();
  });

  test('the pooler wins over the lost connection it causes, the server limit over the pool timeout it causes', () => {
    expect(classifyText('DatabaseError: (psycopg2.DatabaseError) query_wait_timeout\nserver closed the connection unexpectedly')!.class).toBe('pooler_limit');
    expect(
      classifyText(
        'HikariPool-1 - Connection is not available, request timed out after 30000ms.\nCaused by: org.postgresql.util.PSQLException: FATAL: sorry, too many clients already',
      )!.class,
    ).toBe('too_many_clients');
    expect(
      classifyText('HikariPool-1 - Connection is not available, request timed out after 30000ms.\nCaused by: java.net.ConnectException: Connection refused')!
        .class,
    ).toBe('connection_refused');
  });

  test('case does not matter', () => {
    expect(classifyText('SORRY, TOO MANY CLIENTS ALREADY')!.class).toBe('too_many_clients');
  });
});
