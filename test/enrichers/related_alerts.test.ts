import type { RelatedAlertsEvidence } from '../../src/core/evidence';
import type { EnricherDeps } from '../../src/enrichers';
import { createRelatedAlertsEnricher, relatedAlertsModule, silenceMatches } from '../../src/enrichers/related_alerts/enricher';
import { settingsSchema } from '../../src/enrichers/related_alerts/settings';
import { runEnrichers } from '../../src/pipeline/enrich';
import { createSourceClients } from '../../src/sources';
import { createAlertmanagerClient } from '../../src/sources/alertmanager';
import { sourcesConfigSchema } from '../../src/sources/config';
import { Store } from '../../src/store/store';
import { capturingLogger } from '../support/capture';
import { alertGroup } from '../support/groups';
import { closedPortUrl, startCannedServer, startHangingServer, type StubServer } from '../support/http-stubs';
import { startAlertmanager, type AlertmanagerServer } from '../support/alertmanager';

const MIN = 60_000;
const HOUR = 60 * MIN;

let am: AlertmanagerServer;
let store: Store;
const stubs: StubServer[] = [];
const silences: Record<string, string> = {};
const NOW = Date.now();
const ALERT_START = NOW - 3 * MIN;
const iso = (t: number) => new Date(t).toISOString();

beforeAll(async () => {
  am = await startAlertmanager();
  const at = (labels: Record<string, string>, minutesAgo: number) => ({
    labels,
    startsAt: iso(NOW - minutesAgo * MIN),
    annotations: { summary: labels.alertname! },
  });
  await am.postAlerts([
    at({ alertname: 'db_pool_exhausted', service: 'checkout', severity: 'page' }, 3),
    at({ alertname: 'p99_latency_high', service: 'checkout', severity: 'warning' }, 12),
    at({ alertname: 'error_rate_high', service: 'checkout', severity: 'page' }, 8),
    at({ alertname: 'cache_hit_rate_low', service: 'billing', severity: 'warning' }, 20),
    at({ alertname: 'p99_latency_high', service: 'search', severity: 'warning' }, 5),
    at({ alertname: 'disk_full', service: 'checkout', severity: 'page' }, 30),
  ]);
  silences.search = await am.createSilence({
    matchers: [
      { name: 'alertname', value: 'p99_latency_high' },
      { name: 'service', value: 'search' },
    ],
    comment: 'known slow search',
  });
  silences.regex = await am.createSilence({
    matchers: [
      { name: 'alertname', value: 'db_pool_exhausted' },
      { name: 'service', value: 'check.*', isRegex: true },
    ],
    createdBy: 'oncall',
    comment: 'working on it',
  });
  silences.notEqual = await am.createSilence({
    matchers: [
      { name: 'alertname', value: 'db_pool_exhausted' },
      { name: 'severity', value: 'info', isEqual: false },
    ],
  });
  silences.billing = await am.createSilence({
    matchers: [
      { name: 'alertname', value: 'db_pool_exhausted' },
      { name: 'service', value: 'billing' },
    ],
  });
  silences.expired = await am.createSilence({ matchers: [{ name: 'alertname', value: 'db_pool_exhausted' }] });
  await am.expireSilence(silences.expired);
  silences.future = await am.createSilence({
    matchers: [{ name: 'alertname', value: 'db_pool_exhausted' }],
    startsAt: iso(NOW + HOUR),
    endsAt: iso(NOW + 2 * HOUR),
  });

  // History: runs of this alertname 2 h and 30 h ago, the current run (after the alert started), another alertname.
  store = new Store(':memory:');
  const run = (id: string, alertname: string, t: number) => {
    store.admit({
      runId: id,
      idempotencyKey: id,
      keyExpiresAt: t + 1,
      group: alertGroup([{ labels: { alertname } }], { groupKey: id }),
      alertname,
      trigger: 'webhook',
      notify: true,
      now: t,
    });
    store.setState(id, 'done', undefined, t);
  };
  run('r-2h', 'db_pool_exhausted', NOW - 2 * HOUR);
  run('r-5h', 'db_pool_exhausted', NOW - 5 * HOUR);
  run('r-30h', 'db_pool_exhausted', NOW - 30 * HOUR);
  run('r-current', 'db_pool_exhausted', ALERT_START + 20_000);
  run('r-other', 'p99_latency_high', NOW - HOUR);
});
afterAll(async () => {
  await am?.stop();
  store?.close();
  await Promise.all(stubs.map((s) => s.close()));
});

