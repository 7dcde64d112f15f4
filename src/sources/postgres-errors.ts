/**
 * How a monitored database (or a connection pooler in front of it) refused or failed our single
 * monitoring connection, told apart so that no refusal of OUR access is read as the database
 * being down:
 * - a refusal of our own connection for a configuration reason (password, role, database name,
 *   TLS, a startup parameter the pooler does not accept, our role's own CONNECTION LIMIT) is a
 *   monitoring configuration problem: `refusal` says which, `kind` is `auth`;
 * - a pooler's own limits (PgBouncer's `max_client_conn`, `query_wait_timeout`, a failing server
 *   login) are the pooler's evidence: `pooler` says which;
 * - the rest is what the database itself says (too many clients, starting up, timeouts).
 *
 * Wordings and codes, checked at their source:
 * - PostgreSQL: `role "%s" is not permitted to log in` (28000) and `too many connections for role
 *   "%s"` (53300, the role's CONNECTION LIMIT) in src/backend/utils/init/miscinit.c
 *   (InitializeSessionUserId); `database "%s" does not exist` (3D000), `permission denied for
 *   database "%s"` (42501) and `too many connections for database "%s"` (53300) in
 *   src/backend/utils/init/postinit.c; `password authentication failed for user` (28P01) and
 *   `no pg_hba.conf entry for host ...` (28000) in src/backend/libpq/auth.c (postgres/postgres).
 * - PgBouncer 1.18 (pgbouncer/pgbouncer at tag pgbouncer_1_18_0): every error it sends itself goes
 *   through send_pooler_error() with SQLSTATE 08P01 (src/proto.c), also the errors of its own
 *   server logins that it passes on (a missing database arrives as 08P01 `database "x" does not
 *   exist`, seen on 1.18 here). Its wordings: `unsupported startup parameter: %s`
 *   (src/client.c, set_startup_options), `no more connections allowed (max_client_conn)`,
 *   `SASL authentication failed`, `password authentication failed`, `no such user`,
 *   `not allowed` (admin console, src/admin.c admin_post_login), `SSL required`,
 *   `no such database: %s`, `database "%s" is disabled`, `query_wait_timeout`,
 *   `client_login_timeout (server down)` (src/janitor.c), `server login has been failing, try
 *   again later (server_login_retry)` (src/objects.c; from 1.2x `..., cached error: %s
 *   (server_login_retry)` with the server's own error).
 * - node-postgres 8 (node_modules/pg/lib/connection.js): `The server does not support SSL
 *   connections`, `There was an error establishing an SSL connection`; its SCRAM client
 *   (lib/crypto/sasl.js): `SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string`.
 *   Node's TLS errors carry codes such as DEPTH_ZERO_SELF_SIGNED_CERT or
 *   ERR_TLS_CERT_ALTNAME_INVALID (nodejs.org/api/tls.html, "X509 certificate error codes").
 */

/** How a database could not be queried; mirrors PgDatabaseEvidence['failure']['kind']. */
export type PgFailureKind = 'too_many_clients' | 'auth' | 'unreachable' | 'timeout' | 'busy' | 'circuit_open' | 'error';

/** Why our own connection was refused although the database may be fine: a monitoring configuration problem. */
export type MonitoringRefusal =
  /** Wrong password, unknown user, or an access rule (pg_hba.conf, PgBouncer's auth) refused it. */
  | 'auth'
  /** A pooler refused a startup parameter (PgBouncer: `unsupported startup parameter`). */
  | 'startup_parameter'
  /** TLS was required, not offered, or the certificate did not verify. */
  | 'tls'
  /** The database in the URL does not exist (on the server or in the pooler's [databases]). */
  | 'database'
  /** The role exists but has NOLOGIN. */
  | 'role_login'
  /** The role's own CONNECTION LIMIT is used up (not the server's max_connections). */
  | 'role_limit'
  /** The role lacks CONNECT on the database. */
  | 'privilege';

