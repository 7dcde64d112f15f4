import { SkipEnrichment, throwIfAborted, type EnrichContext, type Enricher, type EnrichmentResult } from '../../core/enricher';
import type { Section } from '../../core/diagnostic';
import type { PostgresEvidence } from '../../core/evidence';
import type { ApplicationSessions } from '../../sources/config';
import { PostgresSourceError, type PostgresGuard } from '../../sources/postgres';
import type { EnricherModule } from '../registry-types';
import { postgresSettingsSchema, type PostgresSettings } from './settings';
import { capText, normaliseSql } from './sql-normalise';
import { emptyDatabase, failureOf, investigate, reachedServer } from './evidence';
import { databaseSections, summaryOf } from './sections';

/**
 * `postgres`: what the runbook asks a person to look up in the monitored databases, through
 * the shared connection guards (one connection per database, read-only, timeouts, breaker).
 *
 * Failures and the enrichment status, consistently:
 * - Every failure to reach or query ONE database is evidence, not an error: the database's
 *   entry says `reachable: false` (or true when the failure came after connecting) and
 *   `failure.kind`: `too_many_clients` (the refusal is the diagnosis' evidence),
 *   `unreachable`, `timeout`, `busy` (our one connection stayed held by other runs: not read),
 *   `auth`, `circuit_open` (not tried: the breaker is open; `sqlstate`
 *   is the last failure's) or `error`; the status stays `ok` and a text section says it plainly.
 * - The enricher itself only fails when its own deadline / the run's budget aborts it (status
 *   `timeout`, from the pipeline), and is `skipped` when no database is configured.
 */

/** Narrow dependencies: the shared guards by configured database name, and each database's `application` (whose sessions are the application's). */
export interface PostgresEnricherDeps {
  guards: ReadonlyMap<string, PostgresGuard>;
  applications?: ReadonlyMap<string, ApplicationSessions | undefined>;
}

/**
 * Creates the `postgres` enricher. It queries every configured database in parallel (or the one
 * an alert label names, `databaseLabel`; a name that is not configured is never connected to),
 * returns PostgresEvidence and sections; see the top of this file for what is `ok`.
 */
export function createPostgresEnricher(settings: PostgresSettings, deps: PostgresEnricherDeps): Enricher {
  const text = (q: string | null) => (q === null ? '' : settings.rawQueries ? capText(q, settings.queryTextMax) : normaliseSql(q, settings.queryTextMax));
  return {
    name: 'postgres',
    ...(settings.timeoutMs !== undefined ? { timeoutMs: settings.timeoutMs } : {}),
    async enrich(ctx: EnrichContext): Promise<EnrichmentResult> {
      if (deps.guards.size === 0) throw new SkipEnrichment('no database configured (sources.postgres)');
      const all = [...deps.guards.values()];
      const label = settings.databaseLabel;
      const wanted = label ? (ctx.group.commonLabels[label] ?? ctx.group.alerts[0]?.labels[label]) : undefined;
      const picked = wanted !== undefined ? deps.guards.get(wanted) : undefined;
      const guards = picked ? [picked] : all;
      const preface: Section[] = [];
      const alertLabels = { ...ctx.group.alerts[0]?.labels, ...ctx.group.commonLabels };
      if (wanted !== undefined && !picked) {
        preface.push({
          type: 'text',
          title: 'databases',
          text: `The alert's ${label} label names no configured database; every configured one was queried (${all.map((g) => g.name).join(', ')}).`,
        });
      }
      const results = await Promise.all(
        guards.map(async (g) => {
          try {
            return await g.run((db) => investigate(db, g.name, settings, text, { application: deps.applications?.get(g.name), alertLabels }), ctx.signal);
          } catch (e) {
            throwIfAborted(ctx.signal);
            const err = e instanceof PostgresSourceError ? e : new PostgresSourceError(e instanceof Error ? e.message : String(e), 'error');
            ctx.logger.warn({ database: g.name, kind: err.kind, sqlstate: err.sqlstate, error: err.message }, 'postgres investigation failed');
            const ev = emptyDatabase(g.name);
            ev.reachable = reachedServer(err);
            ev.failure = failureOf(err);
            const seen = g.state().endpoint;
            ev.endpoint = { pooler: seen.pooler ? { kind: seen.pooler.kind, evidence: seen.pooler.evidence } : null, backendPid: seen.backendPid };
            return { ev, notes: [] as string[] };
          }
        }),
      );
      throwIfAborted(ctx.signal);
      const multi = results.length > 1;
      const evidence: PostgresEvidence = { databases: results.map((r) => r.ev) };
      return {
        summary: results.map((r) => summaryOf(r.ev)).join('; '),
        sections: [...preface, ...results.flatMap((r) => databaseSections(r.ev, r.notes, settings, multi))],
        evidence,
      };
    },
  };
}

/** The registry entry: picks the shared guards from the source clients. */
export const postgresEnricherModule: EnricherModule<PostgresSettings> = {
  name: 'postgres',
  settingsSchema: postgresSettingsSchema,
  create: (settings, deps) =>
    createPostgresEnricher(settings, {
      guards: deps.clients.postgres ?? new Map(),
      applications: new Map(deps.clients.config.postgres.map((db) => [db.name, db.application])),
    }),
};
