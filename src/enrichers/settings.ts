import type { z } from 'zod';
import { logsSettingsSchema } from './logs/settings';
import { postgresSettingsSchema } from './postgres/settings';
import { pgbouncerSettingsSchema } from './pgbouncer/settings';
import { settingsSchema as relatedAlertsSettingsSchema } from './related_alerts/settings';
import { settingsSchema as trafficSettingsSchema } from './traffic/settings';
import { settingsSchema as poolSettingsSchema } from './pool/settings';

/**
 * Each enricher's settings schema by name: `enrichers.<name>` and a route's `options` are parsed
 * with it (parsing `{}` gives the defaults). Only schemas: loading the config through this list
 * loads no enricher factory and no client (pg, axios). The registry (./index.ts) pairs each name
 * with its factory; a test checks that both lists name the same schemas.
 */
export const ENRICHER_SETTINGS = {
  pool: poolSettingsSchema,
  postgres: postgresSettingsSchema,
  pgbouncer: pgbouncerSettingsSchema,
  logs: logsSettingsSchema,
  traffic: trafficSettingsSchema,
  related_alerts: relatedAlertsSettingsSchema,
} as const satisfies Record<string, z.ZodType>;

export type EnricherName = keyof typeof ENRICHER_SETTINGS;

/** The runbook's enrichers, in the order they are listed by default. */
export const DEFAULT_ENRICHERS = ['pool', 'postgres', 'pgbouncer', 'logs', 'traffic', 'related_alerts'] as const satisfies readonly EnricherName[];

/** The settings schema of the enricher called `name`, or undefined for a name no enricher has. */
export function settingsSchemaOf(name: string): z.ZodType | undefined {
  return Object.hasOwn(ENRICHER_SETTINGS, name) ? ENRICHER_SETTINGS[name as EnricherName] : undefined;
}