/** What a connection pooler in front of the database told us about itself. */
export interface PoolerHint {
  /** `pgbouncer` where the wording is PgBouncer's own; `unknown` for a pooled endpoint seen otherwise. */
  kind: 'pgbouncer' | 'unknown';
  /**
   * Which of its limits answered: `max_client_conn` (no more client connections),
   * `query_wait_timeout` (waited for a server connection too long), `server_login` (it cannot log
   * in to PostgreSQL), `queue` (our query got no answer while the pooler had no server for it).
   */
  limit?: 'max_client_conn' | 'query_wait_timeout' | 'server_login' | 'queue';
}

/** A failure of the monitored database or of our access to it. Its message never holds the password. */
export class PostgresSourceError extends Error {
  constructor(
    message: string,
    readonly kind: PgFailureKind,
    readonly sqlstate?: string,
    /** Set when our own connection was refused for a configuration reason (then `kind` is `auth`). */
    readonly refusal?: MonitoringRefusal,
    /** Set when a connection pooler answered for itself. */
    readonly pooler?: PoolerHint,
  ) {
    super(message);
    this.name = kind === 'timeout' ? 'TimeoutError' : 'PostgresSourceError';
  }
}

/** The password inside a postgres:// URL, decoded, or undefined. */
export function passwordOfUrl(url: string): string | undefined {
  try {
    const p = new URL(url).password;
    return p ? decodeURIComponent(p) : undefined;
  } catch {
    const m = /^postgres(?:ql)?:\/\/[^:/@]*:([^@]*)@/.exec(url);
    return m?.[1] || undefined;
  }
}

/** Removes every form of `password` from `text`. */
export function scrubPassword(text: string, password: string | undefined): string {
  if (!password) return text;
  let out = text;
  for (const form of new Set([password, encodeURIComponent(password)])) out = out.split(form).join('[REDACTED]');
  return out;
}

/** What each configuration refusal means and what fixes it, for the message. */
export const REFUSAL_HINTS: Record<MonitoringRefusal, string> = {
  auth: "the monitoring role could not log in: check the user and password in sources.postgres[].url (and pg_hba.conf or the pooler's auth_file)",
  startup_parameter:
    'a connection pooler (PgBouncer) refused a startup parameter of ours: connect with none it does not know, or list it in ignore_startup_parameters',
  tls: "TLS did not work out between us and the endpoint: check sslmode in the URL and the server's or pooler's TLS settings",
  database: "the database named in sources.postgres[].url does not exist there (or is not in the pooler's [databases])",
  role_login: 'the monitoring role is NOLOGIN: ALTER ROLE ... LOGIN',
  role_limit: "the monitoring role's own CONNECTION LIMIT is used up (other sessions of the same role): raise it or use a role of its own",
  privilege: 'the monitoring role lacks CONNECT on the database: GRANT CONNECT ON DATABASE ... TO the role',
};

/** Node's certificate and TLS socket error codes (nodejs.org/api/tls.html; ERR_SSL_* from OpenSSL). */
const TLS_CODES =
  /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|CERT_REVOKED|CERT_UNTRUSTED|CERT_SIGNATURE_FAILURE|HOSTNAME_MISMATCH|ERR_TLS_CERT_ALTNAME_INVALID|ERR_SSL_[A-Z_]+|EPROTO)$/;

interface Rule {
  /** SQLSTATEs (or socket/TLS codes) it applies to; undefined: any. */
  codes?: RegExp;
  message?: RegExp;
  refusal?: MonitoringRefusal;
  pooler?: PoolerHint;
  kind: PgFailureKind;
}

/**
 * In order; the first match wins. A pooler's 08P01 carries its own wording, or a server's wording
 * passed on (PgBouncer keeps the text, not the code).
 */
