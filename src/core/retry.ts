import { NotifyError } from './notifier';

export interface RetryPolicy {
  budgetMs: number;
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export type RetryOutcome<T> = { ok: true; value: T; attempts: number } | { ok: false; error: Error; attempts: number; final: boolean };

/**
 * Calls `attempt` until it succeeds, throws a final NotifyError, runs out of attempts or the
 * budget ends. Backoff doubles from `initialBackoffMs` up to `maxBackoffMs` with jitter; a
 * NotifyError's `retryAfterMs` is honoured when it fits the budget. Non-NotifyError throws are
 * treated as retryable. Never rejects. The attempt's signal aborts at the budget's end.
 */
export async function withRetry<T>(
  attempt: (n: number, signal: AbortSignal) => Promise<T>,
  policy: RetryPolicy,
  opts: { signal?: AbortSignal; onRetry?: (n: number, error: Error, waitMs: number) => void; random?: () => number } = {},
): Promise<RetryOutcome<T>> {
  const deadline = Date.now() + policy.budgetMs;
  const budget = AbortSignal.any([AbortSignal.timeout(policy.budgetMs), ...(opts.signal ? [opts.signal] : [])]);
  const random = opts.random ?? Math.random;
  let backoff = policy.initialBackoffMs;
  let last: Error = new Error('no attempt made');
  for (let n = 1; n <= policy.maxAttempts; n++) {
    if (budget.aborted) break;
    try {
      return { ok: true, value: await attempt(n, budget), attempts: n };
    } catch (e) {
      last = e instanceof Error ? e : new Error(String(e));
      if (e instanceof NotifyError && !e.retryable) return { ok: false, error: last, attempts: n, final: true };
      if (n === policy.maxAttempts) return { ok: false, error: last, attempts: n, final: false };
      const jittered = Math.round(backoff * (0.5 + random()));
      const wait = e instanceof NotifyError && e.retryAfterMs !== undefined ? Math.max(e.retryAfterMs, 0) : Math.min(jittered, policy.maxBackoffMs);
      if (Date.now() + wait >= deadline) return { ok: false, error: last, attempts: n, final: false };
      opts.onRetry?.(n, last, wait);
      await sleep(wait, budget);
      backoff = Math.min(backoff * 2, policy.maxBackoffMs);
    }
  }
  return { ok: false, error: last, attempts: policy.maxAttempts, final: false };
}

/** Resolves after `ms`, or early when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
