import type { Diagnostic } from '../../src/core/diagnostic';
import { FakeSlack } from '../fakes/slack';
import { auth, testApp } from '../support/app';
import { firingPayload } from '../support/fixtures';

/**
 * Issue 7, faults: Slack fails for about 30 s (HTTP 500 for 12 s, then 429 with Retry-After for
 * 18 s) and then recovers. Through the real app and the fake Slack: the diagnostic arrives once,
 * after the outage, in the alert's thread; nothing was half-posted during it; the Diagnostic
 * records the notification as sent.
 */

const FAIL_500_MS = 12_000;
const FAIL_429_MS = 18_000;

test('a 30 s Slack outage (500, then 429 + Retry-After): exactly one diagnostic, after it, recorded as sent', async () => {
  const fake = await FakeSlack.start();
  const t = await testApp({
    slack: {
      token: fake.token,
      apiUrl: fake.url,
      alertsChannel: 'C0ALERTS',
      incidentChannel: 'C0INCIDENT',
      threadSearchWaitMs: 0,
      channelIntervalMs: 0,
      chart: false,
      timeoutMs: 2_000,
      retries: 1,
    },
    // The retry stage must outlast the outage: a 60 s budget, backoff up to 3 s.
    pipeline: { notify: { budgetMs: 60_000, maxAttempts: 100, initialBackoffMs: 300, maxBackoffMs: 3_000 } },
    routes: [{ match: { alertname: 'db_pool_exhausted' }, enrichers: [] }],
  });
  try {
    const page = fake.seedAlertmanagerPage('C0ALERTS', {
      groupLabels: { alertname: 'db_pool_exhausted' },
      labels: firingPayload().commonLabels,
      summary: 'DB connection pool nearly exhausted',
    });
    const start = Date.now();
    fake.failFor('*', FAIL_500_MS, { status: 500 });
    fake.failFor('*', FAIL_500_MS + FAIL_429_MS, { status: 429, retryAfter: 2 });
    const outageEnds = start + FAIL_500_MS + FAIL_429_MS;

    const res = await t.app.inject({
      method: 'POST',
      url: '/webhook',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: JSON.stringify(firingPayload()),
    });
    expect(res.statusCode).toBe(202);
    const d: Diagnostic = await t.pipeline.wait(res.json().id);

    // Slack was really hit during the outage with both failures, and retried with backoff (not hammered)
    const during = fake.calls.filter((c) => c.time < outageEnds);
    expect(during.some((c) => c.status === 500)).toBe(true);
    expect(during.some((c) => c.status === 429)).toBe(true);
    expect(during.every((c) => !c.ok)).toBe(true);
    expect(during.length).toBeLessThan(60);
    // Retry-After was honoured: no two calls in the 429 window closer than ~2 s apart
    const in429 = during.filter((c) => c.status === 429).map((c) => c.time);
    for (let i = 1; i < in429.length; i++) expect(in429[i]! - in429[i - 1]!).toBeGreaterThanOrEqual(1_900);

    // exactly one diagnostic in the thread, posted after the outage
    const diagnostics = fake.replies('C0ALERTS', page.ts).filter((m) => JSON.stringify(m.blocks ?? []).includes('"block_id":"pf_header_'));
    expect(diagnostics).toHaveLength(1);
    expect(Number(diagnostics[0]!.ts) * 1000).toBeGreaterThanOrEqual(Math.floor(outageEnds / 1000) * 1000);
    expect(fake.topLevel('C0ALERTS')).toEqual([page]); // no parent of our own was added
    expect(fake.topLevel('C0INCIDENT')).toHaveLength(1);
    const posts = fake.calls.filter((c) => c.method === 'chat.postMessage' && c.ok);
    expect(posts).toHaveLength(2); // the diagnostic and the incident summary, once each

    expect(d.notifications).toEqual([expect.objectContaining({ notifier: 'slack', status: 'sent' })]);
    const stored = await t.app.inject({ method: 'GET', url: `/diagnostics/${d.id}`, headers: auth });
    expect(stored.json().notifications[0].status).toBe('sent');
    expect(t.log.records().filter((r) => r.msg === 'notifier failed; retrying').length).toBeGreaterThan(3);
  } finally {
    await t.app.close();
    await fake.close();
  }
}, 70_000);
