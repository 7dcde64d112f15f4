import type { Rule } from '../rule';
import { factsOf } from '../facts';
import { clamp01, listItems, plural, capConfidence } from '../format';
import { DB_CONNECTIONS_NEAR_LIMIT, LOG_SIGNAL_MIN_LINES, MAX_CONFIDENCE } from '../thresholds';

/** Weights of `database_connection_limit`. */
export const LIMIT_WEIGHTS = {
  /** Our own monitoring connection was refused with "too many clients" (SQLSTATE 53300). */
  refused: 0.85,
  /** Client backends at DB_CONNECTIONS_NEAR_LIMIT of the usable slots ... */
  nearBase: 0.5,
  /** ... plus this in proportion up to 100% of them. */
  near: 0.35,
  /** The backend's logs show "too many clients" at least LOG_SIGNAL_MIN_LINES times. */
  logs: 0.6,
  /** Fewer log lines than that. */
  fewLogs: 0.35,
  /** Each further independent signal (refusal, near limit, logs). */
  corroborated: 0.1,
} as const;

/**
 * `database_connection_limit`: the server is at or near `max_connections` (minus the reserved
 * slots), refused our connection for too many clients, or the backend logs say so. Names who
 * holds the connections. Undefined where none of that is seen.
 */
export const databaseConnectionLimit: Rule = (enrichments) => {
  const facts = factsOf(enrichments);
  const dbs = facts.postgres?.databases ?? [];
  const evidence: string[] = [];
  const against: string[] = [];
  const actions: string[] = [];
  const scores: number[] = [];

  const refused = dbs.filter((d) => d.failure?.kind === 'too_many_clients');
  for (const d of refused)
    evidence.push(
      `"${d.name}" refused a connection: ${d.failure!.message || 'too many clients'}${d.failure!.sqlstate ? ` (SQLSTATE ${d.failure!.sqlstate})` : ''}`,
    );
  if (refused.length > 0) scores.push(LIMIT_WEIGHTS.refused);

  let near: { name: string; usable: number; connections: number; byApplication: Record<string, number>; max: number; reserved: number } | undefined;
  for (const d of facts.reachable) {
    if (d.maxConnections === null || d.connections === null) continue;
    const reserved = d.reservedConnections ?? 0;
    const usable = d.maxConnections - reserved;
    if (usable <= 0) continue;
    const share = d.connections / usable;
    if (share >= DB_CONNECTIONS_NEAR_LIMIT) {
      scores.push(LIMIT_WEIGHTS.nearBase + LIMIT_WEIGHTS.near * clamp01((share - DB_CONNECTIONS_NEAR_LIMIT) / (1 - DB_CONNECTIONS_NEAR_LIMIT)));
      evidence.push(
        `"${d.name}": ${d.connections} of ${usable} usable connections in use (${Math.round(share * 100)}%; max_connections ${d.maxConnections}, ${reserved} reserved)`,
      );
      near ??= { name: d.name, usable, connections: d.connections, byApplication: d.byApplication, max: d.maxConnections, reserved };
    } else if (refused.length > 0 || (facts.logs?.signals.too_many_clients ?? 0) > 0) {
      against.push(`"${d.name}" now has ${d.connections} of ${usable} usable connections in use (${Math.round(share * 100)}%)`);
    }
  }

  const logLines = facts.logs?.signals.too_many_clients ?? 0;
  if (logLines > 0) {
    scores.push(logLines >= LOG_SIGNAL_MIN_LINES ? LIMIT_WEIGHTS.logs : LIMIT_WEIGHTS.fewLogs);
    const g = facts.logs!.groups.filter((x) => x.signal === 'too_many_clients').sort((a, b) => b.count - a.count)[0];
    evidence.push(
      `backend logs: ${plural(logLines, 'line')} of "too many clients"${g ? `, e.g. ${g.shape.slice(0, 160)} (${g.count}×${g.lastSeen ? `, last ${g.lastSeen}` : ''})` : ''}`,
    );
  }
  if (scores.length === 0) return undefined;
  const c = Math.max(...scores) + LIMIT_WEIGHTS.corroborated * (scores.length - 1);

  if (near) {
    const apps = Object.entries(near.byApplication).sort((a, b) => b[1] - a[1]);
    if (apps.length > 0) evidence.push(`connections by application on "${near.name}": ${listItems(apps.map(([a, n]) => `${a || '(none)'} ${n}`))}`);
    const [topApp, topN] = apps[0] ?? [];
    if (topApp !== undefined && topN !== undefined) {
      actions.push(
        `"${topApp || '(no application_name)'}" holds ${topN} of them: lower its pool's max, or end its idle sessions: SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '${topApp.replace(/'/g, "''")}' AND state = 'idle';`,
      );
    }
    const pool = facts.pool;
    if (pool && facts.poolTotal !== null) {
      const per = Math.round(facts.poolTotal / facts.instances);
      actions.push(
        `Keep instances × pool max within the ${near.usable} usable connections: now ${facts.instances} × ${per} = ${facts.instances * per} for this backend, plus every other client.`,
      );
    }
  }
  actions.push('See who holds the connections: SELECT usename, application_name, state, count(*) FROM pg_stat_activity GROUP BY 1, 2, 3 ORDER BY 4 DESC;');
  actions.push(
    'Put PgBouncer (transaction pooling) in front so many client connections share few server connections; raise max_connections (needs a restart, costs memory per connection) only if the server has room.',
  );
  if (facts.pool?.active !== null && facts.pool?.active !== undefined && near && facts.pool.active < near.connections / 2) {
    evidence.push(`this backend's pool holds only ${facts.pool.active} of the ${near.connections} connections: other clients use most of them`);
  }
  return {
    id: 'database_connection_limit',
    title: 'Database connection limit reached',
    confidence: capConfidence(c, MAX_CONFIDENCE),
    evidence,
    actions,
    against,
  };
};
