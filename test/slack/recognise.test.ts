import { fingerprintOf } from '../../src/alertmanager/fingerprint';
import { parseRerunValue, recogniseAlert, rerunOf } from '../../src/slack/recognise';
import { groupOfRecognised, matchingAlerts } from '../../src/slack/resolve';
import type { AlertmanagerClient, AmAlert } from '../../src/sources/alertmanager';
import { SqliteStore } from '../../src/store/sqlite';

/** Reading alerts out of Slack messages, and from there to the group to run. */

const LABELS = { alertname: 'db_pool_exhausted', service: 'api', severity: 'critical', instance: 'db-1:5432' };

/** The page Alertmanager's Slack receiver posts with the common template (as test/fakes/slack.ts seeds it). */
const amPage = {
  ts: '1764224716.000100',
  subtype: 'bot_message',
  text: '',
  attachments: [
    {
      title: '[FIRING:1] db_pool_exhausted (api critical db-1:5432)',
      text: '*Alert:* DB connection pool nearly exhausted\n*Details:*\n • *alertname:* `db_pool_exhausted`\n • *instance:* `db-1:5432`\n • *service:* `api`\n • *severity:* `critical`',
      fallback: '[FIRING:1] db_pool_exhausted (api critical db-1:5432) | http://alertmanager.example/#/alerts',
    },
  ],
};

function amAlert(labels: Record<string, string>): AmAlert {
  return {
    labels,
    annotations: { summary: 's' },
    startsAt: '2026-11-27T06:00:00Z',
    endsAt: '2026-11-27T07:00:00Z',
    fingerprint: fingerprintOf(labels),
    status: { state: 'active', silencedBy: [], inhibitedBy: [] },
  };
}

function fakeAm(alerts: AmAlert[], fail?: Error): AlertmanagerClient & { filters: string[][] } {
  const filters: string[][] = [];
  return {
    filters,
    async alerts(f) {
      filters.push(f);
      if (fail) throw fail;
      return alerts.filter((a) =>
        f.every((m) => {
          const [k, v] = m.split('=');
          return a.labels[k!] === JSON.parse(v!);
        }),
      );
    },
    async alertByFingerprint(fp) {
      if (fail) throw fail;
      return alerts.find((a) => a.fingerprint === fp);
    },
    async silences() {
      return [];
    },
  };
}

describe('recogniseAlert', () => {
  test("Alertmanager's page: alertname and every label from the details, the title's values", () => {
    expect(recogniseAlert(amPage)).toEqual({
      alertname: 'db_pool_exhausted',
      alertnameFrom: 'labels',
      labels: LABELS,
      titleValues: ['db_pool_exhausted', 'api', 'critical', 'db-1:5432'],
    });
  });

  test("Alertmanager's default template (title only): the alertname is the title's first word, a guess", () => {
    expect(recogniseAlert({ ts: '1', attachments: [{ title: '[FIRING:3] db_pool_exhausted', text: '' }] })).toEqual({
      alertname: 'db_pool_exhausted',
      alertnameFrom: 'title',
      labels: {},
      titleValues: ['db_pool_exhausted'],
    });
  });

  test('other forms: a Prometheus label set, backticked pairs, attachment fields, an alertname line, a fingerprint, escaped entities', () => {
    expect(
      recogniseAlert({ ts: '1', text: 'is this db_pool_exhausted{service="api", instance="db-1:5432", alertname="db_pool_exhausted"} bad?' })?.labels,
    ).toEqual({ service: 'api', instance: 'db-1:5432', alertname: 'db_pool_exhausted' });
    expect(recogniseAlert({ ts: '1', text: 'db_pool_exhausted{service="api"} again' })).toEqual({
      alertname: 'db_pool_exhausted',
      alertnameFrom: 'labels',
      labels: { service: 'api', alertname: 'db_pool_exhausted' },
      titleValues: [],
    });
    expect(recogniseAlert({ ts: '1', text: 'x{}' })).toBeUndefined();
    expect(
      recogniseAlert({ ts: '1', blocks: [{ type: 'context', elements: [{ type: 'mrkdwn', text: '`alertname=db_pool_exhausted` `service=api`' }] }] })?.labels,
    ).toEqual({ alertname: 'db_pool_exhausted', service: 'api' });
    expect(
      recogniseAlert({
        ts: '1',
        attachments: [
          {
            title: 'Pool',
            fields: [
              { title: 'alertname', value: 'db_pool_exhausted' },
              { title: 'service', value: '`api`' },
              { title: 'Runbook', value: 'x' },
            ],
          },
        ],
      })?.labels,
    ).toEqual({ alertname: 'db_pool_exhausted', service: 'api' });
    expect(recogniseAlert({ ts: '1', text: 'paged: alertname: db_pool_exhausted on api' })).toMatchObject({
      alertname: 'db_pool_exhausted',
      alertnameFrom: 'labels',
    });
    expect(recogniseAlert({ ts: '1', text: 'see fingerprint `0123456789ABCDEF`' })).toEqual({ labels: {}, titleValues: [], fingerprint: '0123456789abcdef' });
    expect(recogniseAlert({ ts: '1', text: ' • *team:* `a&amp;b &lt;x&gt;`\n • *alertname:* `x`' })?.labels).toEqual({ team: 'a&b <x>', alertname: 'x' });
  });

  test('free text, a summary line and non-label keys are not alerts', () => {
    expect(recogniseAlert({ ts: '1', text: 'anyone up for lunch?' })).toBeUndefined();
    expect(recogniseAlert({ ts: '1', text: '*Alert:* pool nearly exhausted - `critical`\n*Summary:* db' })).toBeUndefined();
    expect(recogniseAlert({ ts: '1', text: 'fingerprint abc' })).toBeUndefined();
    expect(recogniseAlert({ ts: '1', text: 'alertname: `<!channel>`' })).toBeUndefined();
  });
});

