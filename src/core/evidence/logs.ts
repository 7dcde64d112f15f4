import { z } from 'zod';

/** Which runbook signal a log shape is: the rules' first vocabulary, kept for them. */
export const LOG_SIGNALS = ['too_many_clients', 'pool_timeout', 'connection_refused', 'connection_error', 'other'] as const;

/**
 * What a log event is evidence of, by the signature table (src/enrichers/logs/signatures.ts), in
 * the table's order of precedence:
 * - `leak_warning`: a pool's leak detection names a connection checked out and not returned;
 * - `pooler_limit`: the pooler (PgBouncer) refused the client or timed it out;
 * - `too_many_clients`: the database server's own connection limit;
 * - `auth_failed`: the server refused the login;
 * - `connection_refused`: nothing accepts connections, or the server is starting or stopping;
 * - `pool_timeout`: the application's own pool gave up waiting for a connection;
 * - `connection_lost`: an established connection was closed or broken;
 * - `connection_error`: a new connection failed for another reason (connect timeout, DNS, route);
 * - `timeout`: a deadline passed and the text does not say what waited.
 */
export const LOG_EVENT_CLASSES = [
  'leak_warning',
  'pooler_limit',
  'too_many_clients',
  'auth_failed',
  'connection_refused',
  'pool_timeout',
  'connection_lost',
  'connection_error',
  'timeout',
] as const;
export type LogEventClass = (typeof LOG_EVENT_CLASSES)[number];

const perClass = z.object(Object.fromEntries(LOG_EVENT_CLASSES.map((c) => [c, z.number().nonnegative()])) as Record<LogEventClass, z.ZodNumber>);

/** Matching events of one shape. */
export const logGroupSchema = z.object({
  /** The event's first line (or JSON level, message and error) with numbers, ids, quoted strings and addresses replaced. */
  shape: z.string(),
  /** Events. */
  count: z.number().nonnegative(),
  firstSeen: z.string().nullable(),
  lastSeen: z.string().nullable(),
  signal: z.enum(LOG_SIGNALS),
  /** Its class by the signature table; null: none of its rows. Absent in evidence older than the table. */
  class: z.enum(LOG_EVENT_CLASSES).nullable().optional(),
  /** The signature row's id. */
  signature: z.string().nullable().optional(),
});
export type LogGroup = z.infer<typeof logGroupSchema>;

/** A place in the application's code, as a stack frame names it. */
export const codeLocationSchema = z.object({
  /** Java/Kotlin: the class; Go: the package and receiver; Node and Python: null. */
  class: z.string().nullable(),
  method: z.string().nullable(),
  file: z.string().nullable(),
  line: z.number().int().nullable(),
  /** The frame as written (secrets masked). */
  frame: z.string(),
});
export type CodeLocation = z.infer<typeof codeLocationSchema>;

/** Leak warnings of one pool that name one code location (or none). */
export const logLeakSchema = z.object({
  /** The pool that warned (HikariCP, Tomcat JDBC pool, Apache DBCP2, SQLAlchemy). */
  library: z.string(),
  signature: z.string(),
  /** Warnings. */
  count: z.number().nonnegative(),
  firstSeen: z.string().nullable(),
  lastSeen: z.string().nullable(),
  /** Threads that borrowed the connections, first few. */
  threads: z.array(z.string()),
  /** The first application frame of the stack taken when the connection was borrowed: the code that did not return it. */
  location: codeLocationSchema.nullable(),
  /** The location as text: `com.example.Foo.bar (Foo.java:88)`. */
  where: z.string().nullable(),
  /** Why there is no location, in a sentence. */
  noLocation: z.string().nullable(),
});
export type LogLeak = z.infer<typeof logLeakSchema>;

/** `logs`: matching events from the backend's logs. Fields marked optional are absent in evidence written before they existed. */
export const logsEvidenceSchema = z.object({
  sources: z.array(
    z.object({
      name: z.string(),
      kind: z.enum(['docker', 'file', 'loki', 'kubernetes']),
      /** Lines the source handed over. */
      scanned: z.number(),
      /** Matching events. */
      matched: z.number(),
      error: z.string().nullable(),
      problems: z.array(z.string()).optional(),
      /** Events the lines folded into. */
      events: z.number().optional(),
      /** Lines left out as binary data. */
      binary: z.number().optional(),
      /** Lines read with invalid UTF-8. */
      invalidUtf8: z.number().optional(),
      /** Matching events left out for their time (outside `window`). */
      outsideWindow: z.number().optional(),
      /** The zone times written without one were read in (`sources.logs[].timezone`). */
      timezone: z.string().optional(),
      /** Lines whose time had no zone. */
      zoneless: z.number().optional(),
    }),
  ),
  /** Matching events. */
  matched: z.number(),
  groups: z.array(logGroupSchema),
  /** Occurrences per signal (too_many_clients, pool_timeout, connection_refused; connection_error is lost + failed connections); other: the remaining matching events. */
  signals: z.object({
    too_many_clients: z.number().nonnegative(),
    pool_timeout: z.number().nonnegative(),
    connection_refused: z.number().nonnegative(),
    connection_error: z.number().nonnegative(),
    other: z.number().nonnegative(),
  }),
  /** Occurrences per class: one error logged by several layers of one thread within a second counts once. */
  classes: perClass.optional(),
  /** Matching events per class. */
  classEvents: perClass.optional(),
  /** Leak warnings by code location, most first. */
  leaks: z.array(logLeakSchema).optional(),
  /** Events with a time outside [from, to] were left out. */
  window: z.object({ from: z.string(), to: z.string() }).optional(),
});
export type LogsEvidence = z.infer<typeof logsEvidenceSchema>;
