import { notificationKey, rerunKey } from '../../src/pipeline/idempotency';
import { toAlertGroup, webhookPayloadSchema } from '../../src/alertmanager/payload';
import { firingPayload } from '../support/fixtures';

const group = (mutate: (p: any) => void = () => {}) => {
  const p = firingPayload();
  mutate(p);
  return toAlertGroup(webhookPayloadSchema(1000).parse(p));
};

describe('notificationKey', () => {
  test('the same notification gives the same key, whatever the field order or extra fields', () => {
    const a = group();
    const b = group((p) => {
      p.receiver = 'other';
      p.notification_reason = 'retry';
      p.commonAnnotations = {};
    });
    expect(notificationKey(b)).toBe(notificationKey(a));
  });

  test('alert order does not matter', () => {
    const two = (p: any) => p.alerts.push({ ...p.alerts[0], fingerprint: 'aaaa', labels: { alertname: 'db_pool_exhausted', pod: 'b' } });
    const a = group(two);
    const b = group((p) => {
      two(p);
      p.alerts.reverse();
    });
    expect(notificationKey(b)).toBe(notificationKey(a));
  });

  test.each<[string, (p: any) => void]>([
    ['another group', (p) => (p.groupKey = '{}:{alertname="other"}')],
    [
      'a resolve',
      (p) => {
        p.status = 'resolved';
        p.alerts[0].status = 'resolved';
      },
    ],
    ['a restarted alert (new startsAt)', (p) => (p.alerts[0].startsAt = '2026-11-27T07:00:00Z')],
    ['an alert added to the group', (p) => p.alerts.push({ ...p.alerts[0], fingerprint: 'bbbb' })],
  ])('%s changes the key', (_n, mutate) => {
    expect(notificationKey(group(mutate))).not.toBe(notificationKey(group()));
  });

  test('re-run keys ignore startsAt but not the alert set, and differ from webhook keys', () => {
    expect(rerunKey(group((p) => (p.alerts[0].startsAt = '2026-11-27T07:00:00Z')))).toBe(rerunKey(group()));
    expect(rerunKey(group((p) => p.alerts.push({ ...p.alerts[0], fingerprint: 'cccc' })))).not.toBe(rerunKey(group()));
    expect(rerunKey(group())).not.toBe(notificationKey(group()));
  });
});
