import type { PgBouncerInstanceEvidence, PgBouncerPoolEvidence } from '../../core/evidence';
import type { Rule } from '../rule';
import { factsOf } from '../facts';
import { capConfidence, clamp01, fmtMs, listItems, plural } from '../format';
import { isPoolerLimit } from '../sight';
import { LOCK_WAIT_MIN_MS, LOG_SIGNAL_MIN_LINES, MAX_CONFIDENCE } from '../thresholds';

/** Weights of `pooler_saturated`. */
export const POOLER_WEIGHTS = {
  /** A PgBouncer pool has clients waiting and one of its limits (pool_size, max_db_connections, max_user_connections) reached. */
  limitBase: 0.6,
  /** PgBouncer refuses new clients: max_client_conn reached. */
  clientLimitBase: 0.6,
  /** Clients wait but no PgBouncer limit is reached: its servers are all busy, so the database is slow rather than the pooler small. */
  busyBase: 0.35,
  /** Our own monitoring connection waited in the pooler's queue or was refused by it (no console read). */
  ourWaitBase: 0.5,
  /** The backend's logs show the pooler refusing or timing out clients at least LOG_SIGNAL_MIN_LINES times (the logs enricher's pooler_limit class). */
  logsBase: 0.45,
  /** Each further independent source (console, our own connection, logs). */
  corroborated: 0.05,
  /** Added in proportion to the waiting clients against the pool's size, in full at as many waiting as the pool holds. */
  waitingShare: 0.15,
  /** The oldest waiting client has waited at least LOCK_WAIT_MIN_MS. */
  longWait: 0.05,
  /** The database behind answers with ordinary slots free and no lock waits: the pooler, not PostgreSQL, is the bottleneck. */
  healthyDatabase: 0.1,
  /** The database behind is itself full or locked: that explains the pooler's queue. */
  busyDatabasePenalty: 0.2,
} as const;

interface Saturated {
  pooler: PgBouncerInstanceEvidence;
  pool: PgBouncerPoolEvidence;
}

const LIMIT_SETTING: Record<NonNullable<PgBouncerPoolEvidence['limit']>, string> = {
  pool_size: 'pool_size',
  max_db_connections: 'max_db_connections',
  max_user_connections: 'max_user_connections',
};

/** "pool app/app is full at pool_size 20 (20 server connections), 35 clients waiting, the oldest for 4.2 s". */
function poolLine(x: Saturated): string {
  const p = x.pool;
  const where = `PgBouncer "${x.pooler.name}", pool ${p.database}/${p.user}${p.poolMode ? ` (${p.poolMode} pooling)` : ''}`;
  const waiting = `${plural(p.clWaiting, 'client')} waiting for a server connection, the oldest for ${fmtMs(p.maxWaitMs)}`;
  if (p.limit === 'pool_size')
    return `${where} is full at pool_size ${p.limitValue}${p.reservePool ? ` + reserve_pool ${p.reservePool}` : ''} (${p.servers} server connections): ${waiting}`;
  if (p.limit === 'max_db_connections')
    return `${where}: database ${p.database} is at max_db_connections ${p.limitValue} (${p.dbConnections} server connections over its pools, pool_size ${p.poolSize ?? '?'}): ${waiting}`;
  if (p.limit === 'max_user_connections')
    return `${where}: user ${p.user} is at max_user_connections ${p.limitValue} (${p.userConnections} server connections): ${waiting}`;
  return `${where}: ${waiting}, with no PgBouncer limit reached (${p.servers} server connections, all busy)`;
}

/**
 * `pooler_saturated`: a connection pooler in front of the database is the bottleneck. PgBouncer's
 * console shows clients waiting in a pool whose limit is reached (pool_size, max_db_connections,
 * max_user_connections) or max_client_conn reached; or our own monitoring connection waited in the
 * pooler's queue or was refused by its limit; or the backend's logs show the pooler turning clients
 * away. Names PgBouncer's setting and by how much. Lower
 * where the database behind is itself full or locked (that explains the queue), higher where it
 * answers with room to spare. Undefined where no pooler shows saturation.
 */
