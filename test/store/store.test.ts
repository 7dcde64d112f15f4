import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store, StoreError } from '../../src/store/store';
import { fixtureGroup } from '../support/pipeline';

const dir = mkdtempSync(join(tmpdir(), 'store-'));
const admitReq = (id: string, key: string, now: number, group = fixtureGroup()) => ({
  runId: id,
  idempotencyKey: key,
  keyExpiresAt: now + 1000,
  group,
  alertname: 'db_pool_exhausted',
  trigger: 'webhook' as const,
  notify: true,
  now,
});

describe('Store', () => {
  test('a file that is not SQLite is refused with a clear error and left untouched', () => {
    const f = join(dir, 'corrupt.sqlite');
    writeFileSync(f, "this is not a database, but it is somebody's data".repeat(200));
    const before = readFileSync(f);
    expect(() => new Store(f)).toThrow(StoreError);
    expect(() => new Store(f)).toThrow(/cannot open the state store .*corrupt\.sqlite.*move the file aside/);
    expect(readFileSync(f).equals(before)).toBe(true);
  });

  test('a path that cannot be opened as a file is a clear error', () => {
    expect(() => new Store(dir)).toThrow(/cannot open the state store/);
    expect(() => new Store(join(dir, 'no-such-dir', 'x.sqlite'))).toThrow(StoreError);
  });

  test('data survives reopening', () => {
    const f = join(dir, 'durable.sqlite');
    const s = new Store(f);
    s.admit(admitReq('r1', 'k1', Date.now()));
    s.setNotifierState('slack', 'g', { ts: '1.2' });
    s.close();
    const s2 = new Store(f);
    expect(s2.getRun('r1')!.group.groupKey).toBe('{}/{}:{alertname="db_pool_exhausted"}');
    expect(s2.getNotifierState('slack', 'g')).toEqual({ ts: '1.2' });
    expect(s2.groupKeyOf('e214ec06c8c5d0da')).toBe('{}/{}:{alertname="db_pool_exhausted"}');
    s2.close();
  });

  test('admit: a live key is a duplicate, an expired key is not', () => {
    const s = new Store(':memory:');
    expect(s.admit(admitReq('r1', 'k', 1000))).toEqual({ id: 'r1', duplicate: false, coalesced: false, keyExpiresAt: 2000 });
    s.setState('r1', 'done');
    expect(s.admit(admitReq('r2', 'k', 1500))).toEqual({ id: 'r1', duplicate: true, coalesced: false, keyExpiresAt: 2000 });
    expect(s.admit(admitReq('r3', 'k', 2001))).toEqual({ id: 'r3', duplicate: false, coalesced: false, keyExpiresAt: 3001 });
  });

  test('purge removes finished runs and keys past the retention, never unfinished runs', () => {
    const s = new Store(':memory:');
    const day = 86_400_000;
    s.admit(admitReq('old-done', 'k1', 0));
    s.setState('old-done', 'done', undefined, 0);
    s.admit(
      admitReq(
        'old-queued',
        'k2',
        0,
        fixtureGroup((p) => (p.groupKey = 'g2')),
      ),
    );
    s.admit(
      admitReq(
        'new',
        'k3',
        10 * day,
        fixtureGroup((p) => (p.groupKey = 'g3')),
      ),
    );
    const n = s.purge(7 * day, 10 * day);
    expect(n.runs).toBe(1);
    expect(s.getRun('old-done')).toBeUndefined();
    expect(s.getRun('old-queued')).toBeDefined();
    expect(s.getRun('new')).toBeDefined();
  });

  test('initNotifierState keeps the first value', () => {
    const s = new Store(':memory:');
    expect(s.initNotifierState('slack', 'g', { ts: 'a' })).toEqual({ ts: 'a' });
    expect(s.initNotifierState('slack', 'g', { ts: 'b' })).toEqual({ ts: 'a' });
  });

  test('history lists runs of an alertname in a window', () => {
    const s = new Store(':memory:');
    s.admit(admitReq('a', 'k1', 1000));
    s.admit(
      admitReq(
        'b',
        'k2',
        5000,
        fixtureGroup((p) => (p.groupKey = 'g2')),
      ),
    );
    expect(s.runsOf('db_pool_exhausted', new Date(0), new Date(4000)).map((r) => r.id)).toEqual(['a']);
    expect(s.runsOf('db_pool_exhausted', new Date(0), new Date(6000)).map((r) => r.id)).toEqual(['b', 'a']);
    expect(s.runsOf('other', new Date(0), new Date(6000))).toEqual([]);
  });
});
