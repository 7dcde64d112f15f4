import type { Lease, StateStore } from './types';

/** A lease being kept alive; see keepLease. */
export interface KeptLease {
  /** Aborts when the lease is lost: taken over by another worker, or not renewable for its whole length. */
  readonly signal: AbortSignal;
  /** Renewals that succeeded so far. */
  readonly renewals: number;
  /** Stops renewing and gives the lease up (errors are ignored: an unreleased lease lapses by itself). */
  release(): Promise<void>;
}

/** Renewals per lease length: a third, so two can fail (a slow statement, a blip) before it lapses. */
const RENEWALS_PER_LEASE = 3;

/**
 * Keeps `lease` (from `claimNext`) alive while the run works: renews it every `leaseMs / 3`.
 * `signal` aborts when a renewal reports it taken over (another worker resumed the run after it
 * lapsed), or when no renewal has succeeded for `leaseMs` (the store is unreachable: by now
 * another worker may take it). The run's work stops on that signal, so two workers never carry
 * on with one run for longer than a renewal interval.
 */
export function keepLease(store: Pick<StateStore, 'renewLease' | 'releaseLease'>, lease: Lease, leaseMs: number, now: () => number = Date.now): KeptLease {
  const lost = new AbortController();
  let renewals = 0;
  let lastOk = now();
  let stopped = false;
  let pending: Promise<void> = Promise.resolve();
  const renew = async () => {
    try {
      if (await store.renewLease(lease, leaseMs)) {
        renewals++;
        lastOk = now();
      } else {
        lost.abort(new Error(`the lease of run ${lease.runId} was taken over by another worker`));
      }
    } catch (e) {
      if (now() - lastOk >= leaseMs) lost.abort(new Error(`the lease of run ${lease.runId} could not be renewed for ${leaseMs} ms: ${(e as Error).message}`));
    }
  };
  const timer = setInterval(
    () => {
      if (stopped || lost.signal.aborted) return;
      pending = pending.then(renew);
    },
    Math.max(1, Math.floor(leaseMs / RENEWALS_PER_LEASE)),
  );
  timer.unref();
  return {
    signal: lost.signal,
    get renewals() {
      return renewals;
    },
    async release() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await pending;
      if (!lost.signal.aborted) await store.releaseLease(lease).catch(() => {});
    },
  };
}
