import { z } from 'zod';
import { isTimeZone } from './logs/time';
import { regexSourceSchema } from '../core/zod';

/**
 * `sources`: where the enrichers look. Each source's own schema lives here so the loader can
 * compose them; the clients that use them live beside this file.
 */

/** True when the user and password of `url` are valid percent-encoding (the clients decode them); a non-URL is left to the URL check. */
function credentialsDecode(url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return true;
  }
  try {
    decodeURIComponent(u.username);
    decodeURIComponent(u.password);
    return true;
  } catch {
    return false;
  }
}

const httpUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http(s) URL', abort: true })
  .refine(credentialsDecode, 'the user or password in the URL is not valid percent-encoding (write % as %25)');

/** `sources.prometheus` */
export const prometheusSourceSchema = z.strictObject({
  url: httpUrl,
  timeoutMs: z.number().int().positive().default(5_000),
});
export type PrometheusSource = z.infer<typeof prometheusSourceSchema>;

/** `sources.alertmanager` */
export const alertmanagerSourceSchema = z.strictObject({
  url: httpUrl,
  timeoutMs: z.number().int().positive().default(5_000),
});
export type AlertmanagerSource = z.infer<typeof alertmanagerSourceSchema>;

/** A glob over application_name or usename: `*` any run of characters, `?` one; case-sensitive like both columns. */
const sessionGlob = z.string().min(1).max(200);

/**
 * `sources.postgres[].application`: which sessions are the application's own. A session is the
 * application's when its application_name matches one of `names` (if any are given) and its
 * usename one of `users` (if any are given).
 */
export const applicationSessionsSchema = z
  .strictObject({
    names: z.array(sessionGlob).max(50).default([]),
    users: z.array(sessionGlob).max(50).default([]),
  })
  .refine((a) => a.names.length > 0 || a.users.length > 0, 'give names (application_name globs), users (usename globs) or both');
export type ApplicationSessions = z.infer<typeof applicationSessionsSchema>;

/** `sources.postgres[]`: a monitored database, reached with a read-only monitoring role. */
export const postgresSourceSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, "_", "." or "-"'),
  url: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'),
  timeoutMs: z.number().int().positive().default(5_000),
  /** Server-side statement_timeout for our diagnostic queries. */
  statementTimeoutMs: z.number().int().positive().default(2_000),
  /** Server-side lock_timeout for our diagnostic queries. */
  lockTimeoutMs: z.number().int().positive().default(500),
  /** After a failure, stop trying for this long (circuit breaker). */
  breakerCooldownMs: z.number().int().nonnegative().default(30_000),
  /** Failures in a row that open the breaker. */
  breakerThreshold: z.number().int().positive().default(3),
  /** Our session's application_name (how to find us in pg_stat_activity; we leave it out of the evidence). */
  applicationName: z.string().min(1).max(63).default('pagefirst'),
  /** Our single connection is closed after this long unused, so an idle monitor holds no slot. */
  idleCloseMs: z.number().int().positive().default(10_000),
  /** Which sessions are the application's own; default: those matching the alert's service, else the largest client group. */
  application: applicationSessionsSchema.optional(),
});
export type PostgresSource = z.infer<typeof postgresSourceSchema>;

/** The admin console's database: PgBouncer's virtual database is always named `pgbouncer` (pgbouncer/pgbouncer doc/usage.md, "Admin console"). */
export const PGBOUNCER_ADMIN_DATABASE = 'pgbouncer';

/** True when `url` names the admin console's database (or is not a parsable URL, which the format check reports). */
function namesAdminDatabase(url: string): boolean {
  try {
    return decodeURIComponent(new URL(url).pathname.replace(/^\//, '')) === PGBOUNCER_ADMIN_DATABASE;
  } catch {
    return true;
  }
}

/** `sources.pgbouncer[]`: a PgBouncer's admin console, read with a user in its `stats_users` (or `admin_users`). */
export const pgbouncerSourceSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, "_", "." or "-"'),
  url: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .refine(credentialsDecode, 'the user or password in the URL is not valid percent-encoding (write % as %25)')
    .refine(namesAdminDatabase, `must name PgBouncer's admin console database: postgres://user:password@host:6432/${PGBOUNCER_ADMIN_DATABASE}`),
  /** Deadline of one reading of the console (waiting for our connection included). */
  timeoutMs: z.number().int().positive().default(5_000),
});
export type PgBouncerSource = z.infer<typeof pgbouncerSourceSchema>;

