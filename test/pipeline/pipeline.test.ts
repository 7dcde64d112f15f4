import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Enricher } from '../../src/core/enricher';
import { NotifyError } from '../../src/core/notifier';
import { Store } from '../../src/store/store';
import { fixtureGroup, recordingNotifier, testPipeline } from '../support/pipeline';
import { until } from '../support/wait';

const fast: Enricher = {
  name: 'fast',
  async enrich() {
    return { summary: 'ok', sections: [], evidence: { x: 1 } };
  },
};
const fastRetry = { notify: { budgetMs: 5_000, maxAttempts: 4, initialBackoffMs: 5, maxBackoffMs: 20 } };

describe('Pipeline', () => {
  test('admits, runs, stores the diagnostic and notifies once', async () => {
    const rec = recordingNotifier();
    const { pipeline, store } = testPipeline({ enrichers: [fast], notifiers: [rec.notifier] });
    const { id, duplicate } = await pipeline.admit(fixtureGroup(), 'webhook');
    expect(duplicate).toBe(false);
    expect(store.getRun(id)!.state).toBe('queued');
    const d = await pipeline.wait(id);
    expect(d).toMatchObject({
      id,
      alertname: 'db_pool_exhausted',
      status: 'firing',
      trigger: 'webhook',
      fingerprints: ['e214ec06c8c5d0da'],
      groupKey: '{}/{}:{alertname="db_pool_exhausted"}',
      causes: [],
    });
    expect(d.enrichments).toEqual([expect.objectContaining({ enricher: 'fast', status: 'ok', evidence: { x: 1 } })]);
    expect(d.notifications).toEqual([{ notifier: 'recorder', status: 'sent', detail: `delivered ${id}` }]);
    expect(Date.parse(d.finishedAt)).toBeGreaterThanOrEqual(Date.parse(d.startedAt));
    expect(rec.calls).toHaveLength(1);
    expect(store.getRun(id)!.state).toBe('done');
  });

  test('the same notification again is a duplicate of the first run and runs nothing', async () => {
    const rec = recordingNotifier();
    const { pipeline, metrics } = testPipeline({ enrichers: [fast], notifiers: [rec.notifier] });
    const a = await pipeline.admit(fixtureGroup(), 'webhook');
    await pipeline.wait(a.id);
    const b = await pipeline.admit(
      fixtureGroup((p) => (p.receiver = 'ha-peer')),
      'webhook',
    );
    expect(b).toEqual({ id: a.id, duplicate: true, coalesced: false, keyExpiresAt: a.keyExpiresAt });
    await new Promise((r) => setTimeout(r, 20));
    expect(rec.calls).toHaveLength(1);
    expect((await metrics.duplicates.get()).values[0]!.value).toBe(1);
  });

  test('after the cool-down the same notification runs again', async () => {
    let now = 1_000_000;
    const rec = recordingNotifier();
    const t = testPipeline({ enrichers: [fast], notifiers: [rec.notifier], config: { cooldownMs: 1000 } });
    (t.pipeline as any).now = () => now;
    const a = await t.pipeline.admit(fixtureGroup(), 'webhook');
    // the repeat stops being a duplicate one cool-down after the first (epoch ms of the pipeline's clock)
    expect(a.keyExpiresAt).toBe(1_001_000);
    await t.pipeline.wait(a.id);
    now += 999;
    expect(await t.pipeline.admit(fixtureGroup(), 'webhook')).toMatchObject({ duplicate: true, keyExpiresAt: 1_001_000 });
    now += 2;
    const c = await t.pipeline.admit(fixtureGroup(), 'webhook');
    expect(c.duplicate).toBe(false);
    expect(c.id).not.toBe(a.id);
  });

  const withAlert = (fp: string) => fixtureGroup((p) => p.alerts.push({ ...p.alerts[0], fingerprint: fp, labels: { ...p.alerts[0].labels, pod: fp } }));

  test('within the cool-down a group runs once: newer notifications of it join its run', async () => {
    const rec = recordingNotifier();
    const { pipeline, store } = testPipeline({ enrichers: [fast], notifiers: [rec.notifier] });
    const [first, second] = await Promise.all([pipeline.admit(fixtureGroup(), 'webhook'), pipeline.admit(withAlert('aa01'), 'webhook')]);
    // both in one event-loop turn: the second joined the queued first run and brought its alerts
    expect(second).toEqual({ id: first.id, duplicate: true, coalesced: true, keyExpiresAt: expect.any(Number) });
    const d = await pipeline.wait(first.id);
    expect(d.fingerprints).toEqual(['e214ec06c8c5d0da', 'aa01']);
    // after the run started, a newer notification is absorbed without a run
    const absorbed = await pipeline.admit(withAlert('aa02'), 'webhook');
    expect(absorbed).toEqual({ id: first.id, duplicate: true, coalesced: false, keyExpiresAt: expect.any(Number) });
    // a retry of that notification is a duplicate by its key, until the key's expiry
    expect(await pipeline.admit(withAlert('aa02'), 'webhook')).toEqual({
      id: first.id,
      duplicate: true,
      coalesced: false,
      keyExpiresAt: absorbed.keyExpiresAt,
    });
    // a resolve is a new run
    const resolved = await pipeline.admit(
      fixtureGroup((p) => {
        p.status = 'resolved';
        p.alerts[0].status = 'resolved';
      }),
      'webhook',
    );
    expect(resolved.duplicate).toBe(false);
    await pipeline.wait(resolved.id);
    expect(rec.calls.map((c) => c.id)).toEqual([first.id, resolved.id]);
    expect(store.unfinishedRunIds()).toEqual([]);
  });

  test('without a cool-down, notifications for a running group queue one follow-up run; runs of one group never overlap', async () => {
    let running = 0;
    let maxRunning = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow: Enricher = {
      name: 'slow',
      async enrich() {
        maxRunning = Math.max(maxRunning, ++running);
        await gate;
        running--;
        return { summary: '', sections: [], evidence: {} };
      },
    };
    const rec = recordingNotifier();
    const { pipeline } = testPipeline({ enrichers: [slow], notifiers: [rec.notifier], config: { cooldownMs: 0 } });
    const first = await pipeline.admit(fixtureGroup(), 'webhook');
    await until('the first run to be running', () => running === 1);
    const second = await pipeline.admit(withAlert('aa01'), 'webhook');
    const third = await pipeline.admit(withAlert('aa02'), 'webhook');
    expect(second.duplicate).toBe(false);
    expect(second.id).not.toBe(first.id);
    expect(third).toEqual({ id: second.id, duplicate: false, coalesced: true, keyExpiresAt: expect.any(Number) });
    release();
    const d2 = await pipeline.wait(second.id);
    await pipeline.wait(first.id);
    expect(d2.fingerprints).toContain('aa02');
    expect(maxRunning).toBe(1);
    expect(rec.calls.map((c) => c.id)).toEqual([first.id, second.id]);
  });

  test('retryable notifier failures are retried with backoff; final ones are not', async () => {
    const flaky = recordingNotifier('flaky', (n) => {
      if (n < 3) throw new NotifyError('HTTP 500', { retryable: true });
    });
    const broken = recordingNotifier('broken', () => {
      throw new NotifyError('channel_not_found', { retryable: false });
    });
    const { pipeline } = testPipeline({ enrichers: [fast], notifiers: [flaky.notifier, broken.notifier], config: fastRetry });
    const { id } = await pipeline.admit(fixtureGroup(), 'webhook');
    const d = await pipeline.wait(id);
    expect(flaky.calls.map((c) => c.attempt)).toEqual([1, 2, 3]);
    expect(broken.calls).toHaveLength(1);
    expect(d.notifications).toEqual([
      { notifier: 'flaky', status: 'sent', detail: `delivered ${id}` },
      { notifier: 'broken', status: 'failed', detail: 'final after 1 attempt(s): channel_not_found' },
    ]);
  });

  test('a notifier that keeps failing gives up after maxAttempts and the run still finishes', async () => {
    const down = recordingNotifier('down', () => {
      throw new Error('ECONNREFUSED');
    });
    const { pipeline } = testPipeline({ enrichers: [fast], notifiers: [down.notifier], config: fastRetry });
    const { id } = await pipeline.admit(fixtureGroup(), 'webhook');
    const d = await pipeline.wait(id);
    expect(down.calls).toHaveLength(4);
    expect(d.notifications[0]).toEqual({ notifier: 'down', status: 'failed', detail: 'gave up after 4 attempt(s): ECONNREFUSED' });
  });

  test('a failing enricher never stops the others or the notification', async () => {
    const rec = recordingNotifier();
    const bad: Enricher = {
      name: 'bad',
      async enrich() {
        throw new Error('kaput');
      },
    };
    const { pipeline } = testPipeline({ enrichers: [bad, fast], notifiers: [rec.notifier] });
    const d = await pipeline.wait((await pipeline.admit(fixtureGroup(), 'webhook')).id);
    expect(d.enrichments.map((e) => e.status)).toEqual(['error', 'ok']);
    expect(rec.calls).toHaveLength(1);
  });

  test('notify=false stores the diagnostic and notifies nobody', async () => {
    const rec = recordingNotifier();
    const { pipeline } = testPipeline({ enrichers: [fast], notifiers: [rec.notifier] });
    const d = await pipeline.wait((await pipeline.admit(fixtureGroup(), 'manual', { notify: false })).id);
    expect(d.trigger).toBe('manual');
    expect(d.notifications).toEqual([{ notifier: 'recorder', status: 'skipped', detail: 'dry run (notify=false)' }]);
    expect(rec.calls).toHaveLength(0);
  });

  test('secrets are redacted from the stored diagnostic', async () => {
    const leaky: Enricher = {
      name: 'leaky',
      async enrich() {
        throw new Error('connect failed for postgres://mon:hunter2-secret@db/app');
      },
    };
    const { pipeline, store } = testPipeline({ enrichers: [leaky], secrets: ['hunter2-secret'] });
    const { id } = await pipeline.admit(fixtureGroup(), 'webhook');
    await pipeline.wait(id);
    const stored = JSON.stringify(store.getRun(id)!.diagnostic);
    expect(stored).not.toContain('hunter2-secret');
    expect(stored).toContain('[REDACTED]');
  });

  test('resume() finishes runs left unfinished in the store; notifiers already sent are not called again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'resume-'));
    const path = join(dir, 'state.sqlite');
    // a first process admitted two runs and died: one before running, one after notifying "a"
    const s1 = new Store(path);
    const t1 = testPipeline({ store: s1 });
    const queued = t1.store.admit({
      runId: 'r-queued',
      idempotencyKey: 'k1',
      keyExpiresAt: Date.now() + 60_000,
      group: fixtureGroup(),
      alertname: 'db_pool_exhausted',
      trigger: 'webhook',
      notify: true,
      now: Date.now(),
    });
    const other = fixtureGroup((p) => (p.groupKey = 'other-group'));
    t1.store.admit({
      runId: 'r-half',
      idempotencyKey: 'k2',
      keyExpiresAt: Date.now() + 60_000,
      group: other,
      alertname: 'db_pool_exhausted',
      trigger: 'webhook',
      notify: true,
      now: Date.now(),
    });
    t1.store.claim('r-half');
    t1.store.setState('r-half', 'notifying', {
      id: 'r-half',
      alertname: 'db_pool_exhausted',
      status: 'firing',
      groupKey: 'other-group',
      fingerprints: [],
      trigger: 'webhook',
      startedAt: new Date().toISOString(),
      finishedAt: new Date().toISOString(),
      durationMs: 1,
      enrichments: [],
      causes: [],
      notifications: [],
    });
    t1.store.recordNotification('r-half', 'a', 'sent', 'sent earlier');
    s1.close();

    const a = recordingNotifier('a');
    const b = recordingNotifier('b');
    const t2 = testPipeline({ store: new Store(path), enrichers: [fast], notifiers: [a.notifier, b.notifier] });
    expect(await t2.pipeline.resume()).toBe(2);
    const [d1, d2] = await Promise.all([t2.pipeline.wait(queued.id), t2.pipeline.wait('r-half')]);
    expect(d1.notifications.map((n) => n.status)).toEqual(['sent', 'sent']);
    expect(d2.notifications).toEqual([
      { notifier: 'a', status: 'sent', detail: 'sent earlier' },
      { notifier: 'b', status: 'sent', detail: 'delivered r-half' },
    ]);
    expect(a.calls.map((c) => c.id)).toEqual([queued.id]);
    expect(b.calls.map((c) => c.id).sort()).toEqual([queued.id, 'r-half'].sort());
    expect(t2.store.unfinishedRunIds()).toEqual([]);
  });

  test('drain lets a run in flight finish within the grace period, and refuses new ones', async () => {
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const slow: Enricher = {
      name: 'slow',
      enrich: () => (started(), new Promise((r) => setTimeout(() => r({ summary: '', sections: [], evidence: {} }), 50))),
    };
    const { pipeline, store } = testPipeline({ enrichers: [slow] });
    const { id } = await pipeline.admit(fixtureGroup(), 'webhook');
    await running;
    const r = await pipeline.drain(2_000);
    expect(r).toEqual({ finished: 1, interrupted: 0 });
    expect(store.getRun(id)!.state).toBe('done');
    await expect(
      pipeline.admit(
        fixtureGroup((p) => (p.groupKey = 'x')),
        'webhook',
      ),
    ).rejects.toThrow(/shutting down/);
  });

  test('drain past the grace period interrupts the run and leaves it for the next start', async () => {
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const hang: Enricher = {
      name: 'hang',
      timeoutMs: 60_000,
      enrich: ({ signal }) => (started(), new Promise((_, rej) => signal.addEventListener('abort', () => rej(signal.reason)))),
    };
    const { pipeline, store } = testPipeline({ enrichers: [hang], config: { budgetMs: 60_000 } });
    const { id } = await pipeline.admit(fixtureGroup(), 'webhook');
    await running;
    const r = await pipeline.drain(30);
    expect(r).toEqual({ finished: 0, interrupted: 1 });
    expect(store.getRun(id)!.state).toBe('enriching');
    expect(store.unfinishedRunIds()).toEqual([id]);
  });
});
