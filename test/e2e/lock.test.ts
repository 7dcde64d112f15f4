/**
 * End to end, lock contention: one transaction of the demo backend updates a row and stays open;
 * the other connections update the same row and wait. The one diagnostic in the page's thread
 * names lock_contention with the holder's pid as the root blocker (from pg_stat_activity).
 */
import { expectOneDiagnostic, startStack, type Stack } from './stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
}, 60_000);
afterAll(() => stack?.stop(), 60_000);

test('lock: one diagnostic in the thread, lock_contention first, naming the root blocker', async () => {
  await stack.induce('lock');
  const got = await stack.waitForDiagnostic();
  const sessions = await stack.sessions();
  const holders = sessions.filter((s) => s.state === 'idle in transaction');
  const waiters = sessions.filter((s) => s.wait_event_type === 'Lock');
  const d = expectOneDiagnostic(got, 'lock_contention');

  expect(holders).toHaveLength(1);
  expect(waiters.length).toBeGreaterThanOrEqual(7);
  const holder = holders[0]!.pid;
  expect(waiters.every((w) => w.blockers.length > 0)).toBe(true);
  // Named for certain (the enricher lists root blockers first), not inferred as "probable".
  expect(d.causes[0]!.evidence[0]).toMatch(new RegExp(`^root blocker on "[^"]+": session pid ${holder} `));
  expect(d.causes[0]!.actions.join('\n')).toContain(`pg_terminate_backend(${holder})`);
  expect(d.causes.find((c) => c.id === 'slow_queries' || c.id === 'connection_leak')).toBeUndefined();
  expect(got.text).toContain(String(holder));
}, 90_000);
