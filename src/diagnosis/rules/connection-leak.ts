import type { Cause } from '../../core/diagnostic';
import { IDLE_SETTLED_MS, type PgDatabaseEvidence, type PgSession } from '../../core/evidence';
import { BLIND_CONFIDENCE_CAP, blindNote, hiddenApplicationSessions, mayMeanDown } from '../sight';
import type { Rule } from '../rule';
import { factsOf, holdsLocks, poolPhrase, poolWaitsPhrase, trafficPhrase, type Facts } from '../facts';
import { clamp01, fmtMs, listItems, plural, shortQuery, TERMINATE_MAX_LINES, capConfidence } from '../format';
import { LEAK_IDLE_IN_TX_MIN_MS, SLOW_QUERY_MIN_MS, MAX_CONFIDENCE } from '../thresholds';

/** Weights of `connection_leak`; each term is documented where it is applied. */
export const LEAK_WEIGHTS = {
  /** Any session idle in transaction beyond LEAK_IDLE_IN_TX_MIN_MS is a forgotten transaction. */
  idleInTxBase: 0.5,
  /** Added in proportion to the share of the pool they hold, in full at half of it. */
  idleInTxShare: 0.2,
  /** The pool has connections checked out that the database sees as idle (held outside any transaction). */
  heldIdleBase: 0.45,
  /** Only the pool's trend speaks: active climbing while traffic is not growing. */
  climbingBase: 0.35,
  flatTraffic: 0.1,
  climbing: 0.1,
  saturated: 0.1,
  /** A traffic rise also fills a pool: it weakens the leak. */
  trafficGrowingPenalty: 0.25,
  /**
   * Only the pool's own leak detection speaks (HikariCP, Tomcat JDBC, DBCP2, SQLAlchemy in the
   * backend's logs): a connection held past the leak threshold. A slow query holding its
   * connection trips it too, so it is not more than the database's own view of a leak.
   */
  leakWarningBase: 0.45,
  /** Leak warnings beside another sign of a leak. */
  leakWarning: 0.15,
} as const;

/** The database's working sessions must be below this share of the pool's checked-out ones to call them "held idle". */
export const HELD_IDLE_MAX_SHARE = 0.5;

interface Leaked {
  db: string;
  s: PgSession;
}

const ageOf = (s: PgSession) => s.stateAgeMs ?? s.xactAgeMs;

/**
 * Whether a session idle in transaction can be the application's leak: the application's own;
 * one of unknown owner (older evidence, or no rule could tell whose sessions are whose); never a
 * person's SQL tool or another client's (those are lock_contention's or database_connection_limit's
 * evidence when they hold locks or slots, else noise).
 */
function mayBeTheApplications(s: PgSession, db: PgDatabaseEvidence): boolean {
  if (s.owner === 'application' || s.owner === null) return true;
  return s.owner === 'other' && db.application?.how === 'none';
}

function leakedSessions(facts: Facts): Leaked[] {
  const out: Leaked[] = [];
  for (const db of facts.reachable) {
    for (const s of db.idleInTransaction) {
      if (holdsLocks(s.pid, facts)) continue; // a lock holder is lock_contention's root, not a leak
      if (!mayBeTheApplications(s, db)) continue;
      const age = ageOf(s);
      if (age === null || age >= LEAK_IDLE_IN_TX_MIN_MS) out.push({ db: db.name, s });
    }
  }
  return out.sort((a, b) => (ageOf(b.s) ?? 0) - (ageOf(a.s) ?? 0));
}

/** Other clients' sessions idle in transaction for long that are not counted as the leak (people's tools named). */
function othersIdle(facts: Facts): Leaked[] {
  const out: Leaked[] = [];
  for (const db of facts.reachable)
    for (const s of db.idleInTransaction)
      if (!mayBeTheApplications(s, db) && (ageOf(s) ?? 0) >= LEAK_IDLE_IN_TX_MIN_MS && !holdsLocks(s.pid, facts)) out.push({ db: db.name, s });
  return out;
}

/**
 * Pool connections checked out while the database sees most of them idle (not in a transaction,
 * not active) and settled there: idle for IDLE_SETTLED_MS or more where the enricher measured it,
 * so a busy pool whose sessions sit between two queries is not read as a leak.
 */
