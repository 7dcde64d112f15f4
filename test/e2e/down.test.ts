/**
 * End to end, database down: every PostgreSQL process is SIGSTOPped while the demo backend's
 * background traffic runs, so the server accepts TCP connections but never answers. The pool
 * fills with requests waiting on it, Prometheus fires db_pool_exhausted through Alertmanager, and
 * the one diagnostic in the page's thread names database_unavailable: our monitoring connection
 * times out too.
 */
import { expectOneDiagnostic, startStack, type Stack } from './stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
}, 60_000);
afterAll(() => stack?.stop(), 60_000);

test('down: one diagnostic in the thread, database_unavailable first', async () => {
  // The backend serves its background traffic first (the pool has connections to lose).
  await stack.sessions();
  const frozen = stack.freezeDatabase();
  expect(frozen.length).toBeGreaterThan(1);
  stack.seedPage();
  const got = await stack.waitForDiagnostic();
  const d = expectOneDiagnostic(got, 'database_unavailable');

  expect(d.causes[0]!.evidence.join('\n')).toMatch(/"app" cannot be reached \((timeout|unreachable|circuit_open)\)/);
  expect(got.text).toContain(d.causes[0]!.title);
}, 90_000);
