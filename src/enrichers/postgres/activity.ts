import { IDLE_IN_TX_SETTLED_MS, IDLE_SETTLED_MS, type PgClientGroup, type PgDatabaseEvidence, type PgSession } from '../../core/evidence';
import type { ApplicationSessions } from '../../sources/config';
import { ownerOf, resolveApplication, type ApplicationMatcher, type ClientGroup } from './ownership';
import { slotArithmetic, type MonitorPrivileges } from './slots';
import type { ActivityRow } from './sql';

/**
 * Reads one snapshot of pg_stat_activity (every backend but ours, no query text) into the
 * evidence's counts, client groups, blind spots and connection arithmetic, and picks the sessions
 * to list. Pure: the rows of field files 10 and 11 go through it in tests.
 *
 * What counts as what:
 * - a client backend is a row with backend_type `client backend`; a row the monitoring role may
 *   not inspect (query `<insufficient privilege>`, backend_type NULL) with a user and a database
 *   is counted as a hidden client: most hidden rows are other roles' client backends, though an
 *   autovacuum or parallel worker of another role looks the same (said in the section);
 * - background processes (no user, or a backend_type other than client backend) fill no
 *   max_connections slot: walsenders have max_wal_senders, workers max_worker_processes and
 *   autovacuum_max_workers (PostgreSQL docs, runtime-config-connection.html and
 *   runtime-config-replication.html).
 */

export interface ActivityInput {
  rows: ActivityRow[];
  settings: { version: number; maxConnections: number; superuserReserved: number; reserved: number };
  /** null where the role query failed. */
  monitor: (MonitorPrivileges & { role: string; readAllStats: boolean }) | null;
  application: ApplicationSessions | undefined;
  alertLabels: Record<string, string>;
  topN: number;
}

/** A session to list, before its query text is fetched. */
export type SessionDraft = Omit<PgSession, 'query'>;

export interface ActivityReading {
  /** The counting fields of PgDatabaseEvidence. */
  ev: Pick<
    PgDatabaseEvidence,
    | 'connections'
    | 'byState'
    | 'idleSettled'
    | 'byApplication'
    | 'byUser'
    | 'visibility'
    | 'application'
    | 'clients'
    | 'slots'
    | 'backendTypes'
    | 'monitor'
    | 'maxConnections'
    | 'reservedConnections'
    | 'serverVersionNum'
  >;
  matcher: ApplicationMatcher;
  longRunning: SessionDraft[];
  oldestTransactions: SessionDraft[];
  idleInTransaction: SessionDraft[];
  /** Every row by pid, with its owner (for the lock trees). */
  byPid: Map<number, ActivityRow & { owner: PgSession['owner']; tool: string | null }>;
  /** Rows beyond MAX_ACTIVITY_ROWS that were not read. */
  unread: number;
}

const ms = (v: number | null | undefined): number | null => (v === null || v === undefined || Number.isNaN(v) ? null : Math.max(0, Math.round(v)));

const isClient = (r: ActivityRow) => r.backend_type === 'client backend';
/** A hidden row that belongs to a role and a database: most likely a client backend of another role. */
const isHiddenClient = (r: ActivityRow) => r.hidden && r.usr !== null && r.datname !== null;
const idleInTx = (state: string | null) => state === 'idle in transaction' || state === 'idle in transaction (aborted)';

/** The statement that lets `role` see every session (pg_read_all_stats comes with pg_monitor; PostgreSQL docs, predefined-roles.html). */
export function grantFor(role: string): string {
  return `GRANT pg_monitor TO "${role.replace(/"/g, '""')}";`;
}

