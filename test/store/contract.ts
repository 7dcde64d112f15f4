/**
 * The store contract: the same cases against every StateStore implementation (SQLite and
 * PostgreSQL), run by test/store/sqlite.contract.test.ts and test/store/postgres.contract.test.ts.
 * `open()` gives a store over fresh, empty state; `peer(store)` another handle on the same state,
 * as a second replica has (for SQLite, one process owns the file: the same handle).
 */
import type { Diagnostic } from '../../src/core/diagnostic';
import type { AdmitRequest, StateStore } from '../../src/store/types';
import { fixtureGroup } from '../support/pipeline';
import { until } from '../support/wait';

export interface ContractTarget {
  open(): Promise<StateStore>;
  peer(store: StateStore): Promise<StateStore>;
}

const GROUP = '{}/{}:{alertname="db_pool_exhausted"}';

export const admitReq = (id: string, key: string, now: number, group = fixtureGroup(), over: Partial<AdmitRequest> = {}): AdmitRequest => ({
  runId: id,
  idempotencyKey: key,
  keyExpiresAt: now + 1000,
  group,
  alertname: 'db_pool_exhausted',
  trigger: 'webhook',
  notify: true,
  now,
  ...over,
});

const groupNamed = (key: string, status: 'firing' | 'resolved' = 'firing') =>
  fixtureGroup((p) => {
    p.groupKey = key;
    p.status = status;
  });

const diagnosticOf = (id: string, groupKey: string, extra: Partial<Diagnostic> = {}): Diagnostic => ({
  id,
  groupKey,
  alertname: 'db_pool_exhausted',
  status: 'firing',
  fingerprints: [],
  trigger: 'webhook',
  startedAt: '',
  finishedAt: '',
  durationMs: 0,
  enrichments: [],
  causes: [],
  notifications: [],
  ...extra,
});

