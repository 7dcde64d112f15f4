import type { Logger } from 'pino';
import type { Diagnostic } from './diagnostic';
import type { AlertGroup } from './alert';

/** What a notifier is given for one delivery attempt. */
export interface NotifyContext {
  group: AlertGroup;
  /** Aborted when the notifier's budget ends or at shutdown. */
  signal: AbortSignal;
  logger: Logger;
  /** The attempt number, from 1. */
  attempt: number;
}

/** Delivers a diagnostic somewhere. Throws NotifyError (or anything, treated as retryable) on failure. */
export interface Notifier {
  readonly name: string;
  /** Returns a short detail for the Diagnostic's notifications list (a permalink, a channel). */
  notify(diagnostic: Diagnostic, ctx: NotifyContext): Promise<string>;
}

/** A classified delivery failure: `retryable` says whether the retry stage should try again. */
export class NotifyError extends Error {
  readonly retryable: boolean;
  /** A server-requested wait before the next attempt (Slack's Retry-After). */
  readonly retryAfterMs?: number;
  constructor(message: string, opts: { retryable: boolean; retryAfterMs?: number; cause?: unknown }) {
    super(message, { cause: opts.cause });
    this.name = 'NotifyError';
    this.retryable = opts.retryable;
    this.retryAfterMs = opts.retryAfterMs;
  }
}