const group = (labels: Record<string, string> = { alertname: 'db_pool_exhausted', service: 'checkout', severity: 'page' }) =>
  alertGroup([{ labels, startsAt: iso(ALERT_START) }]);
const ctx = (g = group()) => ({ group: g, signal: AbortSignal.timeout(10_000), logger: capturingLogger().logger, now: new Date(ALERT_START + 30_000) });
const enricher = (settings: object = {}, url = am.url, timeoutMs = 5_000) =>
  createRelatedAlertsEnricher(settingsSchema.parse(settings), { alertmanager: createAlertmanagerClient({ url, timeoutMs }), history: store });

describe('related_alerts against the real Alertmanager', () => {
  test('settings defaults', () => {
    expect(settingsSchema.parse({})).toEqual({ alertnames: ['p99_latency_high', 'error_rate_high', 'cache_hit_rate_low'], matchLabels: [], historyHours: 24 });
    expect(settingsSchema.safeParse({ matchLabels: [''] }).success).toBe(false);
    expect(settingsSchema.safeParse({ matchLabels: ['service.name'] }).success).toBe(true);
  });

  test('the runbook’s related alerts firing now, oldest first, with their state; others and our own left out', async () => {
    const r = await enricher().enrich(ctx());
    const ev = r.evidence as unknown as RelatedAlertsEvidence;
    expect(ev.related.map((a) => [a.alertname, a.labels.service, a.state])).toEqual([
      ['cache_hit_rate_low', 'billing', 'active'],
      ['p99_latency_high', 'checkout', 'active'],
      ['error_rate_high', 'checkout', 'active'],
      ['p99_latency_high', 'search', 'suppressed'],
    ]);
    expect(ev.related[1]!.startsAt).toBe(iso(NOW - 12 * MIN));
    expect(ev.related[1]!.labels).toEqual({ alertname: 'p99_latency_high', service: 'checkout', severity: 'warning' });
    expect(r.sections[0]).toEqual(expect.objectContaining({ type: 'table', columns: ['alert', 'state', 'since', 'labels'] }));
  });

  test('matchLabels keeps only related alerts of the same service', async () => {
    const ev = (await enricher({ matchLabels: ['service'] }).enrich(ctx())).evidence as unknown as RelatedAlertsEvidence;
    expect(ev.related.map((a) => a.alertname)).toEqual(['p99_latency_high', 'error_rate_high']);
    const other = (await enricher({ alertnames: ['disk_full', 'a.b|c"d'] }).enrich(ctx())).evidence as unknown as RelatedAlertsEvidence;
    expect(other.related.map((a) => a.alertname)).toEqual(['disk_full']);
  });

  test('matchLabels with alerts Alertmanager left out: a grouped-by label still restricts, another does not (it would narrow to the listed alerts)', async () => {
    const truncated = (groupLabels: Record<string, string>) => ({ ...group(), truncatedAlerts: 4, groupLabels });
    const byGroup = (await enricher({ matchLabels: ['service'] }).enrich(ctx(truncated({ alertname: 'db_pool_exhausted', service: 'checkout' }))))
      .evidence as unknown as RelatedAlertsEvidence;
    expect(byGroup.related.map((a) => a.alertname)).toEqual(['p99_latency_high', 'error_rate_high']);
    const r = await enricher({ matchLabels: ['service'] }).enrich(ctx(truncated({ alertname: 'db_pool_exhausted' })));
    expect((r.evidence as unknown as RelatedAlertsEvidence).related).toHaveLength(4);
    expect(JSON.stringify(r.sections)).toContain('no single value for service');
  });

  test('fired before: runs in the last 24 h that started before this alert, newest first', async () => {
    const r = await enricher().enrich(ctx());
    const ev = r.evidence as unknown as RelatedAlertsEvidence;
    expect(ev.firedBeforeCount).toBe(2);
    expect(ev.lastFiredAt).toBe(iso(NOW - 2 * HOUR));
    const short = (await enricher({ historyHours: 1 }).enrich(ctx())).evidence as unknown as RelatedAlertsEvidence;
    expect([short.firedBeforeCount, short.lastFiredAt]).toEqual([0, null]);
  });

  test('silences: active ones whose matchers (regex, !=) match this alert; expired, future and others are not', async () => {
    const r = await enricher().enrich(ctx());
    const ev = r.evidence as unknown as RelatedAlertsEvidence;
    expect(ev.silenced).toBe(true);
    expect([...ev.silenceIds].sort()).toEqual([silences.regex, silences.notEqual].sort());
    expect(r.summary).toBe('4 related alerts firing (cache_hit_rate_low, p99_latency_high, error_rate_high); fired 2x in the last 24 h; silenced (2 silences)');
    expect(JSON.stringify(r.sections)).toContain('by oncall');

    const billing = (await enricher().enrich(ctx(group({ alertname: 'db_pool_exhausted', service: 'billing', severity: 'page' }))))
      .evidence as unknown as RelatedAlertsEvidence;
    expect([...billing.silenceIds].sort()).toEqual([silences.notEqual, silences.billing].sort());
    const info = (await enricher().enrich(ctx(group({ alertname: 'db_pool_exhausted', service: 'search', severity: 'info' }))))
      .evidence as unknown as RelatedAlertsEvidence;
    expect([info.silenced, info.silenceIds]).toEqual([false, []]);
  });

  test('silenceMatches: a missing label is the empty string, invalid regexes match nothing', () => {
    const sil = (matchers: any[]) => ({ id: 'x', status: { state: 'active' as const }, matchers, startsAt: '', endsAt: '', createdBy: '', comment: '' });
    expect(silenceMatches(sil([{ name: 'pod', value: '', isRegex: false, isEqual: true }]), { alertname: 'a' })).toBe(true);
    expect(silenceMatches(sil([{ name: 'pod', value: '(', isRegex: true, isEqual: true }]), { pod: '(' })).toBe(false);
    expect(silenceMatches(sil([]), { pod: 'a' })).toBe(false);
  });
});

