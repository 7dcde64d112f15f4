import type { PgDatabaseEvidence } from '../../core/evidence';
import type { Rule } from '../rule';
import { factsOf } from '../facts';
import { capConfidence, plural } from '../format';
import { isMonitoringRefusal, isPoolerLimit } from '../sight';
import { LOG_SIGNAL_MIN_LINES, RELATED_ERROR_RATE_ALERT, MAX_CONFIDENCE } from '../thresholds';

type FailureKind = NonNullable<PgDatabaseEvidence['failure']>['kind'];

/**
 * How strongly each failure to reach a database says it is down. "too many clients" is the
 * connection limit's and a refused login is our monitoring role's problem: neither counts here.
 */
export const UNAVAILABLE_BY_KIND: Partial<Record<FailureKind, number>> = {
  /** Connection refused, host unknown, reset: nothing listens. */
  unreachable: 0.75,
  /** It did not answer in time: hung, overloaded, or a network partition. */
  timeout: 0.65,
  /** Our breaker is open after repeated failures. */
  circuit_open: 0.6,
  /** Another error while connecting or querying. */
  error: 0.45,
};

/** Weights of `database_unavailable`. */
export const UNAVAILABLE_WEIGHTS = {
  /** Every monitored database failed, not just one. */
  allDown: 0.05,
  /** The backend's logs show connection errors at least LOG_SIGNAL_MIN_LINES times. */
  logs: 0.15,
  /** Logs alone, without PostgreSQL evidence. */
  logsOnly: 0.5,
  errorRateAlert: 0.05,
  /** The database answers our queries although the logs show connection errors. */
  reachablePenalty: 0.25,
  /**
   * The logs show the pooler (PgBouncer) refusing or timing out clients at least as often as
   * connections fail: the failures are the pooler's doing (it closes a client it timed out), not
   * a database outage.
   */
  poolerPenalty: 0.3,
} as const;

/**
 * `database_unavailable`: the database cannot be reached (refused, timed out, breaker open), or
 * the backend logs show connection errors. Undefined where every database answers and the logs
 * are quiet, and for refusals that are the connection limit's.
 */
export const databaseUnavailable: Rule = (enrichments) => {
  const facts = factsOf(enrichments);
  const dbs = facts.postgres?.databases ?? [];
  // refusals of our own connection and a pooler's own limits say nothing about the database being down
  const down = dbs.filter(
    (d) => !d.reachable && d.failure && UNAVAILABLE_BY_KIND[d.failure.kind] !== undefined && !isMonitoringRefusal(d.failure) && !isPoolerLimit(d.failure),
  );
  const logs = facts.logs;
  const logLines = (logs?.signals.connection_refused ?? 0) + (logs?.signals.connection_error ?? 0);
  if (down.length === 0 && logLines < LOG_SIGNAL_MIN_LINES) return undefined;

  const evidence: string[] = [];
  const against: string[] = [];
  let c: number;
  if (down.length > 0) {
    c = Math.max(...down.map((d) => UNAVAILABLE_BY_KIND[d.failure!.kind]!));
    if (down.length === dbs.length) c += UNAVAILABLE_WEIGHTS.allDown;
    for (const d of down)
      evidence.push(
        `"${d.name}" cannot be reached (${d.failure!.kind}): ${d.failure!.message || 'no message'}${d.failure!.sqlstate ? ` (SQLSTATE ${d.failure!.sqlstate})` : ''}`,
      );
    if (logLines >= LOG_SIGNAL_MIN_LINES) c += UNAVAILABLE_WEIGHTS.logs;
  } else {
    c = UNAVAILABLE_WEIGHTS.logsOnly;
  }
  if (logLines > 0 && logs) {
    const groups = logs.groups.filter((g) => g.signal === 'connection_refused' || g.signal === 'connection_error').sort((a, b) => b.count - a.count);
    evidence.push(
      `backend logs: ${plural(logLines, 'connection error')}${groups[0] ? `, e.g. ${groups[0].shape.slice(0, 160)} (${groups[0].count}×${groups[0].lastSeen ? `, last ${groups[0].lastSeen}` : ''})` : ''}`,
    );
  }
  if (facts.relatedFiring.has(RELATED_ERROR_RATE_ALERT)) {
    c += UNAVAILABLE_WEIGHTS.errorRateAlert;
    evidence.push(`${RELATED_ERROR_RATE_ALERT} is firing too`);
  }
  const up = dbs.filter((d) => d.reachable);
  if (up.length > 0) {
    if (down.length === 0) c -= UNAVAILABLE_WEIGHTS.reachablePenalty;
    against.push(
      `${up.map((d) => `"${d.name}"`).join(', ')} ${up.length === 1 ? 'answers' : 'answer'} our queries${down.length === 0 ? ': the backend may use another address or credentials' : ''}`,
    );
  }
  const auth = dbs.filter((d) => !d.reachable && (d.failure?.kind === 'auth' || isMonitoringRefusal(d.failure)));
  if (auth.length > 0)
    against.push(
      `${auth.map((d) => `"${d.name}"`).join(', ')} refused our monitoring connection for a configuration reason (${auth.map((d) => d.failure!.refusal?.replace(/_/g, ' ') ?? 'login').join(', ')}): that is the monitoring's problem, not a sign the database is down`,
    );
  const pooler = logs?.classes?.pooler_limit ?? 0;
  if (pooler > 0) {
    if (down.length === 0 && pooler >= logLines) c -= UNAVAILABLE_WEIGHTS.poolerPenalty;
    const g = logs!.groups.filter((x) => x.class === 'pooler_limit').sort((a, b) => b.count - a.count)[0];
    against.push(
      `backend logs: ${plural(pooler, 'refusal or timeout', 'refusals or timeouts')} by the pooler${g ? `, e.g. ${g.shape.slice(0, 160)}` : ''}: the pooler turned clients away, which is not the database going down`,
    );
  }
  const pooled = dbs.filter((d) => !d.reachable && isPoolerLimit(d.failure));
  if (pooled.length > 0)
    against.push(
      `${pooled.map((d) => `"${d.name}"`).join(', ')}: the connection pooler in front answered with its own limit (${pooled.map((d) => d.failure!.pooler!.limit).join(', ')}), not the database`,
    );
  if (facts.pool?.idle !== null && facts.pool?.idle !== undefined && facts.pool.idle > 0)
    against.push(`the pool still has ${facts.pool.idle} idle connections`);

  const names = (down.length > 0 ? down : dbs).map((d) => `"${d.name}"`).join(', ') || 'the database';
  const actions = [
    `Check that PostgreSQL ${names} runs and accepts connections: pg_isready -h <host> -p <port> from the backend's host, and systemctl status / docker ps on the server.`,
    'Read the server\'s own log for a crash, a restart, a full disk or an out-of-memory kill (PANIC, FATAL, "database system is shut down").',
  ];
  if (down.some((d) => d.failure!.kind === 'timeout'))
    actions.push('It did not answer in time: check whether the server is hung or overloaded (CPU, IO, a stuck postmaster) or the network path drops packets.');
  else
    actions.push(
      'Check the network path and DNS between the backend and the database, and after a failover whether the backend still points at the old primary.',
    );
  return { id: 'database_unavailable', title: 'Database unavailable', confidence: capConfidence(c, MAX_CONFIDENCE), evidence, actions, against };
};