function heldIdle(facts: Facts): { db: PgDatabaseEvidence; working: number; idle: number; checkedOut: number } | undefined {
  const checkedOut = facts.pool?.active ?? null;
  if (checkedOut === null || checkedOut < 2 || facts.poolSaturated !== true) return undefined;
  for (const db of facts.reachable) {
    if (Object.keys(db.byState).length === 0) continue;
    if (hiddenApplicationSessions(db) > 0) continue; // the application's hidden sessions may be the working ones
    if (db.endpoint.pooler) continue; // through a pooler the server's idle sessions are the pooler's, not the application's checked-out ones
    const working = Object.entries(db.byState)
      .filter(([k]) => k !== 'idle')
      .reduce((a, [, v]) => a + v, 0);
    const idle = db.idleSettled ?? db.byState.idle ?? 0;
    if (working < checkedOut * HELD_IDLE_MAX_SHARE && idle >= checkedOut * HELD_IDLE_MAX_SHARE) return { db, working, idle, checkedOut };
  }
  return undefined;
}

function slowActive(facts: Facts): number {
  let n = 0;
  for (const db of facts.reachable) for (const s of db.longRunning) if (s.state === 'active' && (s.queryAgeMs ?? 0) >= SLOW_QUERY_MIN_MS) n++;
  return n;
}

/**
 * `connection_leak`: sessions idle in transaction (not blocking anyone), or connections checked
 * out that the database sees idle, or the pool's own leak-detection warnings in the backend's
 * logs (with the code location that took the connection), or active connections climbing while
 * traffic is flat.
 * Undefined where none of these is seen, or where only the trend speaks and locks, slow queries
 * or a traffic rise explain it.
 */
