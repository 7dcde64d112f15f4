import type { Logger } from 'pino';
import type { AlertGroup } from '../core/alert';
import { SkipEnrichment, type Enricher } from '../core/enricher';
import type { Enrichment, EnrichmentStatus } from '../core/diagnostic';

export interface RunEnrichersOptions {
  /** Every enricher must end within this, counted from the call. */
  budgetMs: number;
  /** An enricher's timeout unless it declares its own. */
  defaultTimeoutMs: number;
  /** Aborts every enricher (shutdown). */
  signal?: AbortSignal;
  /** Called once per enricher with its outcome. */
  onOutcome?: (enricher: string, status: EnrichmentStatus, durationMs: number) => void;
}

class Deadline extends Error {
  constructor(
    readonly ms: number,
    readonly which: 'own' | 'budget',
  ) {
    super(`timeout after ${ms} ms${which === 'budget' ? ' (run budget)' : ''}`);
    this.name = 'TimeoutError';
  }
}

/**
 * Runs the enrichers in parallel, each under min(its timeout, the budget) with an AbortSignal
 * that fires at that deadline. Never rejects: every enricher yields one Enrichment with status
 * ok / error / timeout / skipped and its duration, in the order given. An enricher that ignores
 * its signal is abandoned at the deadline.
 */
export async function runEnrichers(
  enrichers: readonly Enricher[],
  ctx: { group: AlertGroup; logger: Logger; now: Date },
  opts: RunEnrichersOptions,
): Promise<Enrichment[]> {
  return Promise.all(enrichers.map((e) => runOne(e, ctx, opts)));
}

async function runOne(enricher: Enricher, ctx: { group: AlertGroup; logger: Logger; now: Date }, opts: RunEnrichersOptions): Promise<Enrichment> {
  const own = enricher.timeoutMs ?? opts.defaultTimeoutMs;
  const deadline = own <= opts.budgetMs ? new Deadline(own, 'own') : new Deadline(opts.budgetMs, 'budget');
  const controller = new AbortController();
  const logger = ctx.logger.child({ enricher: enricher.name });
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const onParentAbort = () => controller.abort(opts.signal?.reason ?? new Error('aborted'));
  opts.signal?.addEventListener('abort', onParentAbort, { once: true });
  if (opts.signal?.aborted) onParentAbort();

  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort(deadline);
      reject(deadline);
    }, deadline.ms);
    controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
  });
  expired.catch(() => {});

  let status: EnrichmentStatus;
  let result: Enrichment;
  try {
    const r = await Promise.race([
      Promise.resolve().then(() => enricher.enrich({ group: ctx.group, signal: controller.signal, logger, now: ctx.now })),
      expired,
    ]);
    status = 'ok';
    result = base(enricher.name, status, started, {
      summary: r.summary,
      sections: r.sections ?? [],
      evidence: r.evidence ?? {},
      ...(r.queries ? { queries: r.queries } : {}),
    });
  } catch (e) {
    const reason: unknown = controller.signal.aborted ? controller.signal.reason : e;
    if (e instanceof SkipEnrichment) {
      status = 'skipped';
      result = base(enricher.name, status, started, { summary: `skipped: ${e.message}`, error: e.message });
    } else if (reason instanceof Deadline || isTimeout(e)) {
      status = 'timeout';
      const msg = reason instanceof Deadline ? reason.message : (e as Error).message;
      result = base(enricher.name, status, started, { summary: `no answer: ${msg}`, error: msg });
    } else {
      status = 'error';
      const msg = errorMessage(e);
      result = base(enricher.name, status, started, { summary: `failed: ${msg}`, error: msg });
    }
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onParentAbort);
    if (!controller.signal.aborted) controller.abort(new Error('enricher finished'));
  }
  logger[status === 'error' ? 'warn' : 'debug']({ status, durationMs: result.durationMs, error: result.error }, 'enricher finished');
  opts.onOutcome?.(enricher.name, status, result.durationMs);
  return result;
}

function base(enricher: string, status: EnrichmentStatus, started: number, rest: Partial<Enrichment>): Enrichment {
  return { enricher, status, durationMs: Math.round(performance.now() - started), summary: '', sections: [], evidence: {}, ...rest };
}

function isTimeout(e: unknown): boolean {
  return e instanceof Error && (e.name === 'TimeoutError' || (e as { code?: string }).code === 'ETIMEDOUT');
}

/** A one-line message for an unknown thrown value. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message.split('\n')[0] || e.name;
  return String(e);
}
