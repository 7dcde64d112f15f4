import type { EnricherModule } from './registry-types';
import { poolModule } from './pool';
import { trafficModule } from './traffic';
import { relatedAlertsModule } from './related_alerts';
import { postgresEnricherModule } from './postgres';
import { logsEnricherModule } from './logs';

export type { EnricherDeps, EnricherModule } from './registry-types';

/** The runbook's enrichers, in the order they are listed by default. */
export const DEFAULT_ENRICHERS = ['pool', 'postgres', 'logs', 'traffic', 'related_alerts'] as const;

/** The explicit list of enrichers; a route names them. */
export const ENRICHERS: readonly EnricherModule[] = [poolModule, postgresEnricherModule, logsEnricherModule, trafficModule, relatedAlertsModule];

/** The registry entry for `name`, or undefined. */
export function enricherModule(name: string): EnricherModule | undefined {
  return ENRICHERS.find((m) => m.name === name);
}
