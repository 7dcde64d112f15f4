/** A run of the history: its id, when it started (ISO-8601) and the group's status. */
export interface HistoryRun {
  id: string;
  startedAt: string;
  status: string;
}

/** Read access to past runs, for enrichers that ask "did this fire before?" (the state store, or a stub). */
export interface AlertHistory {
  /** Runs for `alertname` that started in [since, before), newest first, at most 100. */
  runsOf(alertname: string, since: Date, before: Date): HistoryRun[] | Promise<HistoryRun[]>;
}