const logsCommon = {
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, "_", "." or "-"'),
  timeoutMs: z.number().int().positive().default(5_000),
  /** How many recent lines to read. */
  tail: z.number().int().positive().max(100_000).default(2_000),
  /** The zone of timestamps the application writes without one (src/sources/logs/time.ts). */
  timezone: z.string().default('UTC').refine(isTimeZone, 'must be a time zone: an IANA name such as Europe/Berlin, UTC, or an offset such as +02:00'),
  /** Overrides the built-in stack-trace folding: a line matching `start` begins an event, any other line continues it. */
  multiline: z.strictObject({ start: regexSourceSchema }).optional(),
};

/** A DNS-1123 label (namespace and container names; Kubernetes' IsDNS1123Label, apimachinery pkg/util/validation/validation.go). */
const dns1123Label = z
  .string()
  .max(63, 'must be at most 63 characters')
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label: lower-case letters, digits and "-", starting and ending with a letter or digit');

/**
 * `sources.logs[].kubernetes`: the pods whose logs are read, through the Kubernetes API
 * (src/sources/logs/kubernetes.ts). The alert's `namespace`, `pod` and `container` labels may
 * narrow this choice, never widen it.
 */
export const kubernetesLogSchema = z.strictObject({
  /** Default: the kubeconfig context's namespace; in a pod, the service account's own namespace. */
  namespace: dns1123Label.optional(),
  /** A label selector as `kubectl get pods -l` takes it (`app=checkout,tier!=batch`); the API server checks its syntax. */
  labelSelector: z.string().min(1).max(1_024),
  /** Default: the pod's `kubectl.kubernetes.io/default-container` annotation, else its first container. */
  container: dns1123Label.optional(),
  /** A kubeconfig file; default: the in-cluster service account (its token and CA under /var/run/secrets/kubernetes.io/serviceaccount/). */
  kubeconfig: z.string().min(1).optional(),
  /** Most pods read in one run (current and, after a restart, previous container each). */
  maxPods: z.number().int().min(1).max(50).default(5),
  /** Only lines newer than this (the log API's `sinceSeconds`). */
  sinceMinutes: z.number().positive().max(10_080).default(15),
});

/** `sources.logs[]`: exactly one of docker, file, loki, kubernetes. */
export const logSourceSchema = z.union(
  [
    z.strictObject({
      ...logsCommon,
      docker: z.strictObject({ socket: z.string().default('/var/run/docker.sock'), container: z.string().min(1), apiVersion: z.string().default('v1.43') }),
    }),
    z.strictObject({ ...logsCommon, file: z.strictObject({ path: z.string().min(1) }) }),
    z.strictObject({
      ...logsCommon,
      loki: z.strictObject({ url: httpUrl, query: z.string().min(1), orgId: z.string().optional(), sinceMinutes: z.number().positive().default(15) }),
    }),
    z.strictObject({ ...logsCommon, kubernetes: kubernetesLogSchema }),
  ],
  { error: 'must have exactly one of docker, file, loki or kubernetes' },
);
export type LogSource = z.infer<typeof logSourceSchema>;

function uniqueNames<T extends { name: string }>(items: T[], ctx: z.RefinementCtx) {
  const seen = new Set<string>();
  items.forEach((it, i) => {
    if (seen.has(it.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate name "${it.name}"` });
    seen.add(it.name);
  });
}

export const sourcesConfigSchema = z.strictObject({
  prometheus: prometheusSourceSchema.optional(),
  alertmanager: alertmanagerSourceSchema.optional(),
  postgres: z.array(postgresSourceSchema).superRefine(uniqueNames).default([]),
  pgbouncer: z.array(pgbouncerSourceSchema).superRefine(uniqueNames).default([]),
  logs: z.array(logSourceSchema).superRefine(uniqueNames).default([]),
});
export type SourcesConfig = z.infer<typeof sourcesConfigSchema>;
