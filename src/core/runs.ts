import type { AlertGroup } from './alert';
import type { Trigger } from './diagnostic';

/** What admitting a notification gave: the run it created, or the one it joined (`duplicate`). */
export interface Admission {
  /** The run's id (GET /diagnostics/:id). */
  id: string;
  /** A repeat of a notification already admitted, or a re-run within the cool-down: no new run. */
  duplicate: boolean;
  /** Joined a queued run of the same group instead of creating one (not a duplicate: its input counts). */
  coalesced: boolean;
  /**
   * Until then (epoch ms, the pipeline's clock) the same request again joins run `id`; asked
   * after it, it starts a new run. For a re-run: the end of `pipeline.rerunCooldownMs` from the
   * request that started (or last joined) that run; for a webhook: `pipeline.cooldownMs`.
   */
  keyExpiresAt: number;
}

/**
 * Starts runs: the pipeline as the entry points that are not HTTP routes of its own (Slack's
 * button, shortcut and mention) see it, so they need not import the pipeline.
 */
export interface RunAdmitter {
  /** Admits `group` durably (deduplicated, coalesced); rejects when the store cannot take it. */
  admit(group: AlertGroup, trigger: Trigger, opts?: { notify?: boolean }): Promise<Admission>;
}
