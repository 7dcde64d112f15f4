import type { EnricherModule } from './registry-types';
import { poolModule } from './pool/enricher';
import { trafficModule } from './traffic/enricher';
import { relatedAlertsModule } from './related_alerts/enricher';
import { postgresEnricherModule } from './postgres/enricher';
import { pgbouncerEnricherModule } from './pgbouncer/enricher';
import { logsEnricherModule } from './logs/enricher';

export type { EnricherDeps, EnricherModule } from './registry-types';

export { DEFAULT_ENRICHERS, ENRICHER_SETTINGS, type EnricherName } from './settings';

/** The explicit list of enrichers; a route names them. */
export const ENRICHERS: readonly EnricherModule[] = [
  poolModule,
  postgresEnricherModule,
  pgbouncerEnricherModule,
  logsEnricherModule,
  trafficModule,
  relatedAlertsModule,
];

/** The registry entry for `name`, or undefined. */
export function enricherModule(name: string): EnricherModule | undefined {
  return ENRICHERS.find((m) => m.name === name);
}
