import type { Section } from '../../core/diagnostic';
import { SkipEnrichment, throwIfAborted, type EnrichContext, type Enricher, type EnrichmentResult } from '../../core/enricher';
import { PgBouncerSourceError, type PgBouncerClient, type PgBouncerSnapshot } from '../../sources/pgbouncer';
import { formatDuration } from '../../core/duration';
import type { EnricherModule } from '../registry-types';
import { analysePooler } from './analyse';
import type { PgBouncerEvidence, PgBouncerInstanceEvidence, PgBouncerPoolEvidence } from '../../core/evidence';
import { pgbouncerSettingsSchema, type PgBouncerSettings } from './settings';

/**
 * `pgbouncer`: what PgBouncer's admin console says while the page fires, through the shared
 * clients of sources.pgbouncer[] (one console connection each, SHOW commands only, under the
 * source's timeoutMs and the run's signal): clients waiting for a server connection and for how
 * long, server connections against pool_size / max_db_connections / max_user_connections,
 * pool_mode and max_client_conn.
 *
 * A PgBouncer that cannot be read is evidence with `reachable: false` and its failure (the
 * enrichment stays `ok`); the enricher is `skipped` when none is configured.
 */

/** Narrow dependencies: the shared console clients by name, and their console URLs' host:port. */
export interface PgBouncerEnricherDeps {
  clients: ReadonlyMap<string, PgBouncerClient>;
  endpoints: ReadonlyMap<string, string | null>;
}

const LIMIT_TEXT: Record<NonNullable<PgBouncerPoolEvidence['limit']>, string> = {
  pool_size: 'pool_size',
  max_db_connections: 'max_db_connections',
  max_user_connections: 'max_user_connections',
};

/** The waiting clients of one pool by application_name, most first. */
function waitingByApplication(snap: PgBouncerSnapshot, database: string, user: string, topN: number): PgBouncerPoolEvidence['waitingByApplication'] {
  const counts = new Map<string, number>();
  for (const c of snap.clients) {
    if (c.database !== database || c.user !== user || !c.state.startsWith('waiting')) continue;
    const app = c.applicationName ?? '(none)';
    counts.set(app, (counts.get(app) ?? 0) + 1);
  }
  return [...counts]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, topN)
    .map(([application, count]) => ({ application, count }));
}

function evidenceOf(name: string, endpoint: string | null, snap: PgBouncerSnapshot, topN: number): PgBouncerInstanceEvidence {
  const a = analysePooler(snap);
  return {
    name,
    endpoint,
    reachable: true,
    failure: null,
    version: a.version,
    poolMode: a.poolMode,
    maxClientConn: a.maxClientConn,
    usedClients: a.usedClients,
    clientLimitReached: a.clientLimitReached,
    queryWaitTimeoutS: a.queryWaitTimeoutS,
    pools: a.pools.map((p) => ({ ...p, waitingByApplication: waitingByApplication(snap, p.database, p.user, topN) })),
  };
}

/** One sentence per saturated pool: which limit, by how much, who waits. */
export function saturationText(p: PgBouncerPoolEvidence): string {
  const who = p.waitingByApplication.length ? ` (${p.waitingByApplication.map((w) => `${w.application} ${w.count}`).join(', ')})` : '';
  const waiting = `${p.clWaiting} client${p.clWaiting === 1 ? '' : 's'} waiting${who}, the oldest for ${formatDuration(p.maxWaitMs)}`;
  const pool = `${p.database}/${p.user}`;
  if (p.limit === 'pool_size') {
    const reserve = p.reservePool ? ` + reserve_pool ${p.reservePool}` : '';
    return `Pool ${pool} is full at pool_size ${p.limitValue}${reserve}: ${p.servers} server connections, ${waiting}.`;
  }
  if (p.limit === 'max_db_connections')
    return `Database ${p.database} is at max_db_connections ${p.limitValue} (${p.dbConnections} server connections over all its pools): ${waiting}.`;
  if (p.limit === 'max_user_connections')
    return `User ${p.user} is at max_user_connections ${p.limitValue} (${p.userConnections} server connections over all pools): ${waiting}.`;
  return `Pool ${pool} has ${waiting}, but no PgBouncer limit is reached (${p.servers} server connections, pool_size ${p.poolSize ?? '-'}): its server connections are all busy or logging in.`;
}

