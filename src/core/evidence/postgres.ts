import { z } from 'zod';

/**
 * `postgres` evidence: one entry per monitored database. Durations are milliseconds; counts are
 * backends. Fields added after the first release carry defaults, so evidence stored by an older
 * receiver still reads (as "not measured").
 */

/** Whose a session is: the application's own, a person's SQL tool, or another client (sources.postgres[].application). */
export const sessionOwnerSchema = z.enum(['application', 'person', 'other']);
export type SessionOwnerEvidence = z.infer<typeof sessionOwnerSchema>;

/** One session of pg_stat_activity. */
export const pgSessionSchema = z.object({
  pid: z.int(),
  user: z.string().nullable(),
  application: z.string().nullable(),
  clientAddr: z.string().nullable(),
  state: z.string().nullable(),
  waitEventType: z.string().nullable(),
  waitEvent: z.string().nullable(),
  /** Since query_start. */
  queryAgeMs: z.number().nullable(),
  /** Since xact_start. */
  xactAgeMs: z.number().nullable(),
  /** Since state_change (for idle in transaction: how long it has been idle). */
  stateAgeMs: z.number().nullable(),
  /** Normalised (literals replaced, capped) unless raw text is configured. */
  query: z.string(),
  /** Whose it is; null where not told (older evidence). */
  owner: sessionOwnerSchema.nullable().default(null),
  /** The recognised tool (psql, DBeaver, pg_dump, ...), or null. */
  tool: z.string().nullable().default(null),
  /** pg_stat_activity.backend_type; null where hidden from the monitoring role. */
  backendType: z.string().nullable().default(null),
  /** A parallel worker's leader (PG 13+). */
  leaderPid: z.int().nullable().default(null),
});
export type PgSession = z.infer<typeof pgSessionSchema>;

/** A backend others wait on (pg_blocking_pids), with its waiters. */
export const pgBlockingChainSchema = z.object({
  blockerPid: z.int(),
  blockerUser: z.string().nullable(),
  blockerApplication: z.string().nullable(),
  blockerState: z.string().nullable(),
  blockerQuery: z.string(),
  /** Since the blocker's xact_start (or query_start). */
  blockerAgeMs: z.number().nullable(),
  waitingPids: z.array(z.int()),
  /** The longest any of them has waited. */
  longestWaitMs: z.number().nullable(),
});
export type PgBlockingChain = z.infer<typeof pgBlockingChainSchema>;

/**
 * What holds the lock at the root of a tree of waits, which decides the safe action:
 * `client` (a client backend: its owner says whose), `prepared` (a two-phase-commit transaction
 * with no session: pid 0, ROLLBACK PREPARED), `autovacuum` / `autovacuum_wraparound` (never cancel
 * the latter), `walsender`, `background` (another worker), `hidden` (the monitoring role cannot
 * see it), `unknown` (gone since).
 */
export const lockRootKindSchema = z.enum(['client', 'prepared', 'autovacuum', 'autovacuum_wraparound', 'walsender', 'background', 'hidden', 'unknown']);
export type LockRootKind = z.infer<typeof lockRootKindSchema>;

/** A schema change (or other strong lock request) that waits and makes later statements queue behind it. */
export const pgQueuedLockSchema = z.object({
  pid: z.int(),
  query: z.string(),
  /** How long it has waited. */
  waitMs: z.number().nullable(),
  /** Sessions that wait on it (behind it in the lock queue). */
  queuedBehind: z.int(),
});

