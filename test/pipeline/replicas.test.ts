/**
 * Two pipelines (two replicas, in one process) on one PostgreSQL state store: a notification
 * arriving at both makes one run and one delivery; a replica that stops renewing its lease (its
 * store is gone, as for a dead node) has its run finished by the other. The real-process version,
 * with Alertmanager peers and SIGKILL, is test/ha/.
 */
import type { Notifier } from '../../src/core/notifier';
import type { StateStore } from '../../src/store/types';
import { statePostgres } from '../store/state-db';
import { fixtureGroup, recordingNotifier, testPipeline } from '../support/pipeline';
import { until } from '../support/wait';

const { dbs, track } = statePostgres();

async function replicas(notifiers: [Notifier, Notifier], config = {}) {
  const a = track(await dbs.open(await dbs.create()));
  const b = track(await dbs.peer(a));
  const conf = { leaseMs: 1_000, pollMs: 100, ...config };
  const pa = testPipeline({ stateStore: a, notifiers: [notifiers[0]], config: conf });
  const pb = testPipeline({ stateStore: b, notifiers: [notifiers[1]], config: conf });
  return { a, b, pa, pb };
}

test('the same notification at both replicas, many times: one run, delivered once', async () => {
  const ra = recordingNotifier('n');
  const rb = recordingNotifier('n');
  const { a, pa, pb } = await replicas([ra.notifier, rb.notifier]);
  const group = fixtureGroup();
  const results = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? pa.pipeline : pb.pipeline).admit(group, 'webhook')));
  const ids = new Set(results.map((r) => r.id));
  expect(ids.size).toBe(1);
  expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
  const id = [...ids][0]!;
  await pb.pipeline.wait(id, AbortSignal.timeout(20_000));
  expect([...ra.calls, ...rb.calls].map((c) => c.id)).toEqual([id]);
  expect((await a.getRun(id))!.attempts).toBe(1);
  await Promise.all([pa.pipeline.drain(1_000), pb.pipeline.drain(1_000)]);
});

test('a replica that can no longer renew its lease stops; the other takes the run over and delivers it once', async () => {
  let started!: () => void;
  const startedOnA = new Promise<void>((r) => (started = r));
  let abortedOnA: unknown;
  const stuck: Notifier = {
    name: 'n',
    notify: (_d, ctx) =>
      new Promise((_resolve, reject) => {
        started();
        ctx.signal.addEventListener('abort', () => reject((abortedOnA = ctx.signal.reason)), { once: true });
      }),
  };
  const rb = recordingNotifier('n');
  const { a, b, pa, pb } = await replicas([stuck, rb.notifier]);
  const { id } = await pa.pipeline.admit(fixtureGroup(), 'webhook');
  await startedOnA;
  // B polls; it cannot claim while A renews
  await pb.pipeline.resume();
  // A's node goes: its store connection with it
  await (a as StateStore).close();
  await until('B to finish the run', async () => ((await b.getRun(id))?.state === 'done' ? true : undefined), 20_000, 50);
  expect(rb.calls.map((c) => c.id)).toEqual([id]);
  expect((await b.getRun(id))!.attempts).toBe(2);
  await until('A to give the run up', () => abortedOnA !== undefined, 10_000);
  expect(pa.log.records().some((r) => String(r.msg).includes('its lease is lost'))).toBe(true);
  await Promise.all([pa.pipeline.drain(1_000), pb.pipeline.drain(1_000)]);
});
