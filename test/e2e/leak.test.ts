/**
 * End to end, connection leak: the demo backend checks out connections and never releases them
 * (idle in transaction); Prometheus fires db_pool_exhausted, Alertmanager posts it to our webhook,
 * and the one diagnostic in the page's thread names connection_leak with the leaked sessions' pids,
 * with the pool chart from the real Prometheus series beside it.
 */
import type { Diagnostic } from '../../src/core/diagnostic';
import type { PoolEvidence, PostgresEvidence } from '../../src/core/evidence';
import { LEAK_CHECKOUT_FRAME } from '../../demo/backend/leak-warning';
import { ALERTS_CHANNEL, chartsInThread, INCIDENT_CHANNEL, expectOneDiagnostic, startStack, type Stack } from './stack';

let stack: Stack;
// The first start may build dist/ and .demo-dist/ (scripts/ensure-build.mjs) before anything runs.
beforeAll(async () => {
  stack = await startStack({ chart: true });
}, 120_000);
afterAll(() => stack?.stop(), 60_000);

test('leak: one diagnostic in the thread, connection_leak first, naming the leaked pids', async () => {
  await stack.induce('leak');
  const got = await stack.waitForDiagnostic();
  const leaked = (await stack.sessions()).filter((s) => s.state === 'idle in transaction').map((s) => s.pid);
  const d = expectOneDiagnostic(got, 'connection_leak');

  expect(d.alertname).toBe('db_pool_exhausted');
  expect(leaked).toHaveLength(9);
  const evidence = d.causes[0]!.evidence.join('\n');
  const named = leaked.filter((pid) => evidence.includes(`pid ${pid} `));
  expect(named.length).toBeGreaterThan(0);
  expect(d.causes[0]!.actions.join('\n')).toContain(`pg_terminate_backend(${named[0]})`);
  // The thread shows it too: the cause and a leaked pid.
  expect(got.text).toContain(d.causes[0]!.title);
  expect(got.text).toContain(String(named[0]));
  // ... and the culprit: the code that took the leaked connections, from the backend's HikariCP-style leak warnings
  const culprit = `${LEAK_CHECKOUT_FRAME.class}.${LEAK_CHECKOUT_FRAME.method} (${LEAK_CHECKOUT_FRAME.file}:${LEAK_CHECKOUT_FRAME.line})`;
  expect(d.causes[0]!.evidence.join('\n')).toContain(`the leaked connection was taken at ${culprit}`);
  expect(d.causes[0]!.actions.join('\n')).toContain(`Fix the code that takes the connection at ${culprit}`);
  expect(got.text).toContain(culprit);

  // The pool chart, rendered from the real Prometheus series, is shared into the thread once, as a PNG.
  const files = await chartsInThread(stack, got);
  expect(files).toHaveLength(1);
  expect(files[0]!.name).toBe(`db_pool_exhausted-pool-${d.id}.png`);
  const png = stack.slack.uploads.get(files[0]!.id)!.bytes!;
  expect(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);

  // The incident channel has one summary, linking to the page's thread.
  const summaries = stack.slack.topLevel(INCIDENT_CHANNEL);
  expect(summaries).toHaveLength(1);
  const pageLink = `/archives/${ALERTS_CHANNEL}/p${got.page.ts.replace('.', '')}`;
  expect(JSON.stringify(summaries[0])).toContain(pageLink);
  expect(JSON.stringify(summaries[0])).toContain(d.causes[0]!.title);

  // The same alert re-run by hand (a dry run): the sections show what the runbook asks a person to look up
  const res = await fetch(`${stack.receiver.url}/enrich?wait=true&notify=false`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.token}` },
    body: JSON.stringify({ alert: { labels: d.alert!.labels } }),
  });
  expect(res.status).toBe(200);
  const manual = (await res.json()) as Diagnostic;
  expect(manual.trigger).toBe('manual');
  expect(manual.groupKey).toBe(d.groupKey);
  const byName = new Map(manual.enrichments.map((e) => [e.enricher, e]));
  expect(byName.get('pool')!.status).toBe('ok');
  const pool = byName.get('pool')!.evidence as unknown as PoolEvidence;
  expect(pool.total).toBe(10);
  expect(pool.available).toBeLessThan(2);
  const pg = (byName.get('postgres')!.evidence as unknown as PostgresEvidence).databases[0]!;
  expect(pg.reachable).toBe(true);
  expect(pg.idleInTransaction.length).toBeGreaterThan(0);
  for (const s of pg.idleInTransaction) expect(leaked).toContain(s.pid);
  expect(pg.byState['idle in transaction']).toBeGreaterThanOrEqual(9);
  expect(JSON.stringify(byName.get('postgres')!.sections)).toContain(String(pg.idleInTransaction[0]!.pid));
  expect(manual.notifications.every((n) => n.status === 'skipped')).toBe(true);
}, 90_000);
