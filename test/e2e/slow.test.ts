/**
 * End to end, slow queries: the demo backend's workers run a query that sleeps in pg_sleep and
 * hold every connection; the one diagnostic in the page's thread names slow_queries with the
 * query's text and a sleeping session's pid.
 */
import { SLOW_QUERY } from '../../demo/backend/scenarios';
import { expectOneDiagnostic, startStack, type Stack } from './stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
}, 60_000);
afterAll(() => stack?.stop(), 60_000);

test('slow: one diagnostic in the thread, slow_queries first, naming the query', async () => {
  await stack.induce('slow');
  const got = await stack.waitForDiagnostic();
  const sleeping = (await stack.sessions()).filter((s) => s.state === 'active' && s.wait_event === 'PgSleep');
  const d = expectOneDiagnostic(got, 'slow_queries');

  expect(sleeping.length).toBeGreaterThanOrEqual(8);
  expect(sleeping[0]!.query).toBe(SLOW_QUERY);
  const evidence = d.causes[0]!.evidence.join('\n');
  expect(evidence).toContain('SELECT pg_sleep($1::float8) AS slept, count(*) AS orders FROM orders');
  expect(sleeping.some((s) => evidence.includes(`pid ${s.pid} `))).toBe(true);
  expect(d.causes.find((c) => c.id === 'connection_leak' || c.id === 'lock_contention')).toBeUndefined();
  expect(got.text).toContain(d.causes[0]!.title);
}, 90_000);
