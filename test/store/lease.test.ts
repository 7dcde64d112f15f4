import { keepLease } from '../../src/store/lease';
import { SqliteStore } from '../../src/store/sqlite';
import type { StateStore } from '../../src/store/types';
import { until } from '../support/wait';
import { admitReq } from './contract';
import { statePostgres } from './state-db';

/** keepLease on both stores: a kept lease is never taken over; a lost one aborts its run's signal. */
const { dbs, track } = statePostgres();

const targets: Array<[string, () => Promise<[StateStore, StateStore]>]> = [
  [
    'SQLite',
    async () => {
      const s = track(SqliteStore.open(':memory:'));
      return [s, s];
    },
  ],
  [
    'PostgreSQL',
    async () => {
      const a = track(await dbs.open(await dbs.create()));
      return [a, track(await dbs.peer(a))];
    },
  ],
];

describe.each(targets)('keepLease on %s', (_name, pair) => {
  test('a kept lease outlives its length and is not taken over; released, the group is free', async () => {
    const [a, b] = await pair();
    await a.admit(admitReq('r1', 'k1', 1000));
    await a.admit(admitReq('r2', 'k2', 2000, undefined, { trigger: 'manual' }));
    const claimed = (await a.claimNext(150))!;
    const kept = keepLease(a, claimed.lease, 150);
    await until('six renewals (four lease lengths)', () => kept.renewals >= 6, 10_000);
    expect(await b.claimNext(60_000)).toBeUndefined();
    expect(kept.signal.aborted).toBe(false);
    await a.setState('r1', 'done');
    await kept.release();
    // the next run of the group is claimable at once
    expect((await b.claimNext(60_000))!.run.id).toBe('r2');
  });

  test('a lease taken over after it lapsed aborts the signal at the next renewal', async () => {
    const [a, b] = await pair();
    await a.admit(admitReq('r1', 'k1', 1000));
    const first = (await a.claimNext(50))!;
    const second = await until('the lease to lapse', () => b.claimNext(60_000), 5_000, 20);
    const kept = keepLease(a, first.lease, 50);
    await until('the signal to abort', () => kept.signal.aborted, 5_000);
    expect((kept.signal.reason as Error).message).toMatch(/taken over by another worker/);
    await kept.release();
    // releasing a lost lease leaves the new holder's
    expect(await b.renewLease(second.lease, 60_000)).toBe(true);
  });

  test('a store that cannot renew for a whole lease length aborts the signal', async () => {
    const [a] = await pair();
    await a.admit(admitReq('r1', 'k1', 1000));
    const claimed = (await a.claimNext(100))!;
    await a.close();
    const kept = keepLease(a, claimed.lease, 100);
    await until('the signal to abort', () => kept.signal.aborted, 5_000);
    expect((kept.signal.reason as Error).message).toMatch(/could not be renewed for 100 ms: .*closed/);
    await kept.release();
  });
});
