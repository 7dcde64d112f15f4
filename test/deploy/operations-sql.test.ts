import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { startPostgres, type TestPostgres } from '../support/postgres';

let pg: TestPostgres;
beforeAll(async () => {
  pg = await startPostgres();
}, 60_000);
afterAll(async () => {
  await pg?.stop();
});

/** The SQL block of section 4 of docs/operations.md, as written there. */
function monitoringRoleSql(): string {
  const doc = readFileSync(join(__dirname, '../../docs/operations.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## 4.'), doc.indexOf('## 5.'));
  const m = section.match(/```sql\n([\s\S]*?)```/);
  if (!m) throw new Error('no sql block in section 4');
  return m[1]!;
}

describe('the monitoring role SQL in docs/operations.md', () => {
  test('creates a role that sees every session, cannot write, and is limited', async () => {
    const admin = await pg.connect();
    await admin.query(monitoringRoleSql());
    await admin.query('CREATE TABLE IF NOT EXISTS t (x int)');
    const url = pg.url({ user: 'pagefirst_monitor', password: 'change-me', database: 'postgres' });
    const other = await pg.connect({ applicationName: 'somebody-else' });
    await other.query('SELECT 1');
    const mon = new Client({ connectionString: url });
    await mon.connect();
    try {
      const seen = await mon.query("SELECT query FROM pg_stat_activity WHERE application_name = 'somebody-else'");
      expect(seen.rows[0].query).not.toBe('<insufficient privilege>');
      await expect(mon.query('INSERT INTO t VALUES (1)')).rejects.toThrow(/read-only transaction/);
      const settings = await mon.query("SELECT current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt");
      expect(settings.rows[0]).toEqual({ st: '2s', lt: '500ms' });
      const limit = await admin.query("SELECT rolconnlimit FROM pg_roles WHERE rolname = 'pagefirst_monitor'");
      expect(limit.rows[0].rolconnlimit).toBe(2);
    } finally {
      await mon.end();
    }
  });
});