describe('re-run buttons', () => {
  test('the button value names the run; our diagnostic message is recognised by its button', () => {
    expect(parseRerunValue('{"runId":"r1","groupKey":"g"}')).toEqual({ runId: 'r1', groupKey: 'g' });
    expect(parseRerunValue('{"runId":"r1"}')).toEqual({ runId: 'r1' });
    for (const bad of [undefined, '', 'r1', '{"runId":""}', '{"groupKey":"g"}', '[1]', 'null']) expect(parseRerunValue(bad)).toBeUndefined();
    const ours = {
      ts: '1',
      blocks: [
        { type: 'header' },
        { type: 'actions', block_id: 'pf_actions', elements: [{ type: 'button', action_id: 'rerun_diagnosis', value: '{"runId":"r9"}' }] },
      ],
    };
    expect(rerunOf(ours)).toEqual({ runId: 'r9' });
    expect(rerunOf({ ts: '1', blocks: [{ type: 'actions', elements: [{ type: 'button', action_id: 'other', value: '{"runId":"r9"}' }] }] })).toBeUndefined();
  });
});

describe('groupOfRecognised', () => {
  const store = SqliteStore.open(':memory:');
  afterAll(() => store.close());
  const signal = AbortSignal.timeout(5_000);
  const rec = recogniseAlert(amPage)!;

  test("takes Alertmanager's alerts that contradict nothing the message says", async () => {
    const mine = amAlert(LABELS);
    const otherService = amAlert({ ...LABELS, service: 'web' });
    const r = await groupOfRecognised(rec, { store, alertmanager: fakeAm([otherService, mine]) }, signal);
    expect(r).toMatchObject({ ok: true, group: { alerts: [{ fingerprint: mine.fingerprint, labels: LABELS, annotations: { summary: 's' } }] } });
    expect(
      matchingAlerts([mine, otherService, amAlert({ alertname: 'other' })], { labels: {}, titleValues: ['db_pool_exhausted'], alertname: 'db_pool_exhausted' }),
    ).toHaveLength(2);
  });

  test('several alerts of one page make one group of their shared labels', async () => {
    const a = amAlert({ alertname: 'db_pool_exhausted', service: 'api', instance: 'a' });
    const b = amAlert({ alertname: 'db_pool_exhausted', service: 'api', instance: 'b' });
    const titleOnly = recogniseAlert({ ts: '1', attachments: [{ title: '[FIRING:2] db_pool_exhausted (api)' }] })!;
    const r = await groupOfRecognised(titleOnly, { store, alertmanager: fakeAm([a, b]) }, signal);
    expect(r.ok && r.group.alerts.map((x) => x.fingerprint).sort()).toEqual([a.fingerprint, b.fingerprint].sort());
    expect(r.ok && r.group.commonLabels).toEqual({ alertname: 'db_pool_exhausted', service: 'api' });
  });

  test('by fingerprint', async () => {
    const a = amAlert(LABELS);
    const r = await groupOfRecognised({ labels: {}, titleValues: [], fingerprint: a.fingerprint }, { store, alertmanager: fakeAm([a]) }, signal);
    expect(r.ok && r.group.alerts[0]!.labels).toEqual(LABELS);
    const unknown = await groupOfRecognised({ labels: {}, titleValues: [], fingerprint: '0000000000000000' }, { store, alertmanager: fakeAm([a]) }, signal);
    expect(unknown).toEqual({ ok: false, reason: 'Alertmanager has no alert with fingerprint 0000000000000000' });
    const noAm = await groupOfRecognised({ labels: {}, titleValues: [], fingerprint: a.fingerprint }, { store }, signal);
    expect(noAm.ok).toBe(false);
  });

  test('without a match, Alertmanager down or not configured: the labels read from the message, with a note; a title guess alone is not enough for Alertmanager', async () => {
    for (const am of [fakeAm([]), fakeAm([], new Error('alertmanager unreachable: ECONNREFUSED')), undefined]) {
      const r = await groupOfRecognised(rec, { store, ...(am ? { alertmanager: am } : {}) }, signal);
      expect(r).toMatchObject({
        ok: true,
        group: { alerts: [{ fingerprint: fingerprintOf(LABELS), labels: LABELS }] },
        note: expect.stringContaining('diagnosing with the labels in the message'),
      });
    }
    const guess = recogniseAlert({ ts: '1', attachments: [{ title: '[FIRING:1] api critical' }] })!;
    expect(await groupOfRecognised(guess, { store, alertmanager: fakeAm([amAlert(LABELS)]) }, signal)).toEqual({
      ok: false,
      reason: 'Alertmanager has no firing alert named api that matches this message',
    });
  });
});