export function readActivity(input: ActivityInput): ActivityReading {
  const { rows, settings: st } = input;
  const clientRows = rows.filter(isClient);
  const hiddenClients = rows.filter(isHiddenClient);
  const groupKey = (r: ActivityRow) => `${r.app ?? ''}\u0000${r.usr ?? ''}`;

  const rawGroups = new Map<string, ClientGroup>();
  for (const r of [...clientRows, ...hiddenClients]) {
    const k = groupKey(r);
    const g = rawGroups.get(k) ?? { application: r.app || null, user: r.usr, count: 0 };
    g.count += 1;
    rawGroups.set(k, g);
  }
  const matcher = resolveApplication(input.application, input.alertLabels, [...rawGroups.values()]);

  const byPid = new Map<number, ActivityRow & { owner: PgSession['owner']; tool: string | null }>();
  for (const r of rows) {
    const personal = r.usr !== null && (isClient(r) || isHiddenClient(r));
    const o = personal ? ownerOf(matcher, r.app || null, r.usr) : null;
    byPid.set(r.pid, { ...r, owner: o?.owner ?? null, tool: o?.tool?.name ?? null });
  }

  const groups = new Map<string, PgClientGroup>();
  for (const r of [...clientRows, ...hiddenClients]) {
    const k = groupKey(r);
    const row = byPid.get(r.pid)!;
    const g = groups.get(k) ?? {
      application: r.app || null,
      user: r.usr,
      owner: row.owner ?? 'other',
      tool: row.tool,
      sessions: 0,
      hidden: 0,
      byState: {},
      idleInTransactionSettled: 0,
      longestIdleInTransactionMs: null,
    };
    g.sessions += 1;
    if (r.hidden) g.hidden += 1;
    const state = r.hidden ? '(hidden)' : (r.state ?? '(unknown)');
    g.byState[state] = (g.byState[state] ?? 0) + 1;
    if (idleInTx(r.state)) {
      const age = ms(r.state_age_ms);
      if (age !== null && age >= IDLE_IN_TX_SETTLED_MS) g.idleInTransactionSettled += 1;
      if (age !== null && (g.longestIdleInTransactionMs === null || age > g.longestIdleInTransactionMs)) g.longestIdleInTransactionMs = age;
    }
    groups.set(k, g);
  }

  const byState: Record<string, number> = {};
  const byApplication: Record<string, number> = {};
  const byUser: Record<string, number> = {};
  let idleSettled = 0;
  for (const r of clientRows) {
    const state = r.state ?? '(unknown)';
    byState[state] = (byState[state] ?? 0) + 1;
    const app = r.app || '(none)';
    byApplication[app] = (byApplication[app] ?? 0) + 1;
    const user = r.usr ?? '(unknown)';
    byUser[user] = (byUser[user] ?? 0) + 1;
    if (r.state === 'idle' && (ms(r.state_age_ms) ?? 0) >= IDLE_SETTLED_MS) idleSettled += 1;
  }
  const backendTypes: Record<string, number> = {};
  for (const r of rows) {
    const t = r.backend_type ?? (r.hidden ? '(hidden)' : '(unknown)');
    backendTypes[t] = (backendTypes[t] ?? 0) + 1;
  }

  const hidden = rows.filter((r) => r.hidden).length;
  const monitor = input.monitor;
  const slots = slotArithmetic(
    { maxConnections: st.maxConnections, superuserReserved: st.superuserReserved, reserved: st.reserved },
    clientRows.length + 1, // ours counts too
    hiddenClients.length,
    { superuser: monitor?.superuser ?? false, useReserved: monitor?.useReserved ?? null },
  );

  const draft = (r: ActivityRow): SessionDraft => {
    const row = byPid.get(r.pid)!;
    return {
      pid: r.pid,
      user: r.usr,
      application: r.app || null,
      clientAddr: r.client_addr,
      state: r.state,
      waitEventType: r.wait_event_type,
      waitEvent: r.wait_event,
      queryAgeMs: ms(r.query_age_ms),
      xactAgeMs: ms(r.xact_age_ms),
      stateAgeMs: ms(r.state_age_ms),
      owner: row.owner,
      tool: row.tool,
      backendType: r.backend_type,
      leaderPid: r.leader_pid,
    };
  };
  const desc = (f: (r: ActivityRow) => number | null) => (a: ActivityRow, b: ActivityRow) => (f(b) ?? -1) - (f(a) ?? -1);
  const longRunning = clientRows
    .filter((r) => r.state === 'active' && r.query_age_ms !== null)
    .sort(desc((r) => r.query_age_ms))
    .slice(0, input.topN)
    .map(draft);
  const oldestTransactions = clientRows
    .filter((r) => r.xact_age_ms !== null)
    .sort(desc((r) => r.xact_age_ms))
    .slice(0, input.topN)
    .map(draft);
  // the application's longest idle transactions first in line, then everyone else's: a person's tool never crowds out the leak
  const idle = clientRows.filter((r) => idleInTx(r.state)).sort(desc((r) => r.state_age_ms));
  const mine = idle.filter((r) => byPid.get(r.pid)!.owner === 'application').slice(0, input.topN);
  const others = idle.filter((r) => byPid.get(r.pid)!.owner !== 'application').slice(0, input.topN);
  const idleInTransaction = [...mine, ...others].sort(desc((r) => r.state_age_ms)).map(draft);

  return {
    ev: {
      serverVersionNum: st.version,
      maxConnections: st.maxConnections,
      reservedConnections: st.superuserReserved + st.reserved,
      connections: clientRows.length,
      byState,
      idleSettled,
      byApplication,
      byUser,
      backendTypes,
      monitor,
      visibility: {
        hidden,
        hiddenClients: hiddenClients.length,
        grant: hidden > 0 && monitor && !monitor.readAllStats ? grantFor(monitor.role) : null,
      },
      application: { how: matcher.how, describe: matcher.describe },
      clients: [...groups.values()].sort((a, b) => b.sessions - a.sessions || String(a.application).localeCompare(String(b.application))),
      slots: { maxConnections: st.maxConnections, superuserReserved: st.superuserReserved, reserved: st.reserved, ...slots },
    },
    matcher,
    longRunning,
    oldestTransactions,
    idleInTransaction,
    byPid,
    unread: Math.max(0, (rows[0]?.total ?? rows.length) - rows.length),
  };
}
