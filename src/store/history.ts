/** Read access to past runs, for enrichers that ask "did this fire before?". */
export interface AlertHistory {
  /** Runs for `alertname` that started in [since, before), newest first, with when they started. */
  runsOf(alertname: string, since: Date, before: Date): Array<{ id: string; startedAt: string; status: string }>;
}
