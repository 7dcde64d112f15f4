/**
 * Field files 10 and 11 through the parts of the postgres enricher that read rows: the activity
 * reader (whose sessions, blind spots, slots) and the evidence it completes, then the sections
 * people read. Field 10: a monitoring role without pg_monitor; field 11: a person's DBeaver idle in
 * transaction while the application's own sessions idle for milliseconds between statements.
 */
import field10 from '../fixtures/field/10-pg-activity-insufficient-privilege.json';
import field11 from '../fixtures/field/11-pg-activity-dbeaver-idle-in-tx.json';
import { readActivity } from '../../src/enrichers/postgres/activity';
import { completeEvidence, emptyDatabase } from '../../src/enrichers/postgres/evidence';
import { databaseSections, summaryOf } from '../../src/enrichers/postgres/sections';
import { postgresSettingsSchema } from '../../src/enrichers/postgres/settings';
import { normaliseSql } from '../../src/enrichers/postgres/sql-normalise';
import { activityRows, queryTexts } from '../support/field-activity';

const settings = postgresSettingsSchema.parse({});
const text = (q: string | null) => (q === null ? '' : normaliseSql(q, settings.queryTextMax));

function evidenceOf(file: typeof field10 | typeof field11, monitor: Parameters<typeof readActivity>[0]['monitor'], alertLabels: Record<string, string>) {
  const reading = readActivity({
    rows: activityRows(file),
    settings: {
      version: file.settings.server_version_num,
      maxConnections: file.settings.max_connections,
      superuserReserved: file.settings.superuser_reserved_connections,
      reserved: file.settings.reserved_connections,
    },
    monitor,
    application: undefined,
    alertLabels,
    topN: settings.topN,
  });
  const ev = completeEvidence(emptyDatabase(file.database), reading, {
    edges: [],
    prepared: [],
    preparedWaits: [],
    queries: queryTexts(file),
    text,
    topN: settings.topN,
  });
  ev.reachable = true;
  return ev;
}

describe('field file 10: a monitoring role without pg_monitor', () => {
  const monitor = { role: 'pagefirst_monitor', superuser: false, readAllStats: false, useReserved: null };
  const ev = evidenceOf(field10, monitor, { alertname: 'db_pool_exhausted', service: 'checkout' });

  test('every hidden row is counted, the probable client backends apart, with the GRANT that fixes it', () => {
    expect(ev.visibility).toEqual({ hidden: 52, hiddenClients: 51, grant: 'GRANT pg_monitor TO "pagefirst_monitor";' });
    expect(ev.backendTypes).toEqual({ '(hidden)': 52 });
  });

  test("the hidden sessions keep their application and user: 48 are the application's (the alert's service), 3 metabase's", () => {
    expect(ev.application?.how).toBe('alert');
    expect(ev.clients).toEqual([
      expect.objectContaining({
        application: 'checkout',
        user: 'app',
        owner: 'application',
        sessions: 48,
        hidden: 48,
        byState: { '(hidden)': 48 },
        idleInTransactionSettled: 0,
      }),
      expect.objectContaining({ application: 'metabase', user: 'reporting', owner: 'other', sessions: 3, hidden: 3 }),
    ]);
  });

  test('invisibility is never read as absence: nothing is listed, and the slot arithmetic carries the unknown', () => {
    expect(ev.connections).toBe(0);
    expect(ev.idleInTransaction).toEqual([]);
    expect(ev.slots).toMatchObject({ usable: 57, used: 1, unknown: 51, freeOrdinary: 56 });
    expect(ev.slots!.whoCanConnect).toBe('56 (or as few as 5) of 57 ordinary slots are free: any role can connect.');
  });

  test('the section says what it cannot see, and how to fix it; the summary too', () => {
    const sections = databaseSections(ev, [], settings, false);
    const blind = sections.find((s) => s.title === 'blind spots');
    expect(blind && 'text' in blind && blind.text).toBe(
      [
        'The monitoring role "pagefirst_monitor" cannot see 52 backends: pg_stat_activity shows them with query "<insufficient privilege>" and no state, backend type or times.',
        "51 of them have a user and a database, most likely other roles' client backends: 48 of checkout (user app, the application), 3 of metabase (user reporting); the other 1 are background processes.",
        'Their state, idle transactions and locks are unknown here: nothing below counts them as idle, busy or absent.',
        'To see them: GRANT pg_monitor TO "pagefirst_monitor";',
      ].join('\n'),
    );
    const notes = sections.find((s) => s.title === 'notes');
    expect(notes && 'text' in notes && notes.text).toMatch(/^None found among the sessions we can see: /);
    expect(summaryOf(ev)).toBe('app: 1/60 connections, 52 hidden from us');
  });
});

describe("field file 11: a person's DBeaver idle in transaction during the application's incident", () => {
  const monitor = { role: 'pagefirst_monitor', superuser: false, readAllStats: true, useReserved: null };
  const ev = evidenceOf(field11, monitor, { alertname: 'db_pool_exhausted', service: 'checkout' });

  test("DBeaver is a person's tool, not the application's; the application's idle transactions are milliseconds old", () => {
    expect(ev.clients).toEqual([
      expect.objectContaining({ application: 'checkout', owner: 'application', sessions: 20, idleInTransactionSettled: 0 }),
      expect.objectContaining({
        application: 'DBeaver 23.0.0 - Main app',
        user: 'analyst',
        owner: 'person',
        tool: 'DBeaver',
        sessions: 1,
        idleInTransactionSettled: 1,
      }),
    ]);
    const dbeaver = ev.idleInTransaction.find((s) => s.pid === 31705)!;
    expect(dbeaver).toMatchObject({ owner: 'person', tool: 'DBeaver', user: 'analyst' });
    expect(dbeaver.stateAgeMs).toBe(54_565); // 13:37:12.906 - 13:36:18.341
    expect(dbeaver.xactAgeMs).toBe(2_098_839);
    const app = ev.idleInTransaction.filter((s) => s.owner === 'application');
    expect(app.length).toBeGreaterThan(0);
    for (const s of app) expect(s.stateAgeMs).toBeLessThan(200);
  });

  test('the section tells whose each idle transaction is', () => {
    const sections = databaseSections(ev, [], settings, false);
    const table = sections.find((s) => s.title === 'idle in transaction');
    expect(table?.type === 'table' && table.rows.find((r) => r[0] === '31705')?.slice(0, 5)).toEqual([
      '31705',
      'analyst',
      'DBeaver 23.0.0 - Main app',
      'a person (DBeaver)',
      '55 s',
    ]);
    const whose = sections.find((s) => s.title === 'whose sessions');
    expect(whose && 'text' in whose && whose.text).toMatch(/alert's service "checkout"/);
  });
});
