import { auth, testApp, TOKEN } from '../support/app';
import { firingPayload } from '../support/fixtures';

type T = Awaited<ReturnType<typeof testApp>>;
let t: T;
beforeEach(async () => {
  t = await testApp({ routes: [{ match: { alertname: 'db_pool_exhausted' }, enrichers: [] }] });
});
afterEach(async () => {
  await t.app.close();
});

const post = (body: unknown, headers: Record<string, string> = { ...auth, 'content-type': 'application/json' }) =>
  t.app.inject({ method: 'POST', url: '/webhook', headers, payload: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body) });

describe('POST /webhook', () => {
  test('202 with the run id at once, the diagnostic on the console and at /diagnostics/:id; a repeat is a duplicate', async () => {
    const res = await post(firingPayload());
    expect(res.statusCode).toBe(202);
    const { id, duplicate } = res.json();
    expect(duplicate).toBe(false);
    const d = await t.pipeline.wait(id);
    expect(t.console.text()).toContain('FIRING db_pool_exhausted');
    const got = await t.app.inject({ method: 'GET', url: `/diagnostics/${id}`, headers: auth });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toEqual(d);
    expect(got.json().notifications).toEqual([{ notifier: 'console', status: 'sent', detail: 'written to stdout' }]);
    const again = await post(firingPayload());
    expect(again.statusCode).toBe(202);
    expect(again.json()).toEqual({ id, duplicate: true });
  });

  test('answers before enrichment finishes', async () => {
    const slow = await testApp({ routes: [{ enrichers: ['pool'] }] });
    // the run is queued when the answer comes back: nothing has been enriched yet
    const res = await slow.app.inject({
      method: 'POST',
      url: '/webhook',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: JSON.stringify(firingPayload()),
    });
    expect(res.statusCode).toBe(202);
    expect((await slow.store.getRun(res.json().id))!.state).toBe('queued');
    await slow.pipeline.wait(res.json().id);
    await slow.app.close();
  });

  test.each<[string, Record<string, string>]>([
    ['no header', { 'content-type': 'application/json' }],
    ['wrong bearer', { authorization: 'Bearer nope', 'content-type': 'application/json' }],
    ['token with a suffix', { authorization: `Bearer ${TOKEN}x`, 'content-type': 'application/json' }],
    ['wrong scheme', { authorization: `Token ${TOKEN}`, 'content-type': 'application/json' }],
    ['basic with a wrong password', { authorization: `Basic ${Buffer.from('am:nope').toString('base64')}`, 'content-type': 'application/json' }],
  ])('401 and nothing processed: %s', async (_n, headers) => {
    const res = await post(firingPayload(), headers);
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ error: 'unauthorized' });
    expect(await t.store.unfinishedRuns()).toEqual([]);
    expect(t.log.records().some((r) => r.msg === 'unauthorized request')).toBe(true);
  });

  test('Basic auth with the token as password is accepted', async () => {
    const res = await post(firingPayload(), {
      authorization: `Basic ${Buffer.from(`alertmanager:${TOKEN}`).toString('base64')}`,
      'content-type': 'application/json',
    });
    expect(res.statusCode).toBe(202);
  });

  test.each<[string, string | Buffer, string]>([
    ['invalid JSON', '{"version": "4", ', 'body is not valid JSON'],
    ['empty body', '', 'body is empty'],
    ['non-UTF-8 bytes', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), 'body is not valid UTF-8'],
    ['a JSON array', '[]', 'expected object'],
    ['missing alerts', JSON.stringify({ ...firingPayload(), alerts: undefined }), 'Required'],
  ])('400 invalid_payload for %s', async (_n, body, message) => {
    const res = await post(body);
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_payload');
    expect(JSON.stringify(res.json().issues)).toContain(message);
    expect(await t.store.unfinishedRuns()).toEqual([]);
  });

  test('wrong types list every issue with its path', async () => {
    const p = firingPayload();
    p.alerts[0].labels = 'x';
    p.status = 3;
    const res = await post(p);
    expect(res.statusCode).toBe(400);
    const paths = res.json().issues.map((i: { path: string }) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['status', 'alerts.0.labels']));
  });

  test('10,000 alerts in one payload: 413 over the body limit, 400 with a hint under it', async () => {
    const p = firingPayload();
    const many = Array.from({ length: 10_000 }, (_, i) => ({ ...p.alerts[0], fingerprint: i.toString(16) }));
    const big = await post({ ...p, alerts: many });
    expect(big.statusCode).toBe(413);
    expect(big.json().error).toBe('payload_too_large');
    const roomy = await testApp({ server: { auth: { token: TOKEN }, bodyLimitBytes: 20 * 1024 * 1024 } });
    const res = await roomy.app.inject({
      method: 'POST',
      url: '/webhook',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: JSON.stringify({ ...p, alerts: many }),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().issues[0].message).toContain('max_alerts');
    await roomy.app.close();
  });

  test('labels of 100 KB within the body limit are accepted and stored whole', async () => {
    const p = firingPayload();
    p.alerts[0].labels.huge = 'x'.repeat(100 * 1024);
    const res = await post(p);
    expect(res.statusCode).toBe(202);
    const d = await t.pipeline.wait(res.json().id);
    expect(d.alert!.labels.huge).toHaveLength(100 * 1024);
  });

  test('a wrong content type is 415', async () => {
    const res = await post(JSON.stringify(firingPayload()), { ...auth, 'content-type': 'text/plain' });
    expect(res.statusCode).toBe(415);
  });
});

