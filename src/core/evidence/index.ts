import type { z } from 'zod';
import type { Enrichment } from '../diagnostic';
import { logsEvidenceSchema } from './logs';
import { pgbouncerEvidenceSchema } from './pgbouncer';
import { poolEvidenceSchema } from './pool';
import { postgresEvidenceSchema } from './postgres';
import { relatedAlertsEvidenceSchema } from './related_alerts';
import { trafficEvidenceSchema } from './traffic';

/**
 * The structured evidence each enricher returns and the diagnosis rules read: one zod schema per
 * enricher (one file each), the types inferred from them. This is the contract between
 * `src/enrichers/` and `src/diagnosis/`: an enricher builds its type (fields it could not measure
 * are null), a rule reads it through the schema and never assumes a field another enricher owns.
 * Durations are milliseconds, times ISO-8601, rates per second.
 */
export * from './logs';
export * from './pgbouncer';
export * from './pool';
export * from './postgres';
export * from './related_alerts';
export * from './traffic';

/** Each enricher's evidence schema by enricher name. */
export const EVIDENCE_SCHEMAS = {
  pool: poolEvidenceSchema,
  traffic: trafficEvidenceSchema,
  postgres: postgresEvidenceSchema,
  pgbouncer: pgbouncerEvidenceSchema,
  logs: logsEvidenceSchema,
  related_alerts: relatedAlertsEvidenceSchema,
} as const;
export type EvidenceName = keyof typeof EVIDENCE_SCHEMAS;

/**
 * What a stored enrichment says through its schema: `missing` where it did not run `ok`,
 * `invalid` where its evidence does not match the schema (an older or newer enricher wrote it, or
 * it was damaged: read as missing, and `issue` says why), else the parsed evidence. Never throws.
 */
export type EvidenceReading<T> = { kind: 'ok'; evidence: T } | { kind: 'missing' } | { kind: 'invalid'; issue: string };

/** Reads the evidence of the enrichment called `name` through `schema` (see EvidenceReading). */
export function readEvidence<T>(enrichments: ReadonlyMap<string, Enrichment>, name: EvidenceName, schema: z.ZodType<T>): EvidenceReading<T> {
  const e = enrichments.get(name);
  if (!e || e.status !== 'ok') return { kind: 'missing' };
  const r = schema.safeParse(e.evidence);
  if (r.success) return { kind: 'ok', evidence: r.data };
  const i = r.error.issues[0];
  if (!i) return { kind: 'invalid', issue: 'does not match its schema' };
  // The field and what it should be; zod's own text for a wrong type quotes the received value ("received undefined").
  const what = i.code === 'invalid_type' ? `expected ${i.expected}` : i.message;
  return { kind: 'invalid', issue: `${i.path.join('.') || '(evidence)'}: ${what}` };
}
