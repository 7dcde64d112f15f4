import type { AlertGroup } from './alert';
import type { Trigger } from './diagnostic';

/** What admitting a notification gave: the run it created, or the one it joined (`duplicate`). */
export interface Admission {
  /** The run's id (GET /diagnostics/:id). */
  id: string;
  /** A repeat of a notification already admitted, or a re-run within the cool-down: no new run. */
  duplicate: boolean;
}

/**
 * Starts runs: the pipeline as the entry points that are not HTTP routes of its own (Slack's
 * button, shortcut and mention) see it, so they need not import the pipeline.
 */
export interface RunAdmitter {
  /** Admits `group` durably (deduplicated, coalesced); rejects when the store cannot take it. */
  admit(group: AlertGroup, trigger: Trigger, opts?: { notify?: boolean }): Promise<Admission>;
}
