/** pooler_saturated from each of its sources, and what lowers it. */
import { diagnose } from '../../src/diagnosis';
import * as f from './fixtures';

const by = (causes: ReturnType<typeof diagnose>, id: string) => causes.find((c) => c.id === id);

test("PgBouncer's own refusals in the backend's logs point at the pooler, not at a database outage", () => {
  const causes = diagnose(
    [
      f.enrichment('pool', f.saturatedPool()),
      f.enrichment('traffic', f.traffic()),
      f.enrichment(
        'logs',
        f.logs({
          matched: 14,
          groups: [
            {
              shape: 'Error: no more connections allowed (max_client_conn)',
              count: 14,
              firstSeen: '2026-11-27T06:39:00Z',
              lastSeen: '2026-11-27T06:41:00Z',
              signal: 'connection_error',
              class: 'pooler_limit',
              signature: 'pgbouncer-max-client-conn',
            },
          ],
          signals: { too_many_clients: 0, pool_timeout: 0, connection_refused: 0, connection_error: 14, other: 0 },
          classes: {
            leak_warning: 0,
            pooler_limit: 14,
            too_many_clients: 0,
            auth_failed: 0,
            connection_refused: 0,
            pool_timeout: 0,
            connection_lost: 0,
            connection_error: 0,
            timeout: 0,
          },
        }),
      ),
    ],
    f.group,
  );
  const c = by(causes, 'pooler_saturated')!;
  expect(c.evidence.join('\n')).toContain(
    'backend logs: the pooler refused or timed out clients 14 times, e.g. Error: no more connections allowed (max_client_conn) (14×',
  );
  expect(c.actions.join('\n')).toContain('Configure sources.pgbouncer[]');
  expect(causes[0]!.id).not.toBe('database_unavailable');
});

test("our own monitoring connection queued by the pooler is the pooler's saturation, not a silent database", () => {
  const ev = f.db({ reachable: false, connections: null, byState: {}, byApplication: {}, byUser: {}, topStatements: null });
  ev.failure = {
    kind: 'timeout',
    message: 'no answer within 5000 ms: our first statement waited at the connection pooler in front of the database for a server connection',
    pooler: { kind: 'unknown', limit: 'queue' },
  };
  const causes = diagnose(
    [f.enrichment('pool', f.saturatedPool()), f.enrichment('traffic', f.traffic()), f.enrichment('postgres', { databases: [ev] })],
    f.group,
  );
  expect(causes[0]!.id).toBe('pooler_saturated');
  expect(by(causes, 'database_unavailable')).toBeUndefined();
});

test('a full PgBouncer pool in front of a locked database ranks below the lock contention that fills it', () => {
  const es = f.poolerFull();
  const lock = f.lock().find((e) => e.enricher === 'postgres')!;
  const causes = diagnose([...es.filter((e) => e.enricher !== 'postgres'), lock], f.group);
  const pooler = by(causes, 'pooler_saturated')!;
  const locks = by(causes, 'lock_contention')!;
  expect(locks.confidence).toBeGreaterThan(pooler.confidence);
  expect((pooler.against ?? []).join('\n')).toMatch(
    /lock waits: PgBouncer's server connections wait on them|queries that wait|the pooler's server connections wait on the lock/,
  );
});
