import type { AlertGroup } from '../core/alert';
import type { Cause, Enrichment } from '../core/diagnostic';

/** A diagnosis rule: reads the enrichments' evidence, returns a cause or nothing. Pure; never throws. */
export type Rule = (enrichments: ReadonlyMap<string, Enrichment>, group: AlertGroup) => Cause | undefined;