/** One tree of lock waits, by its root: what holds the lock everyone else waits for, directly or in a queue. */
export const pgLockTreeSchema = z.object({
  /** The root's pid; 0 for a prepared transaction (pg_blocking_pids reports it so). */
  rootPid: z.int(),
  kind: lockRootKindSchema,
  /** For `prepared`: its gid (pg_prepared_xacts), else null. */
  gid: z.string().nullable(),
  owner: sessionOwnerSchema.nullable(),
  tool: z.string().nullable(),
  user: z.string().nullable(),
  application: z.string().nullable(),
  backendType: z.string().nullable(),
  state: z.string().nullable(),
  query: z.string(),
  /** Since its transaction began (a prepared transaction: since PREPARE). */
  ageMs: z.number().nullable(),
  /** Sessions waiting behind it, directly or through a queue; parallel workers counted with their leader. */
  waiting: z.int(),
  /** Up to a few of them, directly behind it first. */
  waitingPids: z.array(z.int()),
  longestWaitMs: z.number().nullable(),
  /** A strong lock request inside this tree with a queue behind it (a migration's ALTER TABLE), where there is one. */
  queuedLock: pgQueuedLockSchema.nullable(),
});
export type PgLockTree = z.infer<typeof pgLockTreeSchema>;

/** A transaction prepared for two-phase commit (pg_prepared_xacts). */
export const pgPreparedTransactionSchema = z.object({
  gid: z.string(),
  owner: z.string().nullable(),
  database: z.string().nullable(),
  /** Since PREPARE TRANSACTION. */
  ageMs: z.number().nullable(),
  /** Locks it holds (pg_locks rows with no pid in its virtual transaction). */
  locks: z.int(),
  /** Sessions waiting on it. */
  waitingPids: z.array(z.int()),
});

/** One client group: sessions with one application_name and usename. */
export const pgClientGroupSchema = z.object({
  application: z.string().nullable(),
  user: z.string().nullable(),
  owner: sessionOwnerSchema,
  tool: z.string().nullable(),
  /** Its sessions, hidden ones included. */
  sessions: z.int(),
  /** Of those, hidden from the monitoring role (state unknown). */
  hidden: z.int(),
  byState: z.record(z.string(), z.number()),
  /** Sessions idle in transaction for at least IDLE_IN_TX_SETTLED_MS (younger ones are a request between two statements). */
  idleInTransactionSettled: z.int(),
  /** The longest any of them has been idle in transaction. */
  longestIdleInTransactionMs: z.number().nullable(),
});
export type PgClientGroup = z.infer<typeof pgClientGroupSchema>;

/**
 * A session idle in transaction for at least this long is not a request between two statements
 * (a busy ORM's are idle for milliseconds); the same bound as the leak rule's LEAK_IDLE_IN_TX_MIN_MS.
 */
export const IDLE_IN_TX_SETTLED_MS = 2_000;

/**
 * A session idle (outside any transaction) for at least this long is held, not between two
 * queries of a busy client: those are idle for milliseconds, even with the client short of CPU.
 */
export const IDLE_SETTLED_MS = 2_000;

const counts = z.record(z.string(), z.number());

/** Why a database could not be queried. */
export const pgFailureSchema = z.object({
  /**
   * `busy`: our single connection to this database stayed held by other runs for the whole
   * deadline, so it was not read: a limit of ours, which says nothing about the database.
   */
  kind: z.enum(['too_many_clients', 'auth', 'unreachable', 'timeout', 'busy', 'circuit_open', 'error']),
  message: z.string(),
  sqlstate: z.string().optional(),
  /**
   * Our own connection was refused for a configuration reason (the monitoring URL, role, TLS, a
   * startup parameter the pooler refuses): a monitoring configuration problem, never a sign the
   * database is down.
   */
  refusal: z.enum(['auth', 'startup_parameter', 'tls', 'database', 'role_login', 'role_limit', 'privilege']).optional(),
  /** A connection pooler answered for itself, with its limit where it named one. */
  pooler: z
    .object({ kind: z.enum(['pgbouncer', 'unknown']), limit: z.enum(['max_client_conn', 'query_wait_timeout', 'server_login', 'queue']).optional() })
    .optional(),
});

