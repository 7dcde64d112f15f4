/**
 * Whose sessions are whose (src/enrichers/postgres/ownership.ts) and the connection arithmetic
 * (slots.ts), on the rows of field files 10 and 11 and cases of the same kind.
 */
import field10 from '../fixtures/field/10-pg-activity-insufficient-privilege.json';
import field11 from '../fixtures/field/11-pg-activity-dbeaver-idle-in-tx.json';
import { globToRegExp, ownerOf, recogniseTool, resolveApplication, type ClientGroup } from '../../src/enrichers/postgres/ownership';
import { refusedTier } from '../../src/diagnosis/sight';
import { slotArithmetic } from '../../src/enrichers/postgres/slots';

/** The field file's rows as client groups, without our own session (application_name pagefirst). */
function groupsOf(rows: Array<{ application_name: string | null; usename: string | null }>): ClientGroup[] {
  const m = new Map<string, ClientGroup>();
  for (const r of rows) {
    if (r.application_name === 'pagefirst') continue;
    const k = `${r.application_name}\u0000${r.usename}`;
    const g = m.get(k) ?? { application: r.application_name || null, user: r.usename, count: 0 };
    g.count += 1;
    m.set(k, g);
  }
  return [...m.values()];
}

test.each([
  ['DBeaver 23.0.0 - Main app', 'DBeaver', 'person'],
  ['DBeaver 24.1.0 - SQLEditor <Script-3.sql>', 'DBeaver', 'person'],
  ['psql', 'psql', 'person'],
  ['pgAdmin 4 - DB:app', 'pgAdmin', 'person'],
  ['pgAdmin 4 - CONN:9342839', 'pgAdmin', 'person'],
  ['DataGrip 2024.1.1', 'DataGrip', 'person'],
  ['pg_dump', 'pg_dump', 'maintenance'],
])('recogniseTool(%j) is %s (%s)', (app, name, kind) => {
  expect(recogniseTool(app)).toMatchObject({ name, kind });
});

test.each(['checkout', 'psql-exporter', 'metabase', '', null])('recogniseTool(%j) is no tool', (app) => {
  expect(recogniseTool(app)).toBeNull();
});

test('globs: * and ? only, anchored, everything else literal', () => {
  expect(globToRegExp('checkout*').test('checkout-7f9c')).toBe(true);
  expect(globToRegExp('checkout*').test('my-checkout')).toBe(false);
  expect(globToRegExp('app?').test('app1')).toBe(true);
  expect(globToRegExp('a.b').test('axb')).toBe(false);
  expect(globToRegExp('Checkout').test('checkout')).toBe(false);
});

