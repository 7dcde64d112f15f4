import { webhookPayloadSchema, toAlertGroup } from '../../src/alertmanager/payload';
import { activeAlerts, earliestStart, sharedLabelValue } from '../../src/core/alert';
import { matcherText, matchersFromGroup } from '../../src/sources/promql';
import truncated from '../fixtures/field/02-alertmanager-truncated-per-pod.json';
import utf8 from '../fixtures/field/03-alertmanager-utf8-otel-labels.json';
import { buildMessageModel, linksOf } from '../../src/notifiers/message';
import { renderDiagnostic } from '../../src/slack/render';
import { auth, testApp } from '../support/app';

/*
 * Field samples: an Alertmanager with `max_alerts` that sent 3 of 8 alerts of a group (one of the
 * three already resolved), and an Alertmanager 0.27+ whose labels have UTF-8 names.
 */
const group = (p: unknown) => toAlertGroup(webhookPayloadSchema(1000).parse(structuredClone(p)));

/** Posts `payload` to /webhook of a receiver with no enrichers; its Diagnostic and what the console notifier printed. */
async function throughWebhook(payload: unknown) {
  const t = await testApp({ routes: [{ match: { alertname: 'db_pool_exhausted' }, enrichers: [] }] });
  try {
    const res = await t.app.inject({
      method: 'POST',
      url: '/webhook',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: JSON.stringify(payload),
    });
    expect(res.statusCode).toBe(202);
    const d = await t.pipeline.wait(res.json().id);
    return { d, consoleText: t.console.text() };
  } finally {
    await t.app.close();
  }
}

describe('a firing group with a resolved alert and alerts Alertmanager left out', () => {
  test('the resolved alert is not active: the start time is the firing alerts’ earliest, as an instant (offsets differ in form)', () => {
    const g = group(truncated);
    expect(activeAlerts(g).map((a) => a.labels.pod)).toEqual(['checkout-7c9f8d6b5-2xk9q', 'checkout-7c9f8d6b5-8fjzt']);
    expect(earliestStart(g)).toBe('2024-03-05T10:15:30.123456789+01:00');
    // a resolved group is about all of its alerts
    const resolved = group({ ...truncated, status: 'resolved', alerts: truncated.alerts.map((a) => ({ ...a, status: 'resolved' })) });
    expect(earliestStart(resolved)).toBe('2024-03-05T07:02:11.042+01:00');
  });

  test('copied labels: only the ones Alertmanager grouped by restrict the query when alerts were left out; the rest are named, never narrowed to the listed pods', () => {
    const g = group(truncated);
    const r = matchersFromGroup(['service', 'pod', 'namespace', 'cluster'], g);
    expect(r.matchers).toEqual([{ name: 'service', op: '=', value: 'checkout' }]);
    expect(r.unrestricted).toEqual(['pod', 'namespace']);
    expect(r.missing).toEqual(['cluster']);
    // Without truncation the firing alerts' pods restrict it; the resolved alert's pod never does.
    const whole = matchersFromGroup(['pod'], { ...g, truncatedAlerts: 0 });
    expect(whole.matchers).toEqual([{ name: 'pod', op: '=~', value: 'checkout-7c9f8d6b5-2xk9q|checkout-7c9f8d6b5-8fjzt' }]);
    expect(whole.unrestricted).toEqual([]);
  });

  test('sharedLabelValue: a grouped-by label always; any other only where no alert was left out and the active alerts agree', () => {
    const g = group(truncated);
    expect(['service', 'namespace', 'pod'].map((l) => sharedLabelValue(g, l))).toEqual(['checkout', undefined, undefined]);
    const whole = { ...g, truncatedAlerts: 0 };
    expect(['service', 'namespace', 'pod', 'absent'].map((l) => sharedLabelValue(whole, l))).toEqual(['checkout', 'shop', undefined, undefined]);
    // the resolved alert's pod does not count: with one firing alert left, its pod is the group's
    const one = { ...whole, alerts: whole.alerts.filter((a) => a.labels.pod !== 'checkout-7c9f8d6b5-8fjzt') };
    expect(sharedLabelValue(one, 'pod')).toBe('checkout-7c9f8d6b5-2xk9q');
  });

  test('UTF-8 label names are copied like any other', () => {
    const r = matchersFromGroup(['service.name', 'k8s.pod.name'], group(utf8));
    expect(r.matchers).toEqual([
      { name: 'service.name', op: '=', value: 'checkout' },
      { name: 'k8s.pod.name', op: '=', value: 'checkout-5d8f7c9b4-abcde' },
    ]);
  });

  test('UTF-8 label names through /webhook: accepted as they are, quoted in PromQL, bare in the Alertmanager UI’s silence filter', async () => {
    const { d } = await throughWebhook(utf8);
    expect(d.alert!.labels['service.name']).toBe('checkout');
    // The silence link is read by Alertmanager's web UI, whose filter parser takes the name as a run of
    // non-reserved characters, `"` being reserved (prometheus/alertmanager ui/app/src/Utils/Filter.elm,
    // `item`, `reservedChars`): a UTF-8 name stays bare there, a quoted one would not parse.
    const silence = linksOf(d).find((l) => l.kind === 'silence')!;
    const filter = decodeURIComponent(silence.url.split('filter=')[1]!);
    expect(filter).toBe(
      '{alertname="db_pool_exhausted",host.name="node-01",k8s.pod.name="checkout-5d8f7c9b4-abcde",service.name="checkout",service.namespace="shop",severity="critical"}',
    );
    // PromQL (Prometheus 3): the quoted name inside the braces.
    expect(matchersFromGroup(['service.name'], group(utf8)).matchers.map(matcherText)).toEqual(['"service.name"="checkout"']);
  });

  test('through /webhook: the Diagnostic’s alert takes its labels and start from a firing alert, not the resolved one', async () => {
    const { d, consoleText } = await throughWebhook(truncated);
    expect(d.alert!.startsAt).toBe('2024-03-05T10:15:30.123456789+01:00');
    expect(d.alert!.labels.pod).toBe('checkout-7c9f8d6b5-2xk9q');
    expect(d.alert!.labels.instance).toBe('192.0.2.17:8080');
    // The diagnostic says that Alertmanager left 5 alerts out, on the console and in the Slack message.
    expect(d.truncatedAlerts).toBe(5);
    const note = '5 more alerts not sent by Alertmanager (webhook max_alerts): 3 of 8 listed, and no query was narrowed to the listed ones.';
    expect(consoleText).toContain(note);
    expect(JSON.stringify(renderDiagnostic(buildMessageModel(d)).blocks)).toContain(note);
  });
});
