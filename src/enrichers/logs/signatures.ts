import type { LogEventClass } from '../../core/evidence';

/**
 * The signature table: the wordings of connection-pool and connection errors as the libraries
 * and servers people run write them, each with the class it is evidence of and where the wording
 * was checked. Data only: `classify.ts` compiles and applies it. Rows are tried in order and the
 * first that matches an event's message and error text decides its class, so a more specific
 * wording (the pooler's timeout, the server's limit named as a pool timeout's cause) comes before
 * a general one (a connection lost, a deadline passed). Every row is matched case-insensitively.
 *
 * Sources were read at the commit named ("mirror <sha>": the repository's newest snapshot at the
 * time; "index": the code search index's stored copy) or in the binaries installed here.
 */

/** What a matched event is evidence of: the evidence schema's classes (src/core/evidence/logs.ts). */
export type EventClass = LogEventClass;

/** One row: exactly one of `regex` (JavaScript syntax, no flags) and `literal` (a substring). */
export interface SignatureRow {
  /** Stable id, `<library>-<what>`: shown in the evidence and used by tests. */
  readonly id: string;
  readonly regex?: string;
  readonly literal?: string;
  readonly class: EventClass;
  /** Who writes it. */
  readonly library: string;
  /** Where the wording was checked: repository and path (and commit), a binary, or a doc URL. */
  readonly source: string;
}

