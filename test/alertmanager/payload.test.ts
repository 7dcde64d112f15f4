import fc from 'fast-check';
import { webhookPayloadSchema, toAlertGroup, issuesOf } from '../../src/alertmanager/payload';
import { fingerprintOf } from '../../src/alertmanager/fingerprint';
import { firingPayload } from '../support/fixtures';

const schema = webhookPayloadSchema(1000);

describe('webhook payload v4', () => {
  test('the real fixture parses into an alert group', () => {
    const p = schema.parse(firingPayload());
    const g = toAlertGroup(p);
    expect(g.groupKey).toBe('{}/{}:{alertname="db_pool_exhausted"}');
    expect(g.status).toBe('firing');
    expect(g.alerts).toHaveLength(1);
    expect(g.alerts[0]).toMatchObject({ fingerprint: 'e214ec06c8c5d0da', startsAt: '2026-11-27T06:25:16.301Z', endsAt: '0001-01-01T00:00:00Z' });
    expect(g.commonLabels.severity).toBe('critical');
    expect(g.commonAnnotations.runbook_url).toBe('https://runbooks.example.com/db-pool');
  });

  test('unknown fields from newer Alertmanagers are accepted', () => {
    const raw = { ...firingPayload(), notification_reason: 'repeat', routeLabels: { team: 'backend' } };
    raw.alerts[0].someFutureField = { x: 1 };
    expect(schema.safeParse(raw).success).toBe(true);
  });

  test.each<[string, (p: any) => void, string]>([
    ['missing alerts', (p) => delete p.alerts, 'alerts'],
    ['alerts not an array', (p) => (p.alerts = {}), 'alerts'],
    ['empty alerts', (p) => (p.alerts = []), 'alerts'],
    ['wrong version', (p) => (p.version = '3'), 'version'],
    ['labels of wrong type', (p) => (p.alerts[0].labels = { a: 1 }), 'alerts.0.labels.a'],
    ['bad startsAt', (p) => (p.alerts[0].startsAt = 'yesterday'), 'alerts.0.startsAt'],
    ['bad status', (p) => (p.status = 'burning'), 'status'],
    ['non-hex fingerprint', (p) => (p.alerts[0].fingerprint = 'xyz'), 'alerts.0.fingerprint'],
  ])('rejects %s with the path of the issue', (_n, mutate, path) => {
    const raw = firingPayload();
    mutate(raw);
    const r = schema.safeParse(raw);
    expect(r.success).toBe(false);
    expect(issuesOf(r.error!).map((i) => i.path)).toContain(path);
  });

  test('more alerts than the limit is rejected with a hint', () => {
    const raw = firingPayload();
    raw.alerts = Array.from({ length: 1001 }, (_, i) => ({ ...raw.alerts[0], fingerprint: i.toString(16) }));
    const r = schema.safeParse(raw);
    expect(r.success).toBe(false);
    expect(issuesOf(r.error!)[0]).toEqual({ path: 'alerts', message: expect.stringContaining('max_alerts') });
  });

  test('lone surrogates in labels (valid JSON, invalid text) become U+FFFD', () => {
    const raw = firingPayload();
    raw.alerts[0].labels['x\ud800'] = 'a\udc00b';
    raw.commonLabels.y = '\ud83d';
    const g = toAlertGroup(schema.parse(raw));
    expect(g.alerts[0]!.labels['x\ufffd']).toBe('a\ufffdb');
    expect(g.commonLabels.y).toBe('\ufffd');
    expect(g.alerts[0]!.labels.alertname).toBe('db_pool_exhausted');
    expect(() => encodeURIComponent(JSON.stringify(g))).not.toThrow();
  });

  test('never throws on arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const r = schema.safeParse(v);
        if (!r.success) expect(issuesOf(r.error).length).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });
});

describe('fingerprintOf', () => {
  test('matches Alertmanager for the fixture alert', () => {
    const a = firingPayload().alerts[0];
    expect(fingerprintOf(a.labels)).toBe(a.fingerprint);
  });
  test('is independent of key order and differs for other labels', () => {
    expect(fingerprintOf({ b: '2', a: '1' })).toBe(fingerprintOf({ a: '1', b: '2' }));
    expect(fingerprintOf({ a: '1', b: '3' })).not.toBe(fingerprintOf({ a: '1', b: '2' }));
    expect(fingerprintOf({})).toBe('cbf29ce484222325');
  });
});