export const poolerSaturated: Rule = (enrichments) => {
  const facts = factsOf(enrichments);
  const poolers = (facts.pgbouncer?.poolers ?? []).filter((p) => p.reachable);
  const saturated: Saturated[] = poolers
    .flatMap((pooler) => pooler.pools.filter((pool) => pool.saturated).map((pool) => ({ pooler, pool })))
    .sort((a, b) => b.pool.clWaiting - a.pool.clWaiting);
  const limited = saturated.filter((x) => x.pool.limit !== null);
  const clientFull = poolers.filter((p) => p.clientLimitReached);
  const ourWaits = (facts.postgres?.databases ?? []).filter((d) => !d.reachable && isPoolerLimit(d.failure));
  const logLines = facts.logs?.classes?.pooler_limit ?? 0;
  if (saturated.length === 0 && clientFull.length === 0 && ourWaits.length === 0 && logLines < LOG_SIGNAL_MIN_LINES) return undefined;

  const evidence: string[] = [];
  const against: string[] = [];
  const actions: string[] = [];
  const scores: number[] = [];

  for (const x of saturated.slice(0, 3)) evidence.push(poolLine(x));
  if (saturated.length > 3) evidence.push(`and ${plural(saturated.length - 3, 'more saturated pool')}`);
  for (const x of saturated.slice(0, 3)) {
    const who = x.pool.waitingByApplication;
    if (who.length) evidence.push(`waiting in ${x.pool.database}/${x.pool.user}: ${listItems(who.map((w) => `${w.application} ${w.count}`))}`);
  }
  if (limited.length > 0) {
    const top = limited[0]!.pool;
    scores.push(POOLER_WEIGHTS.limitBase + POOLER_WEIGHTS.waitingShare * clamp01(top.clWaiting / Math.max(1, top.limitValue ?? top.servers)));
  } else if (saturated.length > 0) {
    scores.push(POOLER_WEIGHTS.busyBase);
  }
  for (const p of clientFull) {
    evidence.push(
      `PgBouncer "${p.name}" is at max_client_conn ${p.maxClientConn} (${p.usedClients} client connections): it refuses new clients with "no more connections allowed (max_client_conn)"`,
    );
    scores.push(POOLER_WEIGHTS.clientLimitBase);
  }
  for (const d of ourWaits) {
    evidence.push(
      `our monitoring connection to "${d.name}" went through the pooler and ${d.failure!.pooler!.limit === 'max_client_conn' ? 'was refused by its max_client_conn' : 'waited in its queue for a server connection'}: ${d.failure!.message}`,
    );
    scores.push(POOLER_WEIGHTS.ourWaitBase);
  }
  if (logLines > 0) {
    const g = (facts.logs?.groups ?? []).filter((x) => x.class === 'pooler_limit').sort((a, b) => b.count - a.count)[0];
    evidence.push(
      `backend logs: the pooler refused or timed out clients ${plural(logLines, 'time')}${g ? `, e.g. ${g.shape.slice(0, 160)} (${g.count}×${g.lastSeen ? `, last ${g.lastSeen}` : ''})` : ''}`,
    );
    if (logLines >= LOG_SIGNAL_MIN_LINES) scores.push(POOLER_WEIGHTS.logsBase);
  }
  let c = Math.max(...scores) + POOLER_WEIGHTS.corroborated * (scores.length - 1);
  const longest = Math.max(0, ...saturated.map((x) => x.pool.maxWaitMs));
  if (longest >= LOCK_WAIT_MIN_MS) c += POOLER_WEIGHTS.longWait;

  // the database behind: room to spare makes the pooler the bottleneck; full or locked explains the queue
  const dbs = facts.reachable;
  const locked = dbs.filter((d) => d.lockTrees.length > 0 || d.blockingChains.some((b) => b.waitingPids.length > 0));
  const full = dbs.filter((d) => d.slots !== null && d.slots.freeOrdinary - d.slots.unknown <= 0);
  if (locked.length > 0 || full.length > 0) {
    c -= POOLER_WEIGHTS.busyDatabasePenalty;
    if (locked.length)
      against.push(
        `${locked.map((d) => `"${d.name}"`).join(', ')} ${locked.length === 1 ? 'has' : 'have'} lock waits: PgBouncer's server connections wait on them, which fills its pool`,
      );
    if (full.length)
      against.push(
        `${full.map((d) => `"${d.name}"`).join(', ')} ${full.length === 1 ? 'is' : 'are'} out of ordinary connection slots: PgBouncer could not open more server connections anyway`,
      );
  } else if (dbs.length > 0 && dbs.every((d) => d.slots !== null && d.slots.freeOrdinary - d.slots.unknown > 0)) {
    c += POOLER_WEIGHTS.healthyDatabase;
    evidence.push(
      `PostgreSQL behind it has room: ${dbs.map((d) => `"${d.name}" ${d.slots!.freeOrdinary} of ${d.slots!.usable} ordinary slots free`).join(', ')}`,
    );
  }
  if (limited.length === 0 && saturated.length > 0)
    against.push("no PgBouncer limit is reached: its server connections are all busy, so the database's answers are slow, not the pooler small");
  if (facts.poolSaturated === true && facts.pool?.active !== null && facts.pool?.active !== undefined && facts.pool.total !== null)
    evidence.push(`the application's pool is exhausted too (${facts.pool.active} of ${facts.pool.total} checked out): its connections wait inside the pooler`);

  for (const x of limited.slice(0, 3)) {
    const p = x.pool;
    const setting = LIMIT_SETTING[p.limit!];
    const target = (p.limitValue ?? 0) + p.clWaiting;
    const room = dbs.map((d) => d.slots).find((s) => s !== null);
    const roomText = room
      ? ` PostgreSQL has ${Math.max(0, room.freeOrdinary - room.unknown)} ordinary slots free: never raise it beyond what max_connections leaves.`
      : '';
    const where =
      p.limit === 'max_user_connections' ? `[users] ${p.user} = max_user_connections=${target}` : `[databases] ${p.database} = ... ${setting}=${target}`;
    actions.push(
      `Raise PgBouncer's ${setting} for ${p.limit === 'max_user_connections' ? `user ${p.user}` : `database ${p.database}`} from ${p.limitValue} by the ${p.clWaiting} waiting clients (to about ${target}): ${where} in pgbouncer.ini, then RELOAD on its console.${roomText}`,
    );
    if (p.poolMode === 'session')
      actions.push(
        `Pool ${p.database}/${p.user} uses session pooling: each client holds a server connection for its whole session. Transaction pooling (pool_mode = transaction) lets the same servers serve many more clients, if the application does not rely on session state.`,
      );
  }
  for (const p of clientFull)
    actions.push(
      `Raise max_client_conn on PgBouncer "${p.name}" (now ${p.maxClientConn}) and the file-descriptor limit with it (ulimit -n), or find which client opens so many connections (SHOW CLIENTS).`,
    );
  if ((ourWaits.length > 0 || logLines > 0) && poolers.length === 0)
    actions.push("Configure sources.pgbouncer[] (a stats_users user on PgBouncer's admin console) to see which of its limits is reached.");
  if (limited.length === 0 && saturated.length > 0)
    actions.push('Look at what the server connections are doing (the postgres section: long-running queries, lock waits) before resizing the pooler.');

  if (actions.length === 0)
    actions.push(
      "Read the pooler's pools on its console (SHOW POOLS: cl_waiting and maxwait say which pool queues, SHOW DATABASES its pool_size and max_db_connections).",
    );
  return { id: 'pooler_saturated', title: 'Connection pooler saturated', confidence: capConfidence(c, MAX_CONFIDENCE), evidence, actions, against };
};
