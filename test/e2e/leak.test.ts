/**
 * End to end, connection leak: the demo backend checks out connections and never releases them
 * (idle in transaction); Prometheus fires db_pool_exhausted, Alertmanager posts it to our webhook,
 * and the one diagnostic in the page's thread names connection_leak with the leaked sessions' pids.
 */
import { causesText, startStack, type Stack } from './stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
}, 60_000);
afterAll(() => stack?.stop(), 60_000);

test('leak: one diagnostic in the thread, connection_leak first, naming the leaked pids', async () => {
  await stack.induce('leak');
  const got = await stack.waitForDiagnostic();
  const leaked = (await stack.sessions()).filter((s) => s.state === 'idle in transaction').map((s) => s.pid);
  const d = got.diagnostic;
  if (process.env.E2E_DEBUG) process.stderr.write(causesText(d) + '\n');

  expect(got.diagnostics).toHaveLength(1);
  expect(got.elsewhere).toEqual([]);
  expect(d.trigger).toBe('webhook');
  expect(d.alertname).toBe('db_pool_exhausted');
  expect(leaked).toHaveLength(9);
  expect({ top: d.causes[0]?.id, causes: causesText(d) }).toMatchObject({ top: 'connection_leak' });
  const evidence = d.causes[0]!.evidence.join('\n');
  const named = leaked.filter((pid) => evidence.includes(`pid ${pid} `));
  expect(named.length).toBeGreaterThan(0);
  expect(d.causes[0]!.actions.join('\n')).toContain(`pg_terminate_backend(${named[0]})`);
  // The thread shows it too: the cause and a leaked pid.
  expect(got.text).toContain(d.causes[0]!.title);
  expect(got.text).toContain(String(named[0]));
}, 90_000);