const RULES: Rule[] = [
  { message: /unsupported startup parameter/i, refusal: 'startup_parameter', pooler: { kind: 'pgbouncer' }, kind: 'auth' },
  { message: /no more connections allowed \(max_client_conn\)/i, pooler: { kind: 'pgbouncer', limit: 'max_client_conn' }, kind: 'error' },
  { message: /^query_wait_timeout/i, pooler: { kind: 'pgbouncer', limit: 'query_wait_timeout' }, kind: 'timeout' },
  // newer PgBouncers add the server's own error ("cached error: ..."): a full server is the connection limit's
  {
    message: /server login has been failing.*(too many clients|remaining connection slots)/i,
    pooler: { kind: 'pgbouncer', limit: 'server_login' },
    kind: 'too_many_clients',
  },
  { message: /server login has been failing|client_login_timeout \(server down\)/i, pooler: { kind: 'pgbouncer', limit: 'server_login' }, kind: 'unreachable' },
  { message: /too many connections for role/i, refusal: 'role_limit', kind: 'auth' },
  { codes: /^(53300)$/, kind: 'too_many_clients' },
  { message: /too many clients|remaining connection slots are reserved|too many connections/i, kind: 'too_many_clients' },
  { message: /is not permitted to log in/i, refusal: 'role_login', kind: 'auth' },
  { message: /permission denied for database/i, refusal: 'privilege', kind: 'auth' },
  { codes: /^3D000$/, refusal: 'database', kind: 'auth' },
  { codes: /^08P01$/, message: /^database ".*" does not exist|^no such database/i, refusal: 'database', pooler: { kind: 'pgbouncer' }, kind: 'auth' },
  { codes: /^08P01$/, message: /^SSL required/i, refusal: 'tls', pooler: { kind: 'pgbouncer' }, kind: 'auth' },
  { codes: TLS_CODES, refusal: 'tls', kind: 'auth' },
  {
    message:
      /does not support SSL connections|error establishing an SSL connection|self[- ]signed certificate|unable to verify the first certificate|certificate has expired|Hostname\/IP does not match/i,
    refusal: 'tls',
    kind: 'auth',
  },
  { codes: /^(28P01|28000)$/, refusal: 'auth', kind: 'auth' },
  {
    codes: /^08P01$/,
    message:
      /^(SASL authentication failed|password authentication failed|no such user|login rejected|"trust" authentication failed|certificate authentication failed|not allowed|unix socket login rejected)/i,
    refusal: 'auth',
    pooler: { kind: 'pgbouncer' },
    kind: 'auth',
  },
  { message: /client password must be a string|^SASL: /i, refusal: 'auth', kind: 'auth' },
];

const UNREACHABLE_CODES = ['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOENT', 'EACCES'];

/**
 * Classifies a pg / socket / TLS error: a refusal of our own connection for a configuration
 * reason → `auth` with `refusal`; a pooler's own limit → its kind with `pooler`; SQLSTATE 53300 or
 * its wordings → too_many_clients; refused / unknown host / unreachable / starting up →
 * unreachable; statement or lock timeout / connect timeout → timeout; anything else → error. The
 * message is cut to one line, scrubbed of `password`, and for a refusal followed by what fixes it.
 */
export function classifyPgError(e: unknown, password?: string): PostgresSourceError {
  if (e instanceof PostgresSourceError) return e;
  const err = (e ?? {}) as { code?: string; message?: string; errno?: string };
  const code = typeof err.code === 'string' ? err.code : undefined;
  const raw = scrubPassword(String(err.message ?? e).split('\n')[0]!, password).slice(0, 300);
  const sqlstate = code && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  for (const r of RULES) {
    if (r.codes && !(code && r.codes.test(code))) continue;
    if (r.message && !r.message.test(raw)) continue;
    const msg = r.refusal
      ? `monitoring configuration (${r.refusal.replace(/_/g, ' ')}): ${raw || code}; ${REFUSAL_HINTS[r.refusal]}`
      : raw || code || 'unknown error';
    const state = sqlstate ?? (r.kind === 'too_many_clients' ? '53300' : undefined);
    return new PostgresSourceError(msg, r.kind, state, r.refusal, r.pooler);
  }
  if (code === '57014' || code === '55P03') return new PostgresSourceError(raw, 'timeout', code);
  if (code && UNREACHABLE_CODES.includes(code)) return new PostgresSourceError(`${code}: could not connect`, 'unreachable');
  if (code === '57P03' || code === '57P01' || code === '57P02') return new PostgresSourceError(raw, 'unreachable', code);
  if (code === 'ETIMEDOUT' || /timeout expired|connection timeout|timed out/i.test(raw)) return new PostgresSourceError(raw || 'timeout', 'timeout', sqlstate);
  return new PostgresSourceError(raw || 'unknown error', 'error', sqlstate);
}
