import type { PgDatabaseEvidence } from '../core/evidence';

/**
 * What the monitoring role could not see, for the rules: sessions pg_stat_activity hides from a
 * role without pg_read_all_stats (their state, waits and ages are NULL). A rule never reads
 * their absence from the lists as "nothing there": it says what it cannot see and caps its
 * confidence at BLIND_CONFIDENCE_CAP where the cause would live in those sessions.
 */

/**
 * The most a cause may claim when the sessions that would show it are hidden: a guess from the
 * pool's trend or the logs may be right, but nobody has seen it.
 */
export const BLIND_CONFIDENCE_CAP = 0.7;

/** Hidden sessions of the application's own client groups on `db`. */
export function hiddenApplicationSessions(db: PgDatabaseEvidence): number {
  return db.clients.filter((g) => g.owner === 'application').reduce((n, g) => n + g.hidden, 0);
}

/** Hidden rows that are probably client backends (any owner). */
export function hiddenClients(db: PgDatabaseEvidence): number {
  return db.visibility?.hiddenClients ?? 0;
}

/** "18 of the application's sessions on "app" are hidden from the monitoring role (...): GRANT ..." or undefined. */
export function blindNote(db: PgDatabaseEvidence, whose: 'application' | 'any'): string | undefined {
  const n = whose === 'application' ? hiddenApplicationSessions(db) : hiddenClients(db);
  if (n === 0) return undefined;
  const who = whose === 'application' ? `of the application's sessions` : 'client sessions';
  const fix = db.visibility?.grant ? `: ${db.visibility.grant}` : '';
  return `${n} ${who} on "${db.name}" ${n === 1 ? 'is' : 'are'} hidden from the monitoring role (no pg_monitor): their state, idle transactions and locks are unknown${fix}`;
}

type Failure = NonNullable<PgDatabaseEvidence['failure']>;

/** Our own connection was refused for a configuration reason: the monitoring's problem, not the database's. */
export function isMonitoringRefusal(f: Failure | null): boolean {
  return !!f?.refusal;
}

/** A pooler answered with its own limit (full, queue too long): the pooler's saturation, not a database outage. */
export function isPoolerLimit(f: Failure | null): boolean {
  const limit = f?.pooler?.limit;
  return limit === 'max_client_conn' || limit === 'query_wait_timeout' || limit === 'queue';
}

/** A failure that may mean the database itself is down or hung. */
export function mayMeanDown(f: Failure | null): boolean {
  return !!f && f.kind !== 'auth' && f.kind !== 'too_many_clients' && !isMonitoringRefusal(f) && !isPoolerLimit(f);
}

/**
 * Which tier a connection-limit refusal says was full (postgres/postgres
 * src/backend/utils/init/postinit.c, InitPostgres): `all` for "sorry, too many clients already";
 * `ordinary` for "remaining connection slots are reserved for roles with privileges of the
 * "pg_use_reserved_connections" role" (16+); `reserved` for "... reserved for roles with the
 * SUPERUSER attribute" (16+) or "... reserved for non-replication superuser connections" (before
 * 16); null for other wordings (a provider's own, e.g. RDS's rds_reserved).
 */
export function refusedTier(message: string): 'all' | 'ordinary' | 'reserved' | null {
  if (/too many clients already/i.test(message)) return 'all';
  if (/reserved for roles with privileges of the "?pg_use_reserved_connections"? role/i.test(message)) return 'ordinary';
  if (/reserved for (roles with the SUPERUSER attribute|non-replication superuser connections)/i.test(message)) return 'reserved';
  return null;
}
