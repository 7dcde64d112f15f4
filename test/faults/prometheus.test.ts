import type { Diagnostic } from '../../src/core/diagnostic';
import { buildMessageModel } from '../../src/notifiers/message';
import { renderDiagnostic } from '../../src/slack/render';
import { checkMessage } from '../fakes/slack';
import { auth, testApp } from '../support/app';
import { firingPayload } from '../support/fixtures';
import { closedPortUrl, startCannedServer, startHangingServer, type StubServer } from '../support/http-stubs';

/**
 * Issue 7, faults: Prometheus is down (nothing listens), slow (accepts and never answers) or
 * answers garbage. Through the real app: the run ends within its budget, the Prometheus-backed
 * enrichers (pool, traffic) are marked error/timeout with the reason, the others are unaffected,
 * the diagnostic still goes out, and both renderings say what could not be seen.
 */

const BUDGET_MS = 6_000;
const SOURCE_TIMEOUT_MS = 2_500;

async function runAgainst(url: string) {
  const t = await testApp({
    sources: { prometheus: { url, timeoutMs: SOURCE_TIMEOUT_MS } },
    pipeline: { budgetMs: BUDGET_MS, enricherTimeoutMs: 5_000 },
    routes: [{ match: { alertname: 'db_pool_exhausted' }, enrichers: ['pool', 'traffic', 'related_alerts'], notifiers: ['console'] }],
  });
  try {
    const started = Date.now();
    const res = await t.app.inject({
      method: 'POST',
      url: '/webhook',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: JSON.stringify(firingPayload()),
    });
    expect(res.statusCode).toBe(202);
    const d: Diagnostic = await t.pipeline.wait(res.json().id);
    return { d, wallMs: Date.now() - started, console: t.console.text() };
  } finally {
    await t.app.close();
  }
}

function expectReportedMissing(r: { d: Diagnostic; wallMs: number; console: string }, expected: 'error' | 'timeout' | 'error or timeout', reason: RegExp) {
  const { d } = r;
  // within the budget (plus scheduling slack on a loaded 2-core machine)
  expect(d.durationMs).toBeLessThanOrEqual(BUDGET_MS + 500);
  expect(r.wallMs).toBeLessThan(BUDGET_MS + 2_000);
  const statusOf = (name: string) => d.enrichments.find((x) => x.enricher === name)!.status;
  for (const name of ['pool', 'traffic']) {
    const e = d.enrichments.find((x) => x.enricher === name)!;
    expect(expected.split(' or ')).toContain(e.status);
    expect(e.error).toMatch(reason);
    expect(e.durationMs).toBeLessThanOrEqual(SOURCE_TIMEOUT_MS + 1_000);
  }
  expect(d.enrichments.find((x) => x.enricher === 'related_alerts')!.status).toBe('skipped');
  // it went out
  expect(d.notifications).toEqual([{ notifier: 'console', status: 'sent', detail: 'written to stdout' }]);
  // and says what it could not see: the console lists each missing part with why
  const label = (name: string) => (statusOf(name) === 'timeout' ? 'TIMEOUT' : 'ERROR');
  expect(r.console).toMatch(new RegExp(`\\[pool\\] ${label('pool')} `));
  expect(r.console).toMatch(new RegExp(`\\[traffic\\] ${label('traffic')} `));
  // and where no cause stands out, the headline says what was not checked
  if (d.causes.length === 0) expect(r.console).toContain(`not checked: pool (${statusOf('pool')}), traffic (${statusOf('traffic')})`);
  expect(buildMessageModel(d).headline).toMatch(d.causes.length === 0 ? /not checked: pool/ : /^Most likely/);
  // and so does the Slack rendering of the same diagnostic (the "unavailable" block)
  const msg = renderDiagnostic(buildMessageModel(d));
  expect(checkMessage(msg)).toBeUndefined();
  const unavailable = JSON.stringify(msg.blocks.find((b) => b.block_id === 'pf_unavailable'));
  expect(unavailable).toContain('*pool*');
  expect(unavailable).toContain('*traffic*');
  for (const name of ['pool', 'traffic']) expect(unavailable).toMatch(statusOf(name) === 'timeout' ? /timed out after/ : /failed: /);
}

let stubs: StubServer[] = [];
afterEach(async () => {
  await Promise.all(stubs.map((s) => s.close()));
  stubs = [];
});

test('Prometheus down (connection refused): pool and traffic error, the diagnostic goes out', async () => {
  const r = await runAgainst(await closedPortUrl());
  expectReportedMissing(r, 'error', /ECONNREFUSED|unreachable|connect/i);
});

test('Prometheus slow (accepts, never answers): pool and traffic time out at the source timeout', async () => {
  const hang = await startHangingServer();
  stubs.push(hang);
  const r = await runAgainst(hang.url);
  expectReportedMissing(r, 'timeout', new RegExp(`did not answer within ${SOURCE_TIMEOUT_MS} ms`));
});

test('Prometheus slow with a source timeout longer than the run budget: the budget ends the run', async () => {
  const hang = await startHangingServer();
  stubs.push(hang);
  const t = await testApp({
    sources: { prometheus: { url: hang.url, timeoutMs: 30_000 } },
    pipeline: { budgetMs: 1_500, enricherTimeoutMs: 30_000 },
    routes: [{ match: { alertname: 'db_pool_exhausted' }, enrichers: ['pool', 'traffic'], notifiers: ['console'] }],
  });
  try {
    const started = Date.now();
    const res = await t.app.inject({
      method: 'POST',
      url: '/webhook',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: JSON.stringify(firingPayload()),
    });
    const d: Diagnostic = await t.pipeline.wait(res.json().id);
    expect(Date.now() - started).toBeLessThan(1_500 + 1_000);
    for (const e of d.enrichments) {
      expect(e.status).toBe('timeout');
      expect(e.error).toBe('timeout after 1500 ms (run budget)');
    }
    expect(d.notifications[0]!.status).toBe('sent');
    expect(t.console.text()).toContain('[pool] TIMEOUT timed out after');
  } finally {
    await t.app.close();
  }
});

test.each<[string, (res: import('node:http').ServerResponse) => void]>([
  ['HTML from a proxy with 200', (res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Sign in</body></html>')],
  ['truncated JSON', (res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"success","data":{"resultType":"vec')],
  [
    'JSON of the wrong shape',
    (res) =>
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end('{"status":"success","data":{"resultType":"vector","result":[{"metric":null,"value":"x"}]}}'),
  ],
  ['a 502 from a proxy', (res) => res.writeHead(502, { 'content-type': 'text/plain' }).end('Bad Gateway')],
  [
    'an endless body',
    (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    },
  ],
])('Prometheus answers garbage (%s): pool and traffic error, the diagnostic goes out', async (_name, handler) => {
  const canned = await startCannedServer((_req, res) => handler(res));
  stubs.push(canned);
  const r = await runAgainst(canned.url);
  expect(canned.requests.length).toBeGreaterThan(0);
  // an endless body is cut by the response size limit (error) or by the source timeout, whichever comes first for each
  expectReportedMissing(
    r,
    _name === 'an endless body' ? 'error or timeout' : 'error',
    /bad_response|unexpected result shape|not a Prometheus API response|JSON|HTTP 502|did not answer|size|large/i,
  );
});
