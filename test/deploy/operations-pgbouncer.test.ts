/**
 * The PgBouncer part of docs/operations.md §4, as written there, on a real PgBouncer: the ini
 * lines and the auth_file line it gives make a console user that reads SHOW and can do nothing
 * else, and the source URL it shows works with it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { pgbouncerSourceSchema } from '../../src/sources/config';
import { createPgBouncerClient } from '../../src/sources/pgbouncer';
import { startPgBouncer, type TestPgBouncer } from '../support/pgbouncer';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { caught } from '../support/wait';

let pg: TestPostgres;
let bouncer: TestPgBouncer;

/** Section 4's "Behind PgBouncer" text. */
function section(): string {
  const doc = readFileSync(join(__dirname, '../../docs/operations.md'), 'utf8');
  const s = doc.slice(doc.indexOf('## 4.'), doc.indexOf('## 5.'));
  return s.slice(s.indexOf('### Behind PgBouncer'));
}

beforeAll(async () => {
  const text = section();
  const ini = /```ini\n([\s\S]*?)```/.exec(text)?.[1];
  if (!ini) throw new Error('no ini block under "Behind PgBouncer"');
  const settings = Object.fromEntries(
    ini
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith(';'))
      .map((l) => l.split('=').map((x) => x.trim()) as [string, string]),
  );
  const auth = /`"([^"]+)" "([^"]+)"/.exec(text);
  if (!auth) throw new Error('no auth_file line under "Behind PgBouncer"');
  pg = await startPostgres();
  bouncer = await startPgBouncer(pg, { users: { [auth[1]!]: auth[2]! }, settings });
});

afterAll(async () => {
  await bouncer?.stop();
  await pg?.stop();
});

test('the documented stats user reads the console through the documented URL shape, and may not change anything', async () => {
  const text = section();
  const url = /url: "(postgres:\/\/[^"]+)"/.exec(text)![1]!;
  const configured = pgbouncerSourceSchema.parse({ name: 'main-pooler', url });
  expect(new URL(configured.url).pathname).toBe('/pgbouncer');
  const u = new URL(configured.url);
  const client = createPgBouncerClient({
    ...configured,
    url: bouncer.url({ user: decodeURIComponent(u.username), password: 'change-me', database: 'pgbouncer' }),
  });
  try {
    const snap = await client.snapshot(new AbortController().signal);
    expect(snap.version).toMatch(/^PgBouncer/);
    expect(snap.config.stats_users).toBe('pagefirst_stats');
  } finally {
    await client.close();
  }
  const raw = new Client({ connectionString: bouncer.url({ user: 'pagefirst_stats', password: 'change-me', database: 'pgbouncer' }) });
  await raw.connect();
  try {
    for (const command of ['PAUSE', 'RELOAD', 'SHOW FDS']) expect((await caught(raw.query(command))).message).toBe('admin access needed');
  } finally {
    await raw.end();
  }
});