describe("field file 11: a person's DBeaver idle in transaction beside the application's sessions", () => {
  const groups = groupsOf(field11.pg_stat_activity);

  test("the alert's service names the application; DBeaver is a person's, never the application's", () => {
    const m = resolveApplication(undefined, { alertname: 'db_pool_exhausted', service: 'checkout' }, groups);
    expect(m.how).toBe('alert');
    expect(m.describe).toMatch(/alert's service "checkout"/);
    expect(ownerOf(m, 'checkout', 'app')).toMatchObject({ owner: 'application', tool: null });
    expect(ownerOf(m, 'DBeaver 23.0.0 - Main app', 'analyst')).toMatchObject({ owner: 'person', tool: { name: 'DBeaver' } });
  });

  test('without a service label, the largest client group is the application, and the section says it guessed', () => {
    const m = resolveApplication(undefined, { alertname: 'db_pool_exhausted' }, groups);
    expect(m.how).toBe('largest');
    expect(m.describe).toMatch(/largest client group, application_name "checkout" \(20\); set sources\.postgres\[\]\.application/);
    expect(ownerOf(m, 'DBeaver 23.0.0 - Main app', 'analyst').owner).toBe('person');
  });

  test("configured by user alone, a person's tool logged in as the application's role is still a person's", () => {
    const m = resolveApplication({ names: [], users: ['app'] }, {}, groups);
    expect(m.how).toBe('configured');
    expect(ownerOf(m, 'checkout', 'app').owner).toBe('application');
    expect(ownerOf(m, 'DBeaver 23.0.0 - Main app', 'app').owner).toBe('person');
    expect(ownerOf(m, 'reports', 'reporting').owner).toBe('other');
  });

  test('configured by names and users: both must match', () => {
    const m = resolveApplication({ names: ['checkout*'], users: ['app'] }, { service: 'other' }, groups);
    expect(ownerOf(m, 'checkout-worker', 'app').owner).toBe('application');
    expect(ownerOf(m, 'checkout-worker', 'analyst').owner).toBe('other');
    expect(m.describe).toBe('The application\'s sessions are those with application_name "checkout*" and user "app" (sources.postgres[].application).');
  });
});

test('field file 10: blind rows keep application_name and usename, so they are attributed too', () => {
  const groups = groupsOf(field10.pg_stat_activity);
  const m = resolveApplication(undefined, { service: 'checkout' }, groups);
  const owners = field10.pg_stat_activity.filter((r) => r.application_name !== 'pagefirst').map((r) => ownerOf(m, r.application_name || null, r.usename).owner);
  expect(owners.filter((o) => o === 'application')).toHaveLength(48);
  expect(owners.filter((o) => o === 'other')).toHaveLength(4); // metabase's 3 and a background process
});

test('two groups of the same size: no guess', () => {
  const m = resolveApplication(undefined, {}, [
    { application: 'orders', user: 'app', count: 5 },
    { application: 'billing', user: 'app', count: 5 },
  ]);
  expect(m.how).toBe('none');
  expect(ownerOf(m, 'orders', 'app').owner).toBe('other');
});

test('a service label matches names that carry a suffix, and users; a tool never becomes the application through its user', () => {
  const m = resolveApplication(undefined, { app: 'orders' }, [
    { application: 'orders-api-7c9f', user: 'svc', count: 3 },
    { application: 'psql', user: 'orders', count: 1 },
  ]);
  expect(m.how).toBe('alert');
  expect(ownerOf(m, 'orders-api-7c9f', 'svc').owner).toBe('application');
  expect(ownerOf(m, 'ordersync', 'svc').owner).toBe('other');
  expect(ownerOf(m, 'psql', 'orders').owner).toBe('person');
});

describe('connection arithmetic', () => {
  const pg16 = { maxConnections: 100, superuserReserved: 3, reserved: 5 };

  test('usable slots are max_connections minus both reservations', () => {
    expect(
      slotArithmetic({ maxConnections: field10.settings.max_connections, superuserReserved: 3, reserved: 0 }, 53, 0, { superuser: false, useReserved: null }),
    ).toMatchObject({
      usable: 57,
      freeOrdinary: 4,
      ourTier: 'ordinary',
      whoCanConnect: '4 of 57 ordinary slots are free: any role can connect.',
    });
    expect(slotArithmetic(pg16, 10, 0, { superuser: false, useReserved: false }).usable).toBe(92);
  });

  test('full ordinary slots: who can still get in, and the reserved slot our role took', () => {
    const a = slotArithmetic(pg16, 94, 0, { superuser: false, useReserved: true });
    expect(a).toMatchObject({ freeOrdinary: -2, ourTier: 'reserved' });
    expect(a.whoCanConnect).toBe(
      'The 92 ordinary slots are used up: only roles with pg_use_reserved_connections (3 of 5 reserved_connections left) and superusers (3 of 3 superuser_reserved_connections left) can still connect.',
    );
  });

  test('invisible sessions make the free count a range, never a certainty', () => {
    expect(slotArithmetic(pg16, 80, 20, { superuser: false, useReserved: false }).whoCanConnect).toBe(
      'Up to 12 of 92 ordinary slots may be free, but 20 sessions we cannot see may take them.',
    );
    expect(slotArithmetic(pg16, 80, 5, { superuser: false, useReserved: false }).whoCanConnect).toBe(
      '12 (or as few as 7) of 92 ordinary slots are free: any role can connect.',
    );
  });

  test.each([
    ['sorry, too many clients already', 'all'],
    ['remaining connection slots are reserved for roles with privileges of the "pg_use_reserved_connections" role', 'ordinary'],
    ['remaining connection slots are reserved for roles with the SUPERUSER attribute', 'reserved'],
    ['remaining connection slots are reserved for non-replication superuser connections', 'reserved'],
    ['remaining connection slots are reserved for rds_reserved', null],
  ])('refusedTier(%j) = %j', (msg, tier) => {
    expect(refusedTier(msg)).toBe(tier);
  });
});