export const SIGNATURES: readonly SignatureRow[] = [
  // --- leak detection: the pool names a connection that was not returned --------------------------------------
  {
    id: 'hikaricp-leak',
    regex: String.raw`Connection leak detection triggered for .{1,300}?, stack trace follows`,
    class: 'leak_warning',
    library: 'HikariCP',
    source:
      'brettwooldridge/HikariCP src/main/java/com/zaxxer/hikari/pool/ProxyLeakTask.java run() (mirror 604d7d58; "on thread {}" since 2.7.2, commit 7cf6673f)',
  },
  {
    id: 'tomcat-jdbc-abandoned',
    literal: 'Connection has been abandoned ',
    class: 'leak_warning',
    library: 'Tomcat JDBC pool',
    source: 'apache/tomcat modules/jdbc-pool/src/main/java/org/apache/tomcat/jdbc/pool/ConnectionPool.java abandon() (index 9c40c96d; logAbandoned=true)',
  },
  {
    id: 'dbcp2-abandoned',
    regex: String.raw`Pooled object created .{0,40}by the following code has not been returned to the pool`,
    class: 'leak_warning',
    library: 'Apache DBCP2 (commons-pool2)',
    source: 'apache/commons-pool src/main/java/org/apache/commons/pool2/impl/DefaultPooledObject.java setRequireFullStackTrace() (index fa3d6cc6)',
  },
  {
    id: 'sqlalchemy-gc-connection',
    regex: String.raw`The garbage collector is trying to clean up (?:non-checked-in )?connection`,
    class: 'leak_warning',
    library: 'SQLAlchemy',
    source: 'sqlalchemy/sqlalchemy lib/sqlalchemy/pool/base.py _finalize_fairy() (index; logged with pool.logger.error and util.warn)',
  },

  // --- the pooler (PgBouncer) refused or timed out the client ---------------------------------------------------
  {
    id: 'pgbouncer-max-client-conn',
    literal: 'no more connections allowed (max_client_conn)',
    class: 'pooler_limit',
    library: 'PgBouncer',
    source: 'pgbouncer/pgbouncer src/client.c (mirror 13a344f2; same text in 1.15 and 1.18)',
  },
  {
    id: 'pgbouncer-client-connections-exceeded',
    regex: String.raw`client connections exceeded \(max_(?:db|user)_client_connections\)`,
    class: 'pooler_limit',
    library: 'PgBouncer',
    source: 'pgbouncer/pgbouncer src/client.c (mirror 13a344f2)',
  },
  // The two timeouts below are also PgBouncer setting names: `query_wait_timeout = 120` in a
  // config dump is not the error, hence the look-ahead.
  {
    id: 'pgbouncer-query-wait-timeout',
    regex: String.raw`\bquery_wait_timeout\b(?!\s*[=:]\s*\d)`,
    class: 'pooler_limit',
    library: 'PgBouncer',
    source: 'pgbouncer/pgbouncer src/janitor.c disconnect_client(client, true, "query_wait_timeout") (mirror 13a344f2)',
  },
  {
    id: 'pgbouncer-query-timeout',
    regex: String.raw`\bquery_timeout\b(?!\s*[=:]\s*\d)`,
    class: 'pooler_limit',
    library: 'PgBouncer',
    source: 'pgbouncer/pgbouncer src/janitor.c disconnect_client(client, true, "query_timeout") (mirror 13a344f2)',
  },
  {
    id: 'pgbouncer-server-login-retry',
    regex: String.raw`server login has been failing, .{0,300}\(server_login_retry\)`,
    class: 'pooler_limit',
    library: 'PgBouncer',
    source:
      'pgbouncer/pgbouncer src/objects.c: "...cached error: %s (server_login_retry)" (mirror 13a344f2), "...try again later (server_login_retry)" (tag pgbouncer_1_18_0)',
  },
  {
    id: 'pgbouncer-client-login-timeout',
    regex: String.raw`\bclient_login_timeout\b`,
    class: 'pooler_limit',
    library: 'PgBouncer',
    source: 'pgbouncer/pgbouncer src/janitor.c "client_login_timeout", "client_login_timeout (server down)" (mirror 13a344f2)',
  },

  // --- the server's own connection limit -----------------------------------------------------------------------
  {
    id: 'postgres-too-many-clients',
    literal: 'sorry, too many clients already',
    class: 'too_many_clients',
    library: 'PostgreSQL',
    source: 'postgres/postgres src/backend/storage/lmgr/proc.c InitProcess (SQLSTATE 53300); in /usr/lib/postgresql/15/bin/postgres',
  },
  {
    id: 'postgres-reserved-slots-superuser',
    literal: 'remaining connection slots are reserved for non-replication superuser connections',
    class: 'too_many_clients',
    library: 'PostgreSQL <= 15',
    source: 'postgres/postgres src/backend/utils/init/postinit.c InitPostgres (53300); in /usr/lib/postgresql/15/bin/postgres',
  },
  {
    id: 'postgres-reserved-slots-roles',
    regex: String.raw`remaining connection slots are reserved for roles with (?:the \w+ attribute|privileges of the "[^"]{1,64}" role)`,
    class: 'too_many_clients',
    library: 'PostgreSQL >= 16',
    source:
      'postgres/postgres src/backend/utils/init/postinit.c InitPostgres: "...roles with the %s attribute" (SUPERUSER), "...roles with privileges of the \\"%s\\" role" (pg_use_reserved_connections) (index)',
  },
  {
    id: 'postgres-too-many-connections-for',
    regex: String.raw`too many connections for (?:role|database) "[^"]{0,64}"`,
    class: 'too_many_clients',
    library: 'PostgreSQL',
    source: 'postgres/postgres src/backend/utils/init/postinit.c, miscinit.c (53300); in /usr/lib/postgresql/15/bin/postgres',
  },
  {
    id: 'pgx-sqlstate-53300',
    regex: String.raw`\(SQLSTATE 53300\)`,
    class: 'too_many_clients',
    library: 'pgx',
    source: 'jackc/pgx pgconn/errors.go PgError.Error(): Severity + ": " + Message + " (SQLSTATE " + Code + ")" (index)',
  },

  // --- the server refused the login ----------------------------------------------------------------------------
  {
    id: 'postgres-password-auth-failed',
    regex: String.raw`password authentication failed for user`,
    class: 'auth_failed',
    library: 'PostgreSQL',
    source: 'postgres/postgres src/backend/libpq/auth.c (28P01); in /usr/lib/postgresql/15/bin/postgres',
  },
  {
    id: 'postgres-no-hba-entry',
    literal: 'no pg_hba.conf entry for',
    class: 'auth_failed',
    library: 'PostgreSQL',
    source: 'postgres/postgres src/backend/libpq/auth.c (28000); in /usr/lib/postgresql/15/bin/postgres',
  },

  // --- nothing accepts connections ------------------------------------------------------------------------------
  {
    id: 'node-econnrefused',
    regex: String.raw`\bECONNREFUSED\b`,
    class: 'connection_refused',
    library: 'Node.js',
    source: 'nodejs/node doc/api/errors.md "Common system errors" (index)',
  },
  {
    id: 'pgjdbc-connection-refused',
    regex: String.raw`Connection to \S+ refused\. Check that the hostname and port are correct`,
    class: 'connection_refused',
    library: 'PgJDBC',
    source: 'pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/core/v3/ConnectionFactoryImpl.java (mirror 3a699d57)',
  },
  {
    id: 'os-connection-refused',
    regex: String.raw`\bConnection refused\b`,
    class: 'connection_refused',
    library: 'libpq, JDK, Go (strerror(ECONNREFUSED))',
    source:
      'postgres/postgres src/interfaces/libpq/fe-connect.c: "connection to server at \\"%s\\" (%s), port %s failed: " + strerror(errno) (strings of libpq.so.5.15 here); java.net.ConnectException and Go dial errors carry the same strerror text',
  },
  {
    id: 'postgres-not-accepting',
    regex: String.raw`the database system is (?:starting up|shutting down|in recovery mode|not yet accepting connections|not accepting connections)`,
    class: 'connection_refused',
    library: 'PostgreSQL',
    source: 'postgres/postgres src/backend/postmaster/postmaster.c (backend_startup.c in 17+) (57P03); in /usr/lib/postgresql/15/bin/postgres',
  },

  // --- the application's pool gave up waiting ------------------------------------------------------------------
  {
    id: 'hikaricp-timeout',
    regex: String.raw`Connection is not available, request timed out after \d+ ?ms`,
    class: 'pool_timeout',
    library: 'HikariCP',
    source:
      'brettwooldridge/HikariCP src/main/java/com/zaxxer/hikari/pool/HikariPool.java createTimeoutException() (tag HikariCP-4.0.3: "...after Nms."; mirror 604d7d58: "...after Nms (total=, active=, idle=, waiting=)")',
  },
  {
    id: 'sqlalchemy-queuepool-timeout',
    regex: String.raw`QueuePool limit of size \d+ overflow -?\d+ reached, connection timed out`,
    class: 'pool_timeout',
    library: 'SQLAlchemy',
    source: 'sqlalchemy/sqlalchemy lib/sqlalchemy/pool/impl.py QueuePool._do_get() (index 05b24421; error code 3o7r)',
  },
  {
    id: 'psycopg-pool-timeout',
    regex: String.raw`couldn't get a connection after [\d.]+ ?sec`,
    class: 'pool_timeout',
    library: 'psycopg_pool (Django >= 5.1 OPTIONS["pool"])',
    source:
      'psycopg/psycopg psycopg_pool/psycopg_pool/pool.py WaitingClient.wait() PoolTimeout (index); django/django django/db/backends/postgresql/base.py takes connections with self.pool.getconn()',
  },
  {
    id: 'psycopg-pool-too-many-requests',
    regex: String.raw`the pool '[^']{0,64}' has already \d+ requests waiting`,
    class: 'pool_timeout',
    library: 'psycopg_pool',
    source: 'psycopg/psycopg psycopg_pool/psycopg_pool/pool.py _get_ready_connection() TooManyRequests (index 008a6efe)',
  },
  {
    id: 'rails-connection-timeout',
    regex: String.raw`could not obtain a (?:database |pooled )?connection (?:from the pool )?within`,
    class: 'pool_timeout',
    library: 'Rails ActiveRecord',
    source:
      'rails/rails activerecord/lib/active_record/connection_adapters/abstract/connection_pool/queue.rb wait_poll (7.1+: "...from the pool within %0.3f seconds (waited ...); all pooled connections were in use"); guides/source/configuring.md and 3.2-7.0 connection_pool.rb: "could not obtain a database connection within ..."',
  },
  {
    id: 'rails-connection-timeout-class',
    literal: 'ActiveRecord::ConnectionTimeoutError',
    class: 'pool_timeout',
    library: 'Rails ActiveRecord',
    source: 'rails/rails activerecord/lib/active_record/connection_adapters/abstract/connection_pool/queue.rb: raise ConnectionTimeoutError (index 5a0b8174)',
  },
  {
    id: 'prisma-p2024',
    regex: String.raw`Timed out fetching a (?:new )?connection from the (?:connection )?pool`,
    class: 'pool_timeout',
    library: 'Prisma',
    source:
      'prisma/prisma-engines libs/user-facing-errors/src/query_engine/mod.rs P2024 (index 066eebee), query_engine.rs (index 01fab2fd), before PR prisma-engines#1916: "Timed out fetching a new connection from the pool. Please consider ..."; PR #2403: "Timed out fetching a connection from the pool (connection limit: ...)"',
  },
  {
    id: 'prisma-mobc-timeout',
    literal: 'Operation timed out (mobc timeout)',
    class: 'pool_timeout',
    library: 'Prisma (quaint + mobc)',
    source:
      'prisma/prisma-engines quaint/src/error.rs: mobc::Error::Timeout -> ErrorKind::Timeout("mobc timeout"), displayed "Operation timed out ({0})" (index)',
  },
  {
    id: 'sequelize-acquire-timeout',
    literal: 'SequelizeConnectionAcquireTimeoutError',
    class: 'pool_timeout',
    library: 'Sequelize',
    source: 'sequelize/sequelize src/errors/connection/connection-acquire-timeout-error.ts (index ce745c10)',
  },
  {
    id: 'knex-acquire-timeout',
    literal: 'Knex: Timeout acquiring a connection',
    class: 'pool_timeout',
    library: 'knex (tarn)',
    source:
      "knex/knex lib/client.js acquireConnection(): tarn's TimeoutError becomes KnexTimeoutError (index dd911fcb); tarn's own text is not specific enough to match alone",
  },
  {
    id: 'generic-pool-timeout',
    literal: 'ResourceRequest timed out',
    class: 'pool_timeout',
    library: 'generic-pool',
    source: 'coopernurse/node-pool lib/ResourceRequest.js _fireTimeout() (index 01ddffc7)',
  },
  {
    id: 'node-postgres-pool-timeout',
    literal: 'timeout exceeded when trying to connect',
    class: 'pool_timeout',
    library: 'node-postgres (pg-pool)',
    source: 'brianc/node-postgres packages/pg-pool/index.js connect(): a queued checkout that waits connectionTimeoutMillis (mirror c9e57617)',
  },
  {
    id: 'npgsql-pool-exhausted',
    regex: String.raw`The connection pool has been exhausted, either raise '?Max ?Pool ?Size'?`,
    class: 'pool_timeout',
    library: 'Npgsql',
    source: 'npgsql/npgsql src/Npgsql/PoolingDataSource.cs Get()/RentAsync (index 00ee7a8a)',
  },
  {
    id: 'go-acquire-deadline',
    regex: String.raw`\b(?:acquir\w*|getting (?:a )?conn\w*|get (?:a )?conn\w*)\b.{0,80}?context deadline exceeded`,
    class: 'pool_timeout',
    library: 'pgx pgxpool, Go database/sql',
    source:
      "jackc/pgx pgxpool/pool.go Acquire() returns the wait's ctx.Err() unchanged (index 000e9471); golang/go src/database/sql/sql.go (*DB).conn() likewise; only the wrapping text says it was the acquire",
  },

  // --- an established connection was lost --------------------------------------------------------------------
  {
    id: 'libpq-server-closed',
    literal: 'server closed the connection unexpectedly',
    class: 'connection_lost',
    library: 'libpq (psycopg2, Ruby pg, ...)',
    source: 'postgres/postgres src/interfaces/libpq/fe-misc.c pqReadData definitelyEOF (appended to the error since 14); in libpq.so.5.15 here',
  },
  {
    id: 'libpq-could-not-receive',
    literal: 'could not receive data from server',
    class: 'connection_lost',
    library: 'libpq',
    source: 'postgres/postgres src/interfaces/libpq/fe-secure.c; in libpq.so.5.15 here',
  },
  {
    id: 'libpq-ssl-syscall-eof',
    literal: 'SSL SYSCALL error: EOF detected',
    class: 'connection_lost',
    library: 'libpq',
    source: 'postgres/postgres src/interfaces/libpq/fe-secure-openssl.c; in libpq.so.5.15 here',
  },
  {
    id: 'postgres-terminating-connection',
    regex: String.raw`terminating connection due to (?:administrator command|idle-in-transaction timeout|idle-session timeout|unexpected postmaster exit|immediate shutdown command|conflict with recovery)`,
    class: 'connection_lost',
    library: 'PostgreSQL',
    source: 'postgres/postgres src/backend/tcop/postgres.c ProcessInterrupts (57P01, 25P03, 57P05); in /usr/lib/postgresql/15/bin/postgres',
  },
  {
    id: 'node-postgres-terminated',
    literal: 'Connection terminated unexpectedly',
    class: 'connection_lost',
    library: 'node-postgres',
    source: 'brianc/node-postgres packages/pg/lib/client.js (mirror c9e57617)',
  },
  {
    id: 'node-postgres-not-queryable',
    literal: 'Client has encountered a connection error and is not queryable',
    class: 'connection_lost',
    library: 'node-postgres',
    source: 'brianc/node-postgres packages/pg/lib/client.js (mirror c9e57617)',
  },
  {
    id: 'pgjdbc-io-error',
    literal: 'An I/O error occurred while sending to the backend',
    class: 'connection_lost',
    library: 'PgJDBC',
    source: 'pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/core/v3/QueryExecutorImpl.java (mirror 3a699d57)',
  },
  {
    id: 'pgjdbc-connection-closed',
    literal: 'This connection has been closed.',
    class: 'connection_lost',
    library: 'PgJDBC',
    source: 'pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/PgConnection.java (mirror 3a699d57)',
  },
  {
    id: 'go-bad-connection',
    literal: 'driver: bad connection',
    class: 'connection_lost',
    library: 'Go database/sql',
    source: 'golang/go src/database/sql/driver/driver.go ErrBadConn (index); database/sql retries it maxBadConnRetries times before returning it',
  },
  {
    id: 'node-econnreset',
    regex: String.raw`\bECONNRESET\b|\bConnection reset by peer\b|\bEPIPE\b|\bbroken pipe\b`,
    class: 'connection_lost',
    library: 'Node.js, OS (strerror)',
    source: 'nodejs/node doc/api/errors.md "Common system errors" (ECONNRESET, EPIPE) (index)',
  },

  // --- a new connection could not be made for another reason ------------------------------------------------
  {
    id: 'node-postgres-connect-timeout',
    literal: 'Connection terminated due to connection timeout',
    class: 'connection_error',
    library: 'node-postgres (pg-pool)',
    source: 'brianc/node-postgres packages/pg-pool/index.js newClient() (mirror c9e57617)',
  },
  {
    id: 'pgjdbc-attempt-failed',
    literal: 'The connection attempt failed.',
    class: 'connection_error',
    library: 'PgJDBC',
    source: 'pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/core/v3/ConnectionFactoryImpl.java (mirror 3a699d57)',
  },
  {
    id: 'prisma-p1001',
    literal: "Can't reach database server at",
    class: 'connection_error',
    library: 'Prisma',
    source: "prisma/prisma-engines libs/user-facing-errors/src/common.rs P1001 DatabaseNotReachable (path in index; wording as in prisma's own test snapshot)",
  },
  {
    id: 'libpq-connection-failed',
    regex: String.raw`connection to server (?:at|on socket) .{0,200}? failed`,
    class: 'connection_error',
    library: 'libpq',
    source:
      'postgres/postgres src/interfaces/libpq/fe-connect.c: "connection to server at \\"%s\\" (%s), port %s failed: ", "connection to server on socket \\"%s\\" failed: "; in libpq.so.5.15 here',
  },
  {
    id: 'node-connect-errno',
    regex: String.raw`\b(?:ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN)\b`,
    class: 'connection_error',
    library: 'Node.js',
    source:
      'nodejs/node doc/api/errors.md "Common system errors" lists ETIMEDOUT and ENOTFOUND; EHOSTUNREACH, ENETUNREACH, EAI_AGAIN are libuv/getaddrinfo names not re-checked here',
  },

  // --- a deadline passed, not said where -----------------------------------------------------------------------
  {
    id: 'go-context-deadline',
    literal: 'context deadline exceeded',
    class: 'timeout',
    library: 'Go (context)',
    source:
      'golang/go src/database/sql/sql.go (*DB).conn() and jackc/pgx pgxpool Acquire() return ctx.Err() while waiting for a connection, but a query past its deadline says the same: alone it names no waiter',
  },
];
