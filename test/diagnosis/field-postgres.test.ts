/**
 * Field files 08, 10 and 11 through the diagnosis: the evidence the postgres enricher builds from
 * their rows (or the refusal of file 08), with the other evidence each file assumes (the pool as
 * the pool fixtures build it, the file's traffic), ranked by the rules.
 */
import field08 from '../fixtures/field/08-pgbouncer-monitor-startup-params.json';
import field10 from '../fixtures/field/10-pg-activity-insufficient-privilege.json';
import field11 from '../fixtures/field/11-pg-activity-dbeaver-idle-in-tx.json';
import { diagnose } from '../../src/diagnosis';
import { readActivity } from '../../src/enrichers/postgres/activity';
import { completeEvidence, emptyDatabase, failureOf } from '../../src/enrichers/postgres/evidence';
import { normaliseSql } from '../../src/enrichers/postgres/sql-normalise';
import { classifyPgError } from '../../src/sources/postgres';
import { activityRows, queryTexts } from '../support/field-activity';
import * as f from './fixtures';

function database(file: typeof field10 | typeof field11, readAllStats: boolean) {
  const reading = readActivity({
    rows: activityRows(file),
    settings: {
      version: file.settings.server_version_num,
      maxConnections: file.settings.max_connections,
      superuserReserved: file.settings.superuser_reserved_connections,
      reserved: file.settings.reserved_connections,
    },
    monitor: { role: 'pagefirst_monitor', superuser: false, readAllStats, useReserved: null },
    application: undefined,
    alertLabels: { alertname: 'db_pool_exhausted', service: 'checkout' },
    topN: 5,
  });
  const ev = completeEvidence(emptyDatabase(file.database), reading, {
    edges: [],
    prepared: [],
    preparedWaits: [],
    queries: queryTexts(file),
    text: (q) => (q === null ? '' : normaliseSql(q, 300)),
    topN: 5,
  });
  ev.reachable = true;
  return ev;
}

const by = (causes: ReturnType<typeof diagnose>, id: string) => causes.find((c) => c.id === id);

test('field file 08: PgBouncer\'s refusal of a startup parameter is a monitoring configuration problem, never "database unavailable"', () => {
  const err = classifyPgError(field08.connect_error);
  const ev = emptyDatabase(field08.database);
  ev.failure = failureOf(err);
  const causes = diagnose(
    [
      f.enrichment('pool', f.saturatedPool({ activeTrend: 'flat', activeSlopePerMinute: 0.05 })),
      f.enrichment('traffic', f.traffic(field08.assumed_other_evidence.traffic as Partial<ReturnType<typeof f.traffic>>)),
      f.enrichment('postgres', { databases: [ev] }),
    ],
    f.group,
  );
  expect(by(causes, 'database_unavailable')).toBeUndefined();
  expect(by(causes, 'database_connection_limit')).toBeUndefined();
  // whatever else is named, none claims the database is the problem
  for (const c of causes) expect(c.evidence.join('\n')).not.toMatch(/cannot be reached/);
});

test("field file 10: the role is blind to the application's 48 sessions: the leak is said from the pool's trend, capped, with what it cannot see and the GRANT, never argued against", () => {
  const ev = database(field10, false);
  const causes = diagnose(
    [
      f.enrichment('pool', f.saturatedPool({ active: 40, total: 40, activeTrend: 'climbing', activeSlopePerMinute: 0.6 })),
      f.enrichment('traffic', f.traffic({ verdict: 'normal', ratio: 0.98, totalNow: 95, totalHourAgo: 97.2 })),
      f.enrichment('postgres', { databases: [ev] }),
    ],
    f.group,
  );
  const leak = by(causes, 'connection_leak')!;
  expect(causes[0]!.id).toBe('connection_leak');
  expect(leak.evidence.join('\n')).toContain(
    `cannot see: 48 of the application's sessions on "app" are hidden from the monitoring role (no pg_monitor): their state, idle transactions and locks are unknown: GRANT pg_monitor TO "pagefirst_monitor";`,
  );
  expect(leak.actions[0]).toBe('Let the monitoring role see the sessions, then re-run the diagnosis: GRANT pg_monitor TO "pagefirst_monitor";');
  expect(leak.confidence).toBeLessThanOrEqual(0.7);
  expect((leak.against ?? []).join('\n')).not.toMatch(/idle in transaction for long/);
});

test("field file 11: a person's DBeaver idle in transaction is not the application's leak; the traffic spike is the cause", () => {
  const ev = database(field11, true);
  const causes = diagnose(
    [
      f.enrichment('pool', f.saturatedPool({ active: 20, total: 20, activeTrend: 'climbing', activeSlopePerMinute: 1.2 })),
      f.enrichment('traffic', f.traffic(field11.assumed_other_evidence.traffic as Partial<ReturnType<typeof f.traffic>>)),
      f.enrichment('postgres', { databases: [ev] }),
    ],
    f.group,
  );
  expect(causes[0]!.id).toBe('traffic_spike');
  expect(by(causes, 'connection_leak')).toBeUndefined();
});

test("field file 11 with flat traffic: a climbing pool may still be a leak, but DBeaver's transaction is named as a person's and not counted", () => {
  const ev = database(field11, true);
  const causes = diagnose(
    [
      f.enrichment('pool', f.saturatedPool({ active: 20, total: 20, activeTrend: 'climbing', activeSlopePerMinute: 1.2 })),
      f.enrichment('traffic', f.traffic()),
      f.enrichment('postgres', { databases: [ev] }),
    ],
    f.group,
  );
  const leak = by(causes, 'connection_leak')!;
  expect(leak.evidence.join('\n')).not.toContain('31705');
  expect((leak.against ?? []).join('\n')).toContain(
    'pid 31705 on "app" idle in transaction for 55 s is a person\'s SQL tool (DBeaver, user analyst), not the application: not counted as its leak',
  );
});
