import { auth, testApp } from '../support/app';
import { firingPayload } from '../support/fixtures';

type T = Awaited<ReturnType<typeof testApp>>;
let t: T;
beforeEach(async () => {
  t = await testApp({ routes: [{ enrichers: [] }], server: { auth: { token: 'test-token-0123456789abcdef' }, rateLimitPerMinute: 5 } });
});
afterEach(async () => {
  await t.app.close();
});

const enrich = (body: unknown, query = '') =>
  t.app.inject({ method: 'POST', url: `/enrich${query}`, headers: { ...auth, 'content-type': 'application/json' }, payload: JSON.stringify(body) });

describe('POST /enrich', () => {
  test('a whole webhook payload, with ?wait=true, answers 200 with the Diagnostic', async () => {
    const res = await enrich(firingPayload(), '?wait=true');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ trigger: 'manual', alertname: 'db_pool_exhausted', groupKey: '{}/{}:{alertname="db_pool_exhausted"}' });
    expect(t.console.text()).toContain('db_pool_exhausted');
  });

  test('{"alert": ...} joins the group Alertmanager sent the alert in', async () => {
    const wh = await t.app.inject({
      method: 'POST',
      url: '/webhook',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: JSON.stringify(firingPayload()),
    });
    await t.pipeline.wait(wh.json().id);
    const res = await enrich({ alert: { labels: { alertname: 'db_pool_exhausted', severity: 'critical', team: 'backend' } } }, '?wait=true');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ groupKey: '{}/{}:{alertname="db_pool_exhausted"}', fingerprints: ['e214ec06c8c5d0da'], trigger: 'manual' });
  });

  test('{"alert": ...} for an alert never seen gets a group of its own', async () => {
    const res = await enrich(
      { alert: { labels: { alertname: 'db_pool_exhausted', pod: 'api-7' }, annotations: { summary: 's' }, startsAt: '2026-11-27T06:00:00Z' } },
      '?wait=true',
    );
    expect(res.statusCode).toBe(200);
    expect(res.json().groupKey).toBe('manual:{alertname="db_pool_exhausted",pod="api-7"}');
    expect(res.json().alert.startsAt).toBe('2026-11-27T06:00:00Z');
  });

  test('?notify=false is a dry run: stored, nobody notified', async () => {
    const res = await enrich(firingPayload(), '?wait=true&notify=false');
    expect(res.json().notifications).toEqual([{ notifier: 'console', status: 'skipped', detail: 'dry run (notify=false)' }]);
    expect(t.console.text()).toBe('');
  });

  test('without wait: 202 and the id; repeated re-runs within the cool-down coalesce', async () => {
    const a = await enrich(firingPayload());
    expect(a.statusCode).toBe(202);
    const b = await enrich(firingPayload());
    expect(b.json()).toEqual({ id: a.json().id, duplicate: true });
  });

  test.each<[string, unknown, string]>([
    ['an unknown body', { hello: 'world' }, 'expected one of'],
    ['an alert without alertname', { alert: { labels: { severity: 'x' } } }, 'must include alertname'],
    ['a bad fingerprint', { fingerprint: 'not-hex' }, 'must be a hex fingerprint'],
  ])('400 for %s', async (_n, body, msg) => {
    const res = await enrich(body);
    expect(res.statusCode).toBe(400);
    expect(JSON.stringify(res.json())).toContain(msg);
  });

  test('a fingerprint without sources.alertmanager says what to configure', async () => {
    const res = await enrich({ fingerprint: 'e214ec06c8c5d0da' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'alertmanager_not_configured' });
  });

  test('is rate limited per client', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 7; i++) codes.push((await enrich({ alert: { labels: { alertname: 'x', i: String(i) } } }, '?notify=false')).statusCode);
    expect(codes.slice(0, 5)).toEqual([202, 202, 202, 202, 202]);
    expect(codes.slice(5)).toEqual([429, 429]);
  });

  test('needs auth', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/enrich', payload: firingPayload() });
    expect(res.statusCode).toBe(401);
  });
});
