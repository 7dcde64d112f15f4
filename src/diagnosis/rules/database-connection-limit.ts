import type { Rule } from '../rule';
import { factsOf } from '../facts';
import { clamp01, listItems, plural, capConfidence } from '../format';
import type { PgClientGroup, PgDatabaseEvidence } from '../../core/evidence';
import { BLIND_CONFIDENCE_CAP, blindNote, refusedTier } from '../sight';
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
  for (const d of refused) {
    const tier = refusedTier(d.failure!.message);
    const which =
      tier === 'all'
        ? ': every slot, the reserved ones too'
        : tier === 'ordinary'
          ? ': only reserved_connections slots were left'
          : tier === 'reserved'
            ? ': only superuser slots were left'
            : '';
    evidence.push(
      `"${d.name}" refused our monitoring connection${which}: ${d.failure!.message || 'too many clients'}${d.failure!.sqlstate ? ` (SQLSTATE ${d.failure!.sqlstate})` : ''}`,
    );
  }
  if (refused.length > 0) {
    scores.push(LIMIT_WEIGHTS.refused);
    actions.push(
      'To still see inside when the ordinary slots are full, give the monitoring role a reserved slot (PostgreSQL 16+): reserved_connections = 2 and GRANT pg_use_reserved_connections TO <monitoring role>;',
    );
  }

  let near: { db: PgDatabaseEvidence; usable: number; connections: number } | undefined;
  for (const d of facts.reachable) {
    if (d.maxConnections === null || d.connections === null) continue;
    const reserved = d.reservedConnections ?? 0;
    // the enricher's arithmetic where it did it (ours counted), else max_connections minus both reservations
    const usable = d.slots?.usable ?? d.maxConnections - reserved;
    const used = d.slots?.used ?? d.connections;
    const unknown = d.slots?.unknown ?? 0;
    if (usable <= 0) continue;
    const share = used / usable;
    if (share >= DB_CONNECTIONS_NEAR_LIMIT) {
      scores.push(LIMIT_WEIGHTS.nearBase + LIMIT_WEIGHTS.near * clamp01((share - DB_CONNECTIONS_NEAR_LIMIT) / (1 - DB_CONNECTIONS_NEAR_LIMIT)));
      evidence.push(
        `"${d.name}": ${used} of ${usable} usable connections in use (${Math.round(share * 100)}%; max_connections ${d.maxConnections}, ${reserved} reserved)`,
      );
      if (d.slots) evidence.push(`"${d.name}": ${d.slots.whoCanConnect}`);
      if (d.slots && d.slots.ourTier !== 'ordinary') evidence.push(`our monitoring connection got in on a ${d.slots.ourTier} slot: the ordinary ones are full`);
      near ??= { db: d, usable, connections: used };
    } else if (unknown > 0 && (used + unknown) / usable >= DB_CONNECTIONS_NEAR_LIMIT) {
      // hidden sessions may fill the rest: a possibility, not a measure
      scores.push(LIMIT_WEIGHTS.nearBase * BLIND_CONFIDENCE_CAP);
      evidence.push(
        `"${d.name}": ${used} of ${usable} usable connections in use that we can see, and ${unknown} hidden sessions that may be client backends too (up to ${Math.round(((used + unknown) / usable) * 100)}%)`,
      );
      near ??= { db: d, usable, connections: used + unknown };
    } else if (refused.length > 0 || (facts.logs?.signals.too_many_clients ?? 0) > 0) {
      against.push(`"${d.name}" now has ${used} of ${usable} usable connections in use (${Math.round(share * 100)}%)`);
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
    const d = near.db;
    if (d.clients.length > 0) {
      // who holds the slots, the application's share apart from everyone else's
      const whose = (g: PgClientGroup) =>
        g.owner === 'application' ? 'the application' : g.owner === 'person' ? `a person${g.tool ? `, ${g.tool}` : ''}` : 'another client';
      evidence.push(
        `connections by client on "${d.name}": ${listItems(d.clients.map((g) => `${g.application ?? '(no application_name)'} (${whose(g)}, user ${g.user ?? '?'}) ${g.sessions}`))}`,
      );
      const mine = d.clients.filter((g) => g.owner === 'application').reduce((n, g) => n + g.sessions, 0);
      const others = d.clients.filter((g) => g.owner !== 'application');
      const othersTotal = others.reduce((n, g) => n + g.sessions, 0);
      if (othersTotal > mine) evidence.push(`other clients hold ${othersTotal} of the ${near.connections} connections, the application ${mine}`);
      const topOther = others[0];
      if (topOther && topOther.sessions > 0) {
        const app = topOther.application ?? '';
        actions.push(
          `"${app || '(no application_name)'}" (user ${topOther.user ?? '?'}, ${whose(topOther)}) holds ${topOther.sessions} of them: lower its pool's max, or end its idle sessions: SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '${app.replace(/'/g, "''")}' AND usename = '${(topOther.user ?? '').replace(/'/g, "''")}' AND state = 'idle';`,
        );
      }
    } else {
      const apps = Object.entries(d.byApplication).sort((a, b) => b[1] - a[1]);
      if (apps.length > 0) evidence.push(`connections by application on "${d.name}": ${listItems(apps.map(([a, n]) => `${a || '(none)'} ${n}`))}`);
      const [topApp, topN] = apps[0] ?? [];
      if (topApp !== undefined && topN !== undefined) {
        actions.push(
          `"${topApp || '(no application_name)'}" holds ${topN} of them: lower its pool's max, or end its idle sessions: SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '${topApp.replace(/'/g, "''")}' AND state = 'idle';`,
        );
      }
    }
    const blind = blindNote(d, 'any');
    if (blind) evidence.push(`cannot see: ${blind}`);
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
