import { z } from 'zod';

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
 * A session idle (outside any transaction) for at least this long is held, not between two
 * queries of a busy client: those are idle for milliseconds, even with the client short of CPU.
 */
export const IDLE_SETTLED_MS = 2_000;

const counts = z.record(z.string(), z.number());

/** One monitored database. */
export const pgDatabaseEvidenceSchema = z.object({
  name: z.string(),
  reachable: z.boolean(),
  /** Why it could not be queried: a refusal for too many clients is itself evidence. */
  failure: z
    .object({
      kind: z.enum(['too_many_clients', 'auth', 'unreachable', 'timeout', 'circuit_open', 'error']),
      message: z.string(),
      sqlstate: z.string().optional(),
    })
    .nullable(),
  serverVersionNum: z.number().nullable(),
  maxConnections: z.number().nullable(),
  /** superuser_reserved_connections + reserved_connections (PG 16+). */
  reservedConnections: z.number().nullable(),
  /** Client backends now. */
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
  /** Sessions idle in transaction, longest idle first. */
  idleInTransaction: z.array(pgSessionSchema),
  blockingChains: z.array(pgBlockingChainSchema),
  /** null where pg_stat_statements is not installed or not readable. */
  topStatements: z.array(z.object({ query: z.string(), calls: z.number(), meanMs: z.number(), totalMs: z.number() })).nullable(),
});
export type PgDatabaseEvidence = z.infer<typeof pgDatabaseEvidenceSchema>;

/** `postgres`: the monitored databases. */
export const postgresEvidenceSchema = z.object({ databases: z.array(pgDatabaseEvidenceSchema) });
export type PostgresEvidence = z.infer<typeof postgresEvidenceSchema>;