/** One monitored database. */
export const pgDatabaseEvidenceSchema = z.object({
  name: z.string(),
  reachable: z.boolean(),
  /** Why it could not be queried: a refusal for too many clients is itself evidence. */
  failure: pgFailureSchema.nullable(),
  serverVersionNum: z.number().nullable(),
  maxConnections: z.number().nullable(),
  /** superuser_reserved_connections + reserved_connections (PG 16+). */
  reservedConnections: z.number().nullable(),
  /** Client backends now that the monitoring role can see (ours excluded). */
  connections: z.number().nullable(),
  byState: counts,
  /** Client sessions idle (outside a transaction) for at least IDLE_SETTLED_MS; null where not measured. */
  idleSettled: z.number().nullable(),
  byApplication: counts,
  byUser: counts,
  /** Longest-running active queries, longest first. */
  longRunning: z.array(pgSessionSchema),
  /** Oldest open transactions, oldest first. */
  oldestTransactions: z.array(pgSessionSchema),
  /** Sessions idle in transaction, longest idle first: the application's first N, then the others' first N. */
  idleInTransaction: z.array(pgSessionSchema),
  blockingChains: z.array(pgBlockingChainSchema),
  /** null where pg_stat_statements is not installed or not readable. */
  topStatements: z.array(z.object({ query: z.string(), calls: z.number(), meanMs: z.number(), totalMs: z.number() })).nullable(),

  /** Where our connection lands: PostgreSQL itself or a pooler in front of it (what that hides is in the section). */
  endpoint: z
    .object({
      pooler: z.object({ kind: z.enum(['pgbouncer', 'unknown']), evidence: z.string() }).nullable(),
      /** The server process that ran our transaction. */
      backendPid: z.int().nullable(),
    })
    .default({ pooler: null, backendPid: null }),
  /** The monitoring role and what it may see and use. */
  monitor: z
    .object({
      role: z.string(),
      superuser: z.boolean(),
      /** Sees every session's details (pg_read_all_stats, which pg_monitor includes). */
      readAllStats: z.boolean(),
      /** May use reserved_connections (pg_use_reserved_connections, PG 16+); null before 16. */
      useReserved: z.boolean().nullable(),
    })
    .nullable()
    .default(null),
  /** Sessions the monitoring role cannot see (query `<insufficient privilege>`, state and backend type NULL). */
  visibility: z
    .object({
      /** Every hidden row. */
      hidden: z.int(),
      /** Hidden rows with a user and a database: most likely client backends of other roles. */
      hiddenClients: z.int(),
      /** The statement that lets the role see them, or null when nothing is hidden. */
      grant: z.string().nullable(),
    })
    .nullable()
    .default(null),
  /** Which sessions are the application's and why (sources.postgres[].application, the alert's service, the largest group). */
  application: z
    .object({ how: z.enum(['configured', 'alert', 'largest', 'none']), describe: z.string() })
    .nullable()
    .default(null),
  /** Client groups by application_name and user, hidden sessions included, largest first. */
  clients: z.array(pgClientGroupSchema).default([]),
  /** Connection arithmetic (see src/enrichers/postgres/slots.ts). */
  slots: z
    .object({
      maxConnections: z.int(),
      superuserReserved: z.int(),
      /** reserved_connections (16+), 0 before. */
      reserved: z.int(),
      /** max_connections - both reservations. */
      usable: z.int(),
      /** Client backends seen, ours included. */
      used: z.int(),
      /** Hidden rows that may be client backends too. */
      unknown: z.int(),
      freeOrdinary: z.int(),
      ourTier: z.enum(['ordinary', 'reserved', 'superuser']),
      whoCanConnect: z.string(),
    })
    .nullable()
    .default(null),
  /** Backends by backend_type (`(hidden)` for rows the role cannot see), ours excluded. */
  backendTypes: counts.default({}),
  /** Trees of lock waits by their root, the most waiters first. */
  lockTrees: z.array(pgLockTreeSchema).default([]),
  preparedTransactions: z.array(pgPreparedTransactionSchema).default([]),
});
export type PgDatabaseEvidence = z.infer<typeof pgDatabaseEvidenceSchema>;

/** `postgres`: the monitored databases. */
export const postgresEvidenceSchema = z.object({ databases: z.array(pgDatabaseEvidenceSchema) });
export type PostgresEvidence = z.infer<typeof postgresEvidenceSchema>;