describe('GET /diagnostics/:id, health, metrics', () => {
  test('unknown id is 404; auth required', async () => {
    expect((await t.app.inject({ url: '/diagnostics/nope', headers: auth })).statusCode).toBe(404);
    expect((await t.app.inject({ url: '/diagnostics/nope' })).statusCode).toBe(401);
  });

  test('healthz, readyz, metrics', async () => {
    expect((await t.app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await t.app.inject({ url: '/readyz' })).json()).toEqual({ status: 'ready', store: { kind: 'sqlite', where: t.store.where } });
    const { id } = (await post(firingPayload())).json();
    await t.pipeline.wait(id);
    await post(firingPayload());
    await post('{');
    await post(firingPayload(), { 'content-type': 'application/json' });
    await post({ ...firingPayload(), pad: 'x'.repeat(1024 * 1024) });
    const m = await t.app.inject({ url: '/metrics' });
    expect(m.statusCode).toBe(200);
    expect(m.body).toMatch(/pagefirst_webhooks_received_total\{outcome="accepted"\} 1/);
    expect(m.body).toMatch(/pagefirst_webhooks_received_total\{outcome="duplicate"\} 1/);
    expect(m.body).toMatch(/pagefirst_duplicates_total\{trigger="webhook"\} 1/);
    expect(m.body).toMatch(/pagefirst_webhooks_received_total\{outcome="invalid"\} 1/);
    expect(m.body).toMatch(/pagefirst_webhooks_received_total\{outcome="unauthorized"\} 1/);
    expect(m.body).toMatch(/pagefirst_webhooks_received_total\{outcome="too_large"\} 1/);
    expect(m.body).toMatch(/pagefirst_notifications_total\{notifier="console",outcome="sent"\} 1/);
    expect(m.body).toMatch(/pagefirst_run_duration_seconds_count\{trigger="webhook"\} 1/);
    expect(m.body).toMatch(/pagefirst_runs_in_flight 0/);
  });

  test('readyz is 503 while closing', async () => {
    const other = await testApp();
    const closing = other.app.close();
    const r = await other.app.inject({ url: '/readyz' }).catch(() => undefined);
    await closing;
    expect(r === undefined || r.statusCode === 503).toBe(true);
  });
});
