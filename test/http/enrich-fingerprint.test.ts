import { auth, testApp } from '../support/app';
import { startAlertmanager, type AlertmanagerServer } from '../support/alertmanager';
import { fingerprintOf } from '../../src/alertmanager/fingerprint';

let am: AlertmanagerServer;
beforeAll(async () => {
  am = await startAlertmanager();
}, 60_000);
afterAll(async () => {
  await am.stop();
});

describe('POST /enrich {"fingerprint"} against the real Alertmanager', () => {
  test('looks the alert up and diagnoses it; an unknown fingerprint is 404', async () => {
    const labels = { alertname: 'db_pool_exhausted', severity: 'critical', service: 'api' };
    await am.postAlerts([{ labels, annotations: { summary: 'pool nearly exhausted' }, startsAt: new Date(Date.now() - 60_000).toISOString() }]);
    const fp = fingerprintOf(labels);
    const t = await testApp({ sources: { alertmanager: { url: am.url } }, routes: [{ enrichers: [] }] });
    try {
      const ask = () =>
        t.app.inject({
          method: 'POST',
          url: '/enrich?wait=true',
          headers: { ...auth, 'content-type': 'application/json' },
          payload: JSON.stringify({ fingerprint: fp }),
        });
      // 404 until the alert is known: asked again until it is (at most 50 times).
      let res = await ask();
      for (let i = 1; i < 50 && res.statusCode === 404; i++) {
        await new Promise((r) => setTimeout(r, 100));
        res = await ask();
      }
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({
        fingerprints: [fp],
        alertname: 'db_pool_exhausted',
        trigger: 'manual',
        alert: { labels, annotations: { summary: 'pool nearly exhausted' } },
      });
      const unknown = await t.app.inject({
        method: 'POST',
        url: '/enrich',
        headers: { ...auth, 'content-type': 'application/json' },
        payload: JSON.stringify({ fingerprint: '0123456789abcdef' }),
      });
      expect(unknown.statusCode).toBe(404);
      expect(unknown.json().message).toContain('0123456789abcdef');
    } finally {
      await t.app.close();
    }
  });

  test('Alertmanager down is a 502 that says so', async () => {
    const t = await testApp({ sources: { alertmanager: { url: 'http://127.0.0.1:9', timeoutMs: 1000 } }, routes: [{ enrichers: [] }] });
    const res = await t.app.inject({
      method: 'POST',
      url: '/enrich',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: JSON.stringify({ fingerprint: 'abcdef' }),
    });
    expect(res.statusCode).toBe(502);
    expect(res.json().error).toBe('alertmanager_unavailable');
    await t.app.close();
  });
});