export const connectionLeak: Rule = (enrichments) => {
  const facts = factsOf(enrichments);
  const leaked = leakedSessions(facts);
  const held = leaked.length === 0 ? heldIdle(facts) : undefined;
  const pool = facts.pool;
  const climbing = pool?.activeTrend === 'climbing' && facts.trafficGrowing !== true;
  const dbDown = (facts.postgres?.databases ?? []).some((d) => !d.reachable && mayMeanDown(d.failure));
  const otherExplanation = facts.blockerPids.size > 0 || slowActive(facts) > 0 || facts.trafficGrowing === true || dbDown;
  const warnings = (facts.logs?.leaks ?? []).filter((l) => l.count > 0);
  if (leaked.length === 0 && !held && warnings.length === 0 && !(climbing && facts.poolSaturated === true && !otherExplanation)) return undefined;

  const evidence: string[] = [];
  const against: string[] = [];
  const actions: string[] = [];
  let c: number;
  const basis = leaked.length > 0 ? 'idle_in_tx' : held ? 'held_idle' : warnings.length > 0 ? 'leak_warning' : 'climbing';

  if (leaked.length > 0) {
    const share = leaked.length / ((facts.poolTotal ?? 10) * 0.5);
    c = LEAK_WEIGHTS.idleInTxBase + LEAK_WEIGHTS.idleInTxShare * clamp01(share);
    const dbs = [...new Set(leaked.map((l) => l.db))];
    // The enricher lists the longest-idle few; its counts by state have them all.
    // the client groups count the application's settled idle transactions (a busy ORM's milliseconds-long ones are not a leak); older evidence: by state
    const counted = facts.reachable
      .filter((d) => dbs.includes(d.name))
      .reduce(
        (n, d) =>
          n +
          (d.clients.length > 0
            ? d.clients.filter((g) => g.owner === 'application').reduce((m, g) => m + g.idleInTransactionSettled, 0)
            : (d.byState['idle in transaction'] ?? 0) + (d.byState['idle in transaction (aborted)'] ?? 0)),
        0,
      );
    const inAll = counted > leaked.length ? ` (${counted} idle in transaction in all)` : '';
    evidence.push(
      `${plural(leaked.length, 'session')} idle in transaction for at least ${fmtMs(LEAK_IDLE_IN_TX_MIN_MS)} on ${dbs.map((d) => `"${d}"`).join(', ')}${inAll}: ` +
        listItems(leaked.map((l) => `pid ${l.s.pid} (idle ${fmtMs(ageOf(l.s))}${l.s.application ? `, ${l.s.application}` : ''})`)),
    );
    const byQuery = new Map<string, number[]>();
    for (const l of leaked) byQuery.set(shortQuery(l.s.query), [...(byQuery.get(shortQuery(l.s.query)) ?? []), l.s.pid]);
    for (const [q, pids] of [...byQuery].sort((a, b) => b[1].length - a[1].length).slice(0, 3)) {
      evidence.push(`last query before going idle (pid ${listItems(pids)}): ${q}`);
    }
    for (const l of leaked.slice(0, TERMINATE_MAX_LINES)) {
      actions.push(`SELECT pg_terminate_backend(${l.s.pid});  -- on "${l.db}": idle in transaction ${fmtMs(ageOf(l.s))}, last query: ${shortQuery(l.s.query)}`);
    }
    if (leaked.length > TERMINATE_MAX_LINES) {
      const apps = [...new Set(leaked.map((l) => l.s.application).filter((a): a is string => !!a))];
      const appFilter = apps.length === 1 ? ` AND application_name = '${apps[0]!.replace(/'/g, "''")}'` : '';
      actions.push(
        `The other ${leaked.length - TERMINATE_MAX_LINES}: SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE state = 'idle in transaction' AND state_change < now() - interval '${Math.round(LEAK_IDLE_IN_TX_MIN_MS / 1000)} seconds'${appFilter};`,
      );
    }
    actions.push(
      `Find the code path that runs "${shortQuery(leaked[0]!.s.query)}" and make sure every BEGIN ends in COMMIT or ROLLBACK and every checked-out client is released (in a finally block).`,
    );
    const user = leaked.find((l) => l.s.user)?.s.user;
    actions.push(
      `As a safety net, end forgotten transactions automatically: ALTER ROLE ${user ? `"${user.replace(/"/g, '""')}"` : '<app role>'} SET idle_in_transaction_session_timeout = '60s';`,
    );
  } else if (held) {
    c = LEAK_WEIGHTS.heldIdleBase;
    evidence.push(
      `the pool has ${held.checkedOut} connections checked out, but "${held.db.name}" sees only ${held.working} working (active or in a transaction) and ${held.idle} idle sessions${held.db.idleSettled !== null ? ` (idle for ${fmtMs(IDLE_SETTLED_MS)} or more)` : ''}: connections are held by the application without doing any work`,
    );
    actions.push(
      'Find the code path that checks out a client and returns without releasing it (release in a finally block; prefer pool.query for one-off queries).',
    );
  } else if (basis === 'leak_warning') {
    c = LEAK_WEIGHTS.leakWarningBase;
    if (slowActive(facts) > 0)
      against.push(`${plural(slowActive(facts), 'query', 'queries')} run long: a connection held by a slow query also trips the pool's leak detection`);
  } else {
    c = LEAK_WEIGHTS.climbingBase;
  }

  // The pool's leak detection names the code that took the connection: the culprit, in the
  // application. It goes second, after the line that says what holds the connections (a page
  // shows the first few lines of evidence and actions only).
  if (warnings.length > 0) {
    if (basis !== 'leak_warning') c += LEAK_WEIGHTS.leakWarning;
    const lines = warnings.slice(0, 3).map((w) => {
      const threads = w.threads.length ? ` (thread ${listItems(w.threads)})` : '';
      const when = w.lastSeen ? `, last ${w.lastSeen}` : '';
      return w.where
        ? `${w.library} leak detection in the backend's logs (${plural(w.count, 'warning')}${when}): the leaked connection was taken at ${w.where}${threads}`
        : `${w.library} leak detection in the backend's logs (${plural(w.count, 'warning')}${when}), naming no code location: ${w.noLocation ?? 'no stack trace'}`;
    });
    evidence.splice(Math.min(1, evidence.length), 0, ...lines);
    const fixes = warnings
      .filter((w) => w.where)
      .slice(0, 3)
      .map(
        (w) =>
          `Fix the code that takes the connection at ${w.where}: return it on every path (try-with-resources, a finally block, or the pool's scoped helper); ${w.library} captured this stack when the connection was borrowed and not returned.`,
      );
    // after the first line that frees connections now, if there is one
    const relief = actions[0]?.startsWith('SELECT pg_terminate_backend') ? 1 : 0;
    actions.splice(relief, 0, ...fixes);
  }

  if (pool) {
    const held = poolPhrase(pool);
    if (held) evidence.push(`${held}${pool.saturatedSince ? `, exhausted since ${pool.saturatedSince}` : ''}`);
    const waits = poolWaitsPhrase(pool);
    if (waits) evidence.push(waits);
    if (facts.poolSaturated === true) c += LEAK_WEIGHTS.saturated;
    if (pool.activeTrend === 'climbing') {
      if (basis !== 'climbing') c += LEAK_WEIGHTS.climbing;
      evidence.push(
        `active connections climbing${pool.activeSlopePerMinute !== null ? ` at +${pool.activeSlopePerMinute.toFixed(2)}/min` : ''} over the last ${pool.windowMinutes} min`,
      );
    } else if (pool.activeTrend === 'flat' && leaked.length === 0) {
      against.push('active connections are not climbing');
    }
  }

  const phrase = trafficPhrase(facts);
  if (facts.trafficGrowing === false) {
    c += LEAK_WEIGHTS.flatTraffic;
    if (phrase) evidence.push(phrase);
  } else if (facts.trafficGrowing === true) {
    c -= LEAK_WEIGHTS.trafficGrowingPenalty;
    against.push(phrase ?? 'traffic is spiking: a spike fills the pool too');
  }
  if (facts.blockerPids.size > 0)
    against.push(
      `${plural(facts.blockerPids.size, 'session')} (pid ${listItems([...facts.blockerPids])}) ${facts.blockerPids.size === 1 ? 'blocks' : 'block'} others: lock contention also holds connections`,
    );
  const blind = facts.reachable.map((d) => blindNote(d, 'application')).filter((x): x is string => !!x);
  if (!facts.postgres) against.push('no PostgreSQL evidence to show which sessions hold the connections');
  else if (blind.length > 0) evidence.push(...blind.map((b) => `cannot see: ${b}`));
  else if (leaked.length === 0 && facts.reachable.length > 0) against.push("no session of the application's has been idle in transaction for long");
  for (const o of othersIdle(facts).slice(0, 3)) {
    const who =
      o.s.owner === 'person'
        ? `a person's SQL tool${o.s.tool ? ` (${o.s.tool}` : ' ('}${o.s.user ? `, user ${o.s.user}` : ''})`
        : `another client (${o.s.application ?? '?'}, user ${o.s.user ?? '?'})`;
    against.push(`pid ${o.s.pid} on "${o.db}" idle in transaction for ${fmtMs(ageOf(o.s))} is ${who}, not the application: not counted as its leak`);
  }

  if (leaked.length === 0 && pool && pool.perInstance.length > 1) {
    const worst = [...pool.perInstance].sort((a, b) => (b.active ?? 0) - (a.active ?? 0))[0]!;
    actions.push(
      `Restart instance ${worst.instance} (${worst.active ?? '?'} of ${worst.total ?? '?'} connections checked out) to free its connections now; then find the missing release.`,
    );
  } else if (leaked.length === 0) {
    actions.push('Restarting the backend frees the leaked connections now; then find the missing release.');
  }

  // seen from the pool's trend alone while the application's sessions are hidden: a guess nobody could confirm
  const cap = blind.length > 0 && leaked.length === 0 ? BLIND_CONFIDENCE_CAP : MAX_CONFIDENCE;
  if (blind.length > 0 && leaked.length === 0)
    actions.unshift(
      `Let the monitoring role see the sessions, then re-run the diagnosis: ${facts.reachable.map((d) => d.visibility?.grant).find(Boolean) ?? 'GRANT pg_monitor TO <monitoring role>;'}`,
    );
  const cause: Cause = { id: 'connection_leak', title: 'Connection leak', confidence: capConfidence(c, cap), evidence, actions, against };
  return cause;
};
