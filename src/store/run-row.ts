import type { AlertGroup } from '../core/alert';
import type { Diagnostic, Trigger } from '../core/diagnostic';
import type { RunRecord, RunState } from './types';

/**
 * A row of the `runs` table as either store's driver returns it: SQLite gives `notify` as 0/1
 * and times as numbers; node-postgres gives a boolean and bigint columns as strings.
 */
export interface RunRow {
  id: string;
  group_key: string;
  alertname: string;
  status: string;
  trigger: string;
  state: string;
  notify: number | boolean;
  input: string;
  diagnostic: string | null;
  attempts: number;
  created_at: number | string;
  updated_at: number | string;
}

/** The RunRecord of a `runs` row (its input and diagnostic parsed from JSON). */
export function runRecordOf(r: RunRow): RunRecord {
  return {
    id: r.id,
    groupKey: r.group_key,
    alertname: r.alertname,
    trigger: r.trigger as Trigger,
    state: r.state as RunState,
    notify: r.notify === true || r.notify === 1,
    group: JSON.parse(r.input) as AlertGroup,
    diagnostic: r.diagnostic ? (JSON.parse(r.diagnostic) as Diagnostic) : null,
    attempts: r.attempts,
    createdAt: Number(r.created_at),
  };
}
