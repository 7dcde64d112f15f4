import { z } from 'zod';

/**
 * The `pgbouncer` enricher's evidence: one entry per configured PgBouncer (sources.pgbouncer[]),
 * read from its admin console. Counts are connections; durations milliseconds; a number is null
 * where it was not read. Column sources: pgbouncer/pgbouncer doc/usage.md (SHOW POOLS, SHOW
 * DATABASES, SHOW CONFIG, SHOW LISTS) at pgbouncer_1_18_0.
 */

const n = z.number().nullable();

export const poolLimitSchema = z.enum(['pool_size', 'max_db_connections', 'max_user_connections']);

/** One (database, user) pool. */
export const pgbouncerPoolSchema = z.object({
  database: z.string(),
  user: z.string(),
  /** This pool's pooling mode: session, transaction or statement. */
  poolMode: z.string().nullable(),
  /** cl_active: clients linked to a server or idle with nothing to run. */
  clActive: z.number(),
  /** cl_waiting: clients that sent a query and have no server yet. */
  clWaiting: z.number(),
  /** How long the oldest waiting client has waited (maxwait + maxwait_us). */
  maxWaitMs: z.number(),
  svActive: z.number(),
  svIdle: z.number(),
  /** Server connections of the pool in any state. */
  servers: z.number(),
  poolSize: n,
  reservePool: n,
  /** max_db_connections of the database (0: unlimited) and its server connections. */
  maxDbConnections: n,
  dbConnections: n,
  /** max_user_connections (0: unlimited) and the user's server connections over all pools. */
  maxUserConnections: n,
  userConnections: z.number(),
  /** Clients wait and no server connection is idle. */
  saturated: z.boolean(),
  /** The PgBouncer setting that stops more server connections, when saturated; null: none reached (the servers are slow). */
  limit: poolLimitSchema.nullable(),
  limitValue: n,
  /** Waiting clients by application_name (from SHOW CLIENTS), most first. */
  waitingByApplication: z.array(z.object({ application: z.string(), count: z.number() })),
});
export type PgBouncerPoolEvidence = z.infer<typeof pgbouncerPoolSchema>;

export const pgbouncerFailureSchema = z.object({
  kind: z.enum(['auth', 'unreachable', 'timeout', 'error']),
  message: z.string(),
  sqlstate: z.string().optional(),
});

/** One PgBouncer. */
export const pgbouncerInstanceSchema = z.object({
  name: z.string(),
  /** host:port of its console URL, to match a sources.postgres[] URL that points at the same PgBouncer. */
  endpoint: z.string().nullable(),
  reachable: z.boolean(),
  failure: pgbouncerFailureSchema.nullable(),
  version: z.string().nullable(),
  /** The global pool_mode (SHOW CONFIG); each pool carries its own. */
  poolMode: z.string().nullable(),
  maxClientConn: n,
  /** used_clients (SHOW LISTS), our console connection included. */
  usedClients: n,
  /** max_client_conn is reached: PgBouncer refuses new clients. */
  clientLimitReached: z.boolean(),
  queryWaitTimeoutS: n,
  pools: z.array(pgbouncerPoolSchema),
});
export type PgBouncerInstanceEvidence = z.infer<typeof pgbouncerInstanceSchema>;

export const pgbouncerEvidenceSchema = z.object({
  poolers: z.array(pgbouncerInstanceSchema),
});
export type PgBouncerEvidence = z.infer<typeof pgbouncerEvidenceSchema>;
