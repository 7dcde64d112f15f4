/**
 * classifyPgError on the wordings that the real-server tests (postgres-pooler.test.ts) cannot stage
 * on PgBouncer 1.18: newer PgBouncers' server-login message with the server's cached error, its
 * login timeout, and Node's certificate errors. Each wording is cited in src/sources/postgres-errors.ts.
 */
import { classifyPgError } from '../../src/sources/postgres-errors';

test.each([
  // PgBouncer >= 1.2x (src/objects.c): the server's own refusal inside the pooler's message
  [
    { code: '08P01', message: 'server login has been failing, cached error: FATAL:  sorry, too many clients already (server_login_retry)' },
    { kind: 'too_many_clients', pooler: { kind: 'pgbouncer', limit: 'server_login' } },
  ],
  [
    { code: '08P01', message: 'server login has been failing, try again later (server_login_retry)' },
    { kind: 'unreachable', pooler: { kind: 'pgbouncer', limit: 'server_login' } },
  ],
  [
    { code: '08P01', message: 'client_login_timeout (server down)' },
    { kind: 'unreachable', pooler: { kind: 'pgbouncer', limit: 'server_login' } },
  ],
  [
    { code: '08P01', message: 'query_wait_timeout' },
    { kind: 'timeout', pooler: { kind: 'pgbouncer', limit: 'query_wait_timeout' } },
  ],
  [
    { code: '08P01', message: 'no such database: reports' },
    { kind: 'auth', refusal: 'database' },
  ],
  [
    { code: '08P01', message: 'no such user' },
    { kind: 'auth', refusal: 'auth', pooler: { kind: 'pgbouncer' } },
  ],
  [
    { code: '08P01', message: 'not allowed' },
    { kind: 'auth', refusal: 'auth', pooler: { kind: 'pgbouncer' } },
  ],
  [
    { code: '08P01', message: 'SSL required' },
    { kind: 'auth', refusal: 'tls' },
  ],
  [
    { code: 'DEPTH_ZERO_SELF_SIGNED_CERT', message: 'self-signed certificate' },
    { kind: 'auth', refusal: 'tls' },
  ],
  [
    { code: 'ERR_TLS_CERT_ALTNAME_INVALID', message: "Hostname/IP does not match certificate's altnames" },
    { kind: 'auth', refusal: 'tls' },
  ],
  [new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string'), { kind: 'auth', refusal: 'auth' }],
  // the database's own limit stays the database's: datconnlimit and max_connections, not the role's
  [
    { code: '53300', message: 'too many connections for database "app"' },
    { kind: 'too_many_clients', refusal: undefined },
  ],
  [
    { code: '53300', message: 'too many connections for role "pf_monitor"' },
    { kind: 'auth', refusal: 'role_limit' },
  ],
  // an SQL error inside a run is not a refusal of the connection
  [
    { code: '42501', message: 'permission denied for table orders' },
    { kind: 'error', refusal: undefined },
  ],
])('%j', (input, expected) => {
  expect(classifyPgError(input)).toMatchObject(expected);
});

test('a refusal says what fixes it, and the password never appears', () => {
  const e = classifyPgError({ code: '28P01', message: 'password authentication failed for user "mon" (tried hunter2)' }, 'hunter2');
  expect(e.message).toBe(
    'monitoring configuration (auth): password authentication failed for user "mon" (tried [REDACTED]); the monitoring role could not log in: check the user and password in sources.postgres[].url (and pg_hba.conf or the pooler\'s auth_file)',
  );
});