export function storeContract(target: ContractTarget): void {
  const opened: StateStore[] = [];
  const open = async () => {
    const s = await target.open();
    opened.push(s);
    return s;
  };
  const peer = async (s: StateStore) => {
    const p = await target.peer(s);
    if (p !== s) opened.push(p);
    return p;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close().catch(() => {})));
  });

  describe('admit', () => {
    test('a live key is a duplicate of its run until the expiry its first request set; an expired key is not', async () => {
      const s = await open();
      expect(await s.admit(admitReq('r1', 'k', 1000))).toEqual({ id: 'r1', duplicate: false, coalesced: false, keyExpiresAt: 2000 });
      await s.setState('r1', 'done');
      // the duplicate says until when the key it matched lives (not its own request's 2500)
      expect(await s.admit(admitReq('r2', 'k', 1500))).toEqual({ id: 'r1', duplicate: true, coalesced: false, keyExpiresAt: 2000 });
      expect(await s.admit(admitReq('r3', 'k', 2001))).toEqual({ id: 'r3', duplicate: false, coalesced: false, keyExpiresAt: 3001 });
      expect((await s.getRun('r3'))!.state).toBe('queued');
      expect(await s.getRun('r2')).toBeUndefined();
    });

    test('a queued run of the same group, status and trigger absorbs a new notification: its newer input, notify if either asked', async () => {
      const s = await open();
      const first = groupNamed('g1');
      const newer = fixtureGroup((p) => {
        p.groupKey = 'g1';
        p.commonAnnotations = { summary: 'newer input' };
      });
      await s.admit(admitReq('r1', 'k1', 1000, first, { notify: false }));
      expect(await s.admit(admitReq('r2', 'k2', 1100, newer))).toEqual({ id: 'r1', duplicate: false, coalesced: true, keyExpiresAt: 2100 });
      const run = (await s.getRun('r1'))!;
      expect(run.group.commonAnnotations).toEqual({ summary: 'newer input' });
      expect(run.notify).toBe(true);
      expect(await s.getRun('r2')).toBeUndefined();
      // its key now names the run it joined
      expect(await s.admit(admitReq('r3', 'k2', 1200, newer))).toEqual({ id: 'r1', duplicate: true, coalesced: false, keyExpiresAt: 2100 });
      // another status is another run
      expect((await s.admit(admitReq('r4', 'k4', 1300, groupNamed('g1', 'resolved')))).id).toBe('r4');
    });

    test('within a group cool-down a newer notification joins the last run: coalesced while queued, absorbed once started', async () => {
      const s = await open();
      const cool = (id: string, key: string, now: number, summary: string) =>
        admitReq(
          id,
          key,
          now,
          fixtureGroup((p) => ((p.groupKey = 'g1'), (p.commonAnnotations = { summary }))),
          { groupCooldownUntil: now + 10_000, keyExpiresAt: now + 10_000 },
        );
      expect(await s.admit(cool('r1', 'k1', 1000, 'a'))).toEqual({ id: 'r1', duplicate: false, coalesced: false, keyExpiresAt: 11_000 });
      expect(await s.admit(cool('r2', 'k2', 2000, 'b'))).toEqual({ id: 'r1', duplicate: true, coalesced: true, keyExpiresAt: 12_000 });
      expect((await s.getRun('r1'))!.group.commonAnnotations).toEqual({ summary: 'b' });
      const claimed = await s.claimNext(60_000);
      expect(claimed!.run.id).toBe('r1');
      expect(await s.admit(cool('r3', 'k3', 3000, 'c'))).toEqual({ id: 'r1', duplicate: true, coalesced: false, keyExpiresAt: 13_000 });
      expect((await s.getRun('r1'))!.group.commonAnnotations).toEqual({ summary: 'b' });
      // after the cool-down, a new run
      expect(await s.admit(cool('r4', 'k4', 12_000, 'd'))).toEqual({ id: 'r4', duplicate: false, coalesced: false, keyExpiresAt: 22_000 });
    });

    test('a batch answers each request in order, the later ones seeing the earlier', async () => {
      const s = await open();
      const r = await s.admitBatch([admitReq('a', 'k1', 1000), admitReq('b', 'k1', 1000), admitReq('c', 'k3', 1000, groupNamed('g2'))]);
      expect(r).toEqual([
        { id: 'a', duplicate: false, coalesced: false, keyExpiresAt: 2000 },
        { id: 'a', duplicate: true, coalesced: false, keyExpiresAt: 2000 },
        { id: 'c', duplicate: false, coalesced: false, keyExpiresAt: 2000 },
      ]);
      expect(await s.admitBatch([])).toEqual([]);
    });

    test('the same notification admitted at once through two replicas makes one run', async () => {
      const a = await open();
      const b = await peer(a);
      const now = Date.now();
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).admit(admitReq(`run-${i}`, 'same-key', now, undefined, { keyExpiresAt: now + 60_000 }))),
      );
      const created = results.filter((r) => !r.duplicate);
      expect(created).toHaveLength(1);
      expect(new Set(results.map((r) => r.id))).toEqual(new Set([created[0]!.id]));
      expect(await a.unfinishedRuns()).toEqual([{ id: created[0]!.id, groupKey: GROUP }]);
    });

    test('different notifications of one group admitted at once through two replicas coalesce into one queued run', async () => {
      const a = await open();
      const b = await peer(a);
      const now = Date.now();
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).admit(admitReq(`run-${i}`, `key-${i}`, now, undefined, { keyExpiresAt: now + 60_000 }))),
      );
      expect(new Set(results.map((r) => r.id)).size).toBe(1);
      expect(results.filter((r) => !r.coalesced)).toHaveLength(1);
      expect((await a.unfinishedRuns()).length).toBe(1);
    });

    test('a webhook records the group of each alert fingerprint; a manual run does not', async () => {
      const s = await open();
      await s.admit(admitReq('r1', 'k1', Date.now()));
      expect(await s.groupKeyOf('e214ec06c8c5d0da')).toBe(GROUP);
      await s.admit(
        admitReq(
          'r2',
          'k2',
          Date.now(),
          fixtureGroup((p) => ((p.groupKey = 'manual:x'), (p.alerts[0].fingerprint = 'ffff'))),
          { trigger: 'manual' },
        ),
      );
      expect(await s.groupKeyOf('ffff')).toBeUndefined();
      expect(await s.groupKeyOf('0000')).toBeUndefined();
    });
  });

  describe('the queue', () => {
    test('claims the oldest run, counts the attempt and moves it to enriching; a notifying run stays notifying', async () => {
      const s = await open();
      await s.admit(admitReq('old', 'k1', 1000, groupNamed('g1')));
      await s.admit(admitReq('new', 'k2', 2000, groupNamed('g2')));
      await s.setState('new', 'notifying', diagnosticOf('new', 'g2'));
      const first = await s.claimNext(60_000);
      expect(first!.run).toMatchObject({ id: 'old', state: 'enriching', attempts: 1, groupKey: 'g1', createdAt: 1000 });
      expect(first!.lease).toMatchObject({ runId: 'old', groupKey: 'g1' });
      const second = await s.claimNext(60_000);
      expect(second!.run).toMatchObject({ id: 'new', state: 'notifying', attempts: 1 });
      expect(second!.run.diagnostic!.id).toBe('new');
      expect(await s.claimNext(60_000)).toBeUndefined();
    });

    test('one run per group at a time: the next run of a held group waits for the release; other groups go on', async () => {
      const s = await open();
      await s.admit(admitReq('g1-firing', 'k1', 1000, groupNamed('g1')));
      await s.admit(admitReq('g1-resolved', 'k2', 2000, groupNamed('g1', 'resolved')));
      await s.admit(admitReq('g2', 'k3', 3000, groupNamed('g2')));
      const a = await s.claimNext(60_000);
      expect(a!.run.id).toBe('g1-firing');
      const b = await s.claimNext(60_000);
      expect(b!.run.id).toBe('g2');
      expect(await s.claimNext(60_000)).toBeUndefined();
      await s.setState('g1-firing', 'done');
      await s.releaseLease(a!.lease);
      expect((await s.claimNext(60_000))!.run.id).toBe('g1-resolved');
    });

    test('skipGroups leaves those groups out; done runs are never claimed', async () => {
      const s = await open();
      await s.admit(admitReq('a', 'k1', 1000, groupNamed('g1')));
      await s.admit(admitReq('b', 'k2', 2000, groupNamed('g2')));
      await s.admit(admitReq('c', 'k3', 3000, groupNamed('g3')));
      await s.setState('b', 'done');
      expect((await s.claimNext(60_000, new Set(['g1'])))!.run.id).toBe('c');
      expect(await s.claimNext(60_000, new Set(['g1']))).toBeUndefined();
    });

    test('a lapsed lease is taken over by another worker; the first one can no longer renew it', async () => {
      const a = await open();
      const b = await peer(a);
      await a.admit(admitReq('r1', 'k1', 1000, groupNamed('g1')));
      const first = await a.claimNext(50);
      expect(first!.run.attempts).toBe(1);
      expect(await a.renewLease(first!.lease, 50)).toBe(true);
      const second = await until('the lease to lapse', () => b.claimNext(60_000), 5_000, 20);
      expect(second.run).toMatchObject({ id: 'r1', attempts: 2 });
      expect(second.lease.token).not.toBe(first!.lease.token);
      expect(await a.renewLease(first!.lease, 60_000)).toBe(false);
      // releasing a lease one no longer holds leaves the new holder's alone
      await a.releaseLease(first!.lease);
      expect(await b.renewLease(second.lease, 60_000)).toBe(true);
      expect(await a.claimNext(60_000)).toBeUndefined();
    });

    test('a renewed lease is not taken over, while one not renewed lapses', async () => {
      const a = await open();
      const b = await peer(a);
      await a.admit(admitReq('kept', 'k1', 1000, groupNamed('g1')));
      await a.admit(admitReq('left', 'k2', 2000, groupNamed('g2')));
      const kept = await a.claimNext(100);
      const left = await a.claimNext(100);
      expect([kept!.run.id, left!.run.id]).toEqual(['kept', 'left']);
      expect(await a.renewLease(kept!.lease, 60_000)).toBe(true);
      // the lease of `left`, taken after that of `kept`, lapses: `kept`'s first lease has lapsed too by then
      const taken = await until('the unrenewed lease to lapse', () => b.claimNext(60_000), 5_000, 20);
      expect(taken.run.id).toBe('left');
      expect(await b.claimNext(60_000)).toBeUndefined();
      expect(await a.renewLease(kept!.lease, 60_000)).toBe(true);
    });

    test('workers claiming at once through two replicas: every run exactly once, never two of one group at a time', async () => {
      const a = await open();
      const b = await peer(a);
      const groups = ['g1', 'g2', 'g3', 'g4'];
      let n = 0;
      for (const g of groups)
        for (const status of ['firing', 'resolved'] as const) await a.admit(admitReq(`${g}-${status}`, `k${n}`, 1000 + n++, groupNamed(g, status)));
      const running = new Set<string>();
      const done: string[] = [];
      const worker = async (s: StateStore) => {
        for (let idle = 0; idle < 3;) {
          const c = await s.claimNext(60_000);
          if (!c) {
            idle++;
            await new Promise((r) => setTimeout(r, 20));
            continue;
          }
          expect(running.has(c.run.groupKey)).toBe(false);
          running.add(c.run.groupKey);
          await new Promise((r) => setTimeout(r, 5));
          await s.setState(c.run.id, 'done');
          running.delete(c.run.groupKey);
          await s.releaseLease(c.lease);
          done.push(c.run.id);
        }
      };
      await Promise.all([worker(a), worker(b), worker(a), worker(b)]);
      expect(done.sort()).toEqual(groups.flatMap((g) => [`${g}-firing`, `${g}-resolved`]).sort());
    });
  });

  describe('runs, history, notifications', () => {
    test('setState stores the diagnostic; previousDiagnostic is the newest finished one of the group before a run', async () => {
      const s = await open();
      await s.admit(admitReq('r1', 'k1', 1000, groupNamed('g1')));
      await s.setState('r1', 'done', diagnosticOf('r1', 'g1', { causes: [{ id: 'connection_leak' } as Diagnostic['causes'][0]] }));
      await s.admit(admitReq('r2', 'k2', 2000, groupNamed('g1')));
      expect((await s.getRun('r1'))!.diagnostic!.causes[0]!.id).toBe('connection_leak');
      expect((await s.previousDiagnostic('g1', { id: 'r2', createdAt: 2000 }))!.id).toBe('r1');
      expect(await s.previousDiagnostic('g1', { id: 'r1', createdAt: 1000 })).toBeUndefined();
      expect(await s.previousDiagnostic('g2', { id: 'r2', createdAt: 2000 })).toBeUndefined();
      // state alone keeps the diagnostic
      await s.setState('r1', 'done');
      expect((await s.getRun('r1'))!.diagnostic!.id).toBe('r1');
    });

    test('runsOf lists runs of an alertname in [since, before), newest first', async () => {
      const s = await open();
      await s.admit(admitReq('a', 'k1', 1000));
      await s.admit(admitReq('b', 'k2', 5000, groupNamed('g2')));
      expect((await s.runsOf('db_pool_exhausted', new Date(0), new Date(4000))).map((r) => r.id)).toEqual(['a']);
      expect(await s.runsOf('db_pool_exhausted', new Date(0), new Date(6000))).toEqual([
        { id: 'b', startedAt: new Date(5000).toISOString(), status: 'firing' },
        { id: 'a', startedAt: new Date(1000).toISOString(), status: 'firing' },
      ]);
      expect(await s.runsOf('other', new Date(0), new Date(6000))).toEqual([]);
    });

    test('notifier outcomes are recorded per run and notifier, the last one kept', async () => {
      const s = await open();
      await s.admit(admitReq('r1', 'k1', 1000));
      await s.recordNotification('r1', 'slack', 'failed', 'timeout');
      await s.recordNotification('r1', 'slack', 'sent', 'thread C1/1.2');
      await s.recordNotification('r1', 'console', 'sent', 'stdout');
      expect(await s.notifications('r1')).toEqual(
        new Map([
          ['slack', { status: 'sent', detail: 'thread C1/1.2' }],
          ['console', { status: 'sent', detail: 'stdout' }],
        ]),
      );
      expect((await s.notifications('other')).size).toBe(0);
    });

    test('unfinishedRuns lists runs not done, oldest first', async () => {
      const s = await open();
      await s.admit(admitReq('a', 'k1', 1000, groupNamed('g1')));
      await s.admit(admitReq('b', 'k2', 2000, groupNamed('g2')));
      await s.admit(admitReq('c', 'k3', 3000, groupNamed('g3')));
      await s.setState('b', 'done');
      expect(await s.unfinishedRuns()).toEqual([
        { id: 'a', groupKey: 'g1' },
        { id: 'c', groupKey: 'g3' },
      ]);
    });

    test('purge removes finished runs and keys past the retention, never unfinished runs', async () => {
      const s = await open();
      const day = 86_400_000;
      await s.admit(admitReq('old-done', 'k1', 0));
      await s.setState('old-done', 'done', undefined, 0);
      await s.recordNotification('old-done', 'slack', 'sent', 'x', 0);
      await s.admit(admitReq('old-queued', 'k2', 0, groupNamed('g2')));
      await s.admit(admitReq('new', 'k3', 10 * day, groupNamed('g3')));
      await s.setNotifierState('slack', 'old', 1, 0);
      await s.setNotifierState('slack', 'new', 2, 10 * day);
      expect(await s.purge(7 * day, 10 * day)).toEqual({ runs: 1, keys: 2 });
      expect(await s.getRun('old-done')).toBeUndefined();
      expect((await s.notifications('old-done')).size).toBe(0);
      expect(await s.getRun('old-queued')).toBeDefined();
      expect(await s.getRun('new')).toBeDefined();
      expect(await s.getNotifierState('slack', 'old')).toBeUndefined();
      expect(await s.getNotifierState('slack', 'new')).toBe(2);
    });
  });

  describe('notifier state', () => {
    test('set and get round-trip JSON values; initNotifierState keeps the first value', async () => {
      const s = await open();
      expect(await s.getNotifierState('slack', 'thread:g')).toBeUndefined();
      await s.setNotifierState('slack', 'thread:g', { channel: 'C1', ts: '1.2', nested: { a: [1, 2] } });
      expect(await s.getNotifierState('slack', 'thread:g')).toEqual({ channel: 'C1', ts: '1.2', nested: { a: [1, 2] } });
      expect(await s.initNotifierState('slack', 'x', { ts: 'a' })).toEqual({ ts: 'a' });
      expect(await s.initNotifierState('slack', 'x', { ts: 'b' })).toEqual({ ts: 'a' });
      // namespaces are apart
      expect(await s.getNotifierState('slack_entry', 'x')).toBeUndefined();
    });

    test('initNotifierState racing through two replicas: every caller gets the one value stored first (one thread per group)', async () => {
      const a = await open();
      const b = await peer(a);
      const values = await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 ? a : b).initNotifierState('slack', 'thread:g', { ts: `candidate-${i}` })));
      const stored = await a.getNotifierState<{ ts: string }>('slack', 'thread:g');
      expect(stored!.ts).toMatch(/^candidate-\d+$/);
      expect(values).toEqual(values.map(() => stored));
    });
  });

  describe('send slots', () => {
    test('one slot per interval and channel, shared by the replicas; other channels are apart', async () => {
      const a = await open();
      const b = await peer(a);
      const started = Date.now();
      const waits = await Promise.all([a, b, a, b].map((s) => s.reserveSendSlot('C1', 1_000)));
      const spread = Date.now() - started;
      // four slots a second apart: one now, then 1, 2 and 3 s after it (less the time between the calls)
      const sorted = [...waits].sort((x, y) => x - y);
      expect(sorted[0]).toBe(0);
      for (let i = 1; i < 4; i++) {
        expect(sorted[i]! - sorted[i - 1]!).toBeGreaterThanOrEqual(1_000 - spread - 2);
        expect(sorted[i]! - sorted[i - 1]!).toBeLessThanOrEqual(1_000 + 2);
      }
      expect(await b.reserveSendSlot('C2', 1_000)).toBe(0);
    });
  });

  test('checkWritable resolves on a healthy store; a closed store rejects every call', async () => {
    const s = await target.open();
    await expect(s.checkWritable()).resolves.toBeUndefined();
    await s.close();
    await expect(s.getRun('x')).rejects.toThrow(/closed/);
    await expect(s.admit(admitReq('r', 'k', 1))).rejects.toThrow(/closed/);
  });
}
