import { isGrafanaBody, MAX_VALUE_STRING } from '../../src/alertmanager/grafana';
import { grafanaDiagnosticFields } from '../../src/core/grafana';
import { webhookBodyParser } from '../../src/alertmanager/intake';
import documented from '../fixtures/grafana/documented-example.json';
import dbPool from '../fixtures/grafana/db-pool-exhausted.json';
import { firingPayload } from '../support/fixtures';

/** Grafana's webhook contact point body (test/fixtures/grafana/README.md says where each comes from). */
const parse = webhookBodyParser(1000);
const copy = <T>(x: T): any => structuredClone(x);

describe("Grafana's webhook contact point body", () => {
  test("Grafana's documented example is accepted as Grafana's, with what helps on call kept per alert", () => {
    const r = parse(copy(documented));
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    expect(r.group.sender).toBe('grafana');
    expect(r.group.orgId).toBe(1);
    expect(r.group.groupKey).toBe('{}:{}');
    expect(r.group.alerts).toHaveLength(2);
    expect(r.group.alerts[0]).toMatchObject({
      fingerprint: 'c6eadffa33fcdf37',
      endsAt: '0001-01-01T00:00:00Z',
      grafana: {
        silenceURL: documented.alerts[0]!.silenceURL,
        values: { B: 44.23943737541908, C: 1 },
      },
    });
    // empty dashboard and panel URLs are not links
    expect(r.group.alerts[0]!.grafana).not.toHaveProperty('dashboardURL');
    expect(r.group.alerts[0]!.grafana).not.toHaveProperty('panelURL');
  });

  test('a db_pool_exhausted rule with a dashboard: its panel, dashboard, silence, screenshot and values reach the Diagnostic fields', () => {
    const r = parse(copy(dbPool));
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    expect(r.group.commonLabels.alertname).toBe('db_pool_exhausted');
    expect(grafanaDiagnosticFields(r.group)).toEqual({
      sender: 'grafana',
      dashboardURL: dbPool.alerts[0]!.dashboardURL,
      panelURL: dbPool.alerts[0]!.panelURL,
      silenceURL: dbPool.alerts[0]!.silenceURL,
      imageURL: dbPool.alerts[0]!.imageURL,
      values: [{ fingerprint: '5a6b0c1d2e3f4a5b', values: { A: 10, B: 10, C: 1 }, valueString: dbPool.alerts[0]!.valueString }],
    });
  });

  test('recognised by its fields, not by version: Grafana fields with version "4" or a future version are Grafana; version "1" without them is refused', () => {
    for (const version of ['4', '2', '1']) {
      const body = copy(dbPool);
      body.version = version;
      const r = parse(body);
      expect(r.ok && r.group.sender).toBe('grafana');
    }
    // Grafana's top-level fields alone (a contact point whose alerts carry no links) are enough
    const bare = copy(dbPool);
    for (const k of ['silenceURL', 'dashboardURL', 'panelURL', 'values', 'valueString', 'imageURL']) delete bare.alerts[0][k];
    expect(isGrafanaBody(bare)).toBe(true);
    // An Alertmanager payload is Alertmanager's, whatever else it says
    const am = firingPayload();
    expect(isGrafanaBody(am)).toBe(false);
    const r = parse(am);
    expect(r.ok && r.group.sender).toBeUndefined();
    am.version = '1';
    const refused = parse(am);
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.issues).toEqual([{ path: 'version', message: expect.stringContaining('"4"') }]);
  });

  test('Grafana without values (null), with a non-http link and a long valueString: nothing made up, nothing unsafe kept', () => {
    const body = copy(dbPool);
    body.alerts[0].values = null;
    body.alerts[0].panelURL = 'javascript:alert(1)';
    body.alerts[0].dashboardURL = `https://grafana.example/d/x?${'a'.repeat(3_000)}`;
    body.alerts[0].valueString = 'v'.repeat(5_000);
    const r = parse(body);
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    const extras = r.group.alerts[0]!.grafana!;
    expect(extras.values).toBeUndefined();
    expect(extras.panelURL).toBeUndefined();
    expect(extras.dashboardURL).toBeUndefined();
    expect(extras.valueString).toHaveLength(MAX_VALUE_STRING);
  });

  test('a Grafana body that is not valid says where, as Alertmanager payloads do', () => {
    const body = copy(dbPool);
    delete body.alerts[0].fingerprint;
    body.alerts[0].values = { A: 'ten' };
    const r = parse(body);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.issues.map((i) => i.path).sort()).toEqual(['alerts.0.fingerprint', 'alerts.0.values.A']);
    expect(parse({ ...copy(dbPool), alerts: [] })).toMatchObject({ ok: false, issues: [{ path: 'alerts' }] });
  });

  test('in a group of several, each value line names what sets its alert apart; a resolved alert inside a firing group is not one of them', () => {
    const body = copy(dbPool);
    const second = copy(dbPool.alerts[0]);
    second.labels.service = 'billing';
    second.fingerprint = '0123456789abcdef';
    second.values = { A: 12, B: 12, C: 1 };
    const gone = copy(dbPool.alerts[0]);
    gone.labels.service = 'search';
    gone.fingerprint = 'fedcba9876543210';
    gone.status = 'resolved';
    gone.endsAt = '2026-11-27T06:40:00Z';
    body.alerts.push(second, gone);
    body.commonLabels = { alertname: 'db_pool_exhausted', grafana_folder: 'Databases', severity: 'critical' };
    const r = parse(body);
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    const fields = grafanaDiagnosticFields(r.group);
    expect(fields.values).toEqual([
      expect.objectContaining({ labels: { service: 'checkout' }, values: { A: 10, B: 10, C: 1 } }),
      expect.objectContaining({ labels: { service: 'billing' }, values: { A: 12, B: 12, C: 1 } }),
    ]);
  });
});
