import type { ActivityRow } from '../../src/enrichers/postgres/sql';

/** A pg_stat_activity row as the field files write it (timestamps, not ages). */
export interface FieldActivityRow {
  pid: number;
  datname: string | null;
  usename: string | null;
  application_name: string | null;
  client_addr: string | null;
  backend_type: string | null;
  state: string | null;
  wait_event_type: string | null;
  wait_event: string | null;
  backend_start: string | null;
  xact_start: string | null;
  query_start: string | null;
  state_change: string | null;
  query: string;
  leader_pid?: number | null;
}

/**
 * The field file's rows as the postgres enricher's activity query returns them at `now` (ages in
 * ms, `hidden` where the query reads `<insufficient privilege>`), without our own session.
 */
export function activityRows(file: { now: string; monitorPid: number; pg_stat_activity: FieldActivityRow[] }): ActivityRow[] {
  const now = Date.parse(file.now);
  const age = (t: string | null) => (t === null ? null : now - Date.parse(t));
  const rows = file.pg_stat_activity.filter((r) => r.pid !== file.monitorPid);
  return rows.map((r) => ({
    pid: r.pid,
    datname: r.datname,
    usr: r.usename,
    app: r.application_name,
    client_addr: r.client_addr,
    backend_type: r.backend_type,
    state: r.state,
    wait_event_type: r.wait_event_type,
    wait_event: r.wait_event,
    leader_pid: r.leader_pid ?? null,
    query_age_ms: age(r.query_start),
    xact_age_ms: age(r.xact_start),
    state_age_ms: age(r.state_change),
    hidden: r.query === '<insufficient privilege>',
    total: rows.length,
  }));
}

/** The field file's query texts by pid. */
export function queryTexts(file: { pg_stat_activity: FieldActivityRow[] }): Map<number, string> {
  return new Map(file.pg_stat_activity.map((r) => [r.pid, r.query]));
}
