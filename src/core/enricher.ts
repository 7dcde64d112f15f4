import type { Logger } from 'pino';
import type { AlertGroup } from './alert';
import type { Section, SourceQuery } from './diagnostic';

/** What an enricher is given for one run. */
export interface EnrichContext {
  group: AlertGroup;
  /** Aborted at the enricher's own timeout, the run's overall budget, or shutdown. Pass it to every I/O. */
  signal: AbortSignal;
  logger: Logger;
  /** The run's reference time (the alert's evaluation is around it). */
  now: Date;
}

/** What an enricher returns: neutral sections for people and structured evidence for the diagnosis rules. */
export interface EnrichmentResult {
  summary: string;
  sections: Section[];
  evidence: Record<string, unknown>;
  queries?: SourceQuery[];
}

/** One investigation of the runbook. `enrich` honours `ctx.signal` and throws on failure. */
export interface Enricher {
  readonly name: string;
  /** Its own timeout; the pipeline also caps it by the run's remaining budget. */
  readonly timeoutMs?: number;
  enrich(ctx: EnrichContext): Promise<EnrichmentResult>;
}

/** Thrown by an enricher that has nothing to do here (source not configured, not applicable): recorded as `skipped`. */
export class SkipEnrichment extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'SkipEnrichment';
  }
}

/** An enricher that always reports `skipped` with a reason: used where a source is not configured. */
export function skippedEnricher(name: string, reason: string): Enricher {
  return {
    name,
    enrich() {
      return Promise.reject(new SkipEnrichment(reason));
    },
  };
}

/** Throws the signal's reason when it is aborted; call between steps of a long enricher. */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
}