function sectionsOf(ev: PgBouncerInstanceEvidence, multi: boolean): Section[] {
  const t = (title: string) => (multi ? `${ev.name}: ${title}` : title);
  if (!ev.reachable) {
    return [{ type: 'text', title: t(`PgBouncer could not be read (${ev.failure?.kind ?? 'error'})`), text: ev.failure?.message ?? 'unknown error' }];
  }
  const out: Section[] = [
    {
      type: 'fields',
      title: t('PgBouncer'),
      fields: [
        { label: 'Version', value: ev.version ?? '-' },
        { label: 'pool_mode', value: ev.poolMode ?? '-' },
        {
          label: 'Clients / max_client_conn',
          value: `${ev.usedClients ?? '-'} of ${ev.maxClientConn ?? '-'}${ev.clientLimitReached ? ' (full: new clients are refused)' : ''}`,
        },
        { label: 'query_wait_timeout', value: ev.queryWaitTimeoutS === null ? '-' : `${ev.queryWaitTimeoutS} s` },
      ],
    },
  ];
  if (ev.pools.length) {
    out.push({
      type: 'table',
      title: t('pools'),
      columns: [
        'database/user',
        'mode',
        'clients active',
        'waiting',
        'longest wait',
        'servers active/idle/all',
        'pool_size',
        'max_db_connections',
        'limit reached',
      ],
      rows: ev.pools.map((p) => [
        `${p.database}/${p.user}`,
        p.poolMode ?? '-',
        String(p.clActive),
        String(p.clWaiting),
        formatDuration(p.maxWaitMs),
        `${p.svActive}/${p.svIdle}/${p.servers}`,
        p.poolSize === null ? '-' : String(p.poolSize),
        p.maxDbConnections ? `${p.dbConnections ?? '-'} of ${p.maxDbConnections}` : 'unlimited',
        p.limit ? LIMIT_TEXT[p.limit] : p.saturated ? 'none (servers busy)' : '-',
      ]),
    });
  }
  const notes = [
    ...(ev.clientLimitReached
      ? [`max_client_conn ${ev.maxClientConn} is reached: PgBouncer refuses new clients with "no more connections allowed (max_client_conn)".`]
      : []),
    ...ev.pools.filter((p) => p.saturated).map(saturationText),
  ];
  if (notes.length) out.push({ type: 'text', title: t('saturation'), text: notes.join('\n') });
  return out;
}

function summaryOf(ev: PgBouncerInstanceEvidence): string {
  if (!ev.reachable) return `${ev.name}: not read (${ev.failure?.kind ?? 'error'})`;
  const waiting = ev.pools.reduce((s, p) => s + p.clWaiting, 0);
  const full = ev.pools.filter((p) => p.limit).map((p) => `${p.database}/${p.user} at ${p.limit} ${p.limitValue}`);
  return `${ev.name}: ${waiting} client${waiting === 1 ? '' : 's'} waiting${full.length ? `; ${full.join(', ')}` : ''}${ev.clientLimitReached ? '; max_client_conn reached' : ''}`;
}

/** Creates the `pgbouncer` enricher: every configured PgBouncer read in parallel. */
export function createPgBouncerEnricher(settings: PgBouncerSettings, deps: PgBouncerEnricherDeps): Enricher {
  return {
    name: 'pgbouncer',
    ...(settings.timeoutMs !== undefined ? { timeoutMs: settings.timeoutMs } : {}),
    async enrich(ctx: EnrichContext): Promise<EnrichmentResult> {
      if (deps.clients.size === 0) throw new SkipEnrichment('no PgBouncer configured (sources.pgbouncer)');
      const poolers = await Promise.all(
        [...deps.clients].map(async ([name, client]): Promise<PgBouncerInstanceEvidence> => {
          const endpoint = deps.endpoints.get(name) ?? null;
          try {
            return evidenceOf(name, endpoint, await client.snapshot(ctx.signal), settings.topN);
          } catch (e) {
            throwIfAborted(ctx.signal);
            const err = e instanceof PgBouncerSourceError ? e : new PgBouncerSourceError(e instanceof Error ? e.message : String(e), 'error');
            ctx.logger.warn({ pgbouncer: name, kind: err.kind, error: err.message }, 'pgbouncer console read failed');
            return {
              name,
              endpoint,
              reachable: false,
              failure: { kind: err.kind, message: err.message, ...(err.sqlstate ? { sqlstate: err.sqlstate } : {}) },
              version: null,
              poolMode: null,
              maxClientConn: null,
              usedClients: null,
              clientLimitReached: false,
              queryWaitTimeoutS: null,
              pools: [],
            };
          }
        }),
      );
      throwIfAborted(ctx.signal);
      const evidence: PgBouncerEvidence = { poolers };
      return {
        summary: poolers.map(summaryOf).join('; '),
        sections: poolers.flatMap((p) => sectionsOf(p, poolers.length > 1)),
        evidence: evidence as unknown as Record<string, unknown>,
      };
    },
  };
}

/** host:port of a console URL (to match a sources.postgres[] URL pointing at the same PgBouncer); null when unparsable. */
export function endpointOf(url: string): string | null {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}`;
  } catch {
    return null;
  }
}

/** The registry entry: picks the shared console clients and their endpoints from the source clients. */
export const pgbouncerEnricherModule: EnricherModule<PgBouncerSettings> = {
  name: 'pgbouncer',
  settingsSchema: pgbouncerSettingsSchema,
  create: (settings, deps) =>
    createPgBouncerEnricher(settings, {
      clients: deps.clients.pgbouncer ?? new Map(),
      endpoints: new Map(deps.clients.config.pgbouncer.map((b) => [b.name, endpointOf(b.url)])),
    }),
};