describe('related_alerts when Alertmanager fails (through runEnrichers)', () => {
  const run = async (url: string, timeoutMs = 5_000) => {
    const t0 = Date.now();
    const [out] = await runEnrichers(
      [enricher({}, url, timeoutMs)],
      { group: group(), logger: capturingLogger().logger, now: new Date() },
      { budgetMs: 2_000, defaultTimeoutMs: 1_500 },
    );
    return { out: out!, took: Date.now() - t0 };
  };
  test('down: error at once', async () => {
    const { out, took } = await run(await closedPortUrl());
    expect([out.status, out.error]).toEqual(['error', 'alertmanager unreachable: ECONNREFUSED']);
    expect(took).toBeLessThan(1_000);
  });
  test('slow: timeout at the client’s deadline', async () => {
    const s = await startHangingServer();
    stubs.push(s);
    const { out, took } = await run(s.url, 300);
    expect(out.status).toBe('timeout');
    expect(took).toBeLessThan(1_200);
  });
  test('garbage: error', async () => {
    const s = await startCannedServer((_q, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"not":"a list"}'));
    stubs.push(s);
    const { out } = await run(s.url);
    expect(out.status).toBe('error');
    expect(out.error).toMatch(/not a list/);
  });
  test('skipped where sources.alertmanager is not configured', async () => {
    const deps: EnricherDeps = { clients: createSourceClients(sourcesConfigSchema.parse({})), history: store };
    const [out] = await runEnrichers(
      [relatedAlertsModule.create(settingsSchema.parse({}), deps)],
      { group: group(), logger: capturingLogger().logger, now: new Date() },
      { budgetMs: 1_000, defaultTimeoutMs: 1_000 },
    );
    expect([out!.status, out!.error]).toEqual(['skipped', 'sources.alertmanager is not configured']);
  });
});
