/**
 * End to end, traffic spike: Prometheus holds three hours of the backend's request counters at
 * its background rate (backfilled with promtool), so `offset 1h` sees normal traffic; then the
 * backend's load generator bursts requests at /api/orders and /api/orders/:id until the pool
 * saturates. The one diagnostic in the page's thread names traffic_spike and the endpoint.
 */
import { BACKGROUND_RPS, expectOneDiagnostic, startStack, type Stack } from './stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
}, 60_000);
afterAll(() => stack?.stop(), 60_000);

test('the backfilled baseline is there an hour ago', async () => {
  const res = await fetch(`${stack.prometheus.url}/api/v1/query?query=${encodeURIComponent('sum(rate(http_requests_total[1m] offset 1h))')}`, {
    signal: AbortSignal.timeout(5_000),
  });
  const body = (await res.json()) as { data: { result: Array<{ value: [number, string] }> } };
  expect(Number(body.data.result[0]!.value[1])).toBeCloseTo(BACKGROUND_RPS, 0);
});

test('traffic: one diagnostic in the thread, traffic_spike first, naming the endpoint', async () => {
  await stack.induce('traffic');
  const got = await stack.waitForDiagnostic();
  const d = expectOneDiagnostic(got, 'traffic_spike');

  const evidence = d.causes[0]!.evidence.join('\n');
  expect(evidence).toMatch(/an hour ago/);
  expect(evidence).toMatch(/^\/api\/orders: /m);
  expect(d.causes.find((c) => c.id === 'connection_leak' || c.id === 'lock_contention' || c.id === 'slow_queries')).toBeUndefined();
  expect(got.text).toContain('/api/orders');
}, 90_000);
