/**
 * What only the PostgreSQL store has: migrations run once under a lock by whichever replica
 * starts first, a newer schema refused, a bounded pool, and fast typed failures when the state
 * database is gone or hangs. A real server (test/support/postgres.ts), a fresh database per case.
 */
import { Client } from 'pg';
import { freeTcpPort, startPostgresServer, type PostgresServer } from '../../demo/postgres';
import { PG_SCHEMA_VERSION } from '../../src/store/pg-migrations';
import { PostgresStore, describeUrl } from '../../src/store/postgres';
import { StoreError, StoreUnavailableError } from '../../src/store/types';
import { caught, until } from '../support/wait';
import { admitReq } from './contract';
import { statePostgres } from './state-db';

const { server: statePg, dbs, track } = statePostgres();

async function sql<T = Record<string, unknown>>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text, values)).rows as T[];
  } finally {
    await c.end();
  }
}

describe('migrations', () => {
  test('replicas starting at once migrate an empty database exactly once, and all of them work', async () => {
    const url = await dbs.create();
    const stores = await Promise.all(Array.from({ length: 4 }, () => dbs.open(url).then(track)));
    const versions = await sql<{ version: number }>(url, 'SELECT version FROM pagefirst_schema ORDER BY version');
    expect(versions.map((v) => v.version)).toEqual(Array.from({ length: PG_SCHEMA_VERSION }, (_, i) => i + 1));
    await stores[0]!.admit(admitReq('r1', 'k1', Date.now()));
    expect((await stores[3]!.getRun('r1'))!.id).toBe('r1');
  });

  test('reopening a migrated database keeps its data and migrates nothing', async () => {
    const url = await dbs.create();
    const first = await dbs.open(url);
    await first.admit(admitReq('r1', 'k1', Date.now()));
    await first.close();
    const applied = await sql<{ applied_at: Date }>(url, 'SELECT applied_at FROM pagefirst_schema');
    const again = track(await dbs.open(url));
    expect((await again.getRun('r1'))!.id).toBe('r1');
    expect(await sql<{ applied_at: Date }>(url, 'SELECT applied_at FROM pagefirst_schema')).toEqual(applied);
  });

  test('a database migrated by a newer version is refused with a clear StoreError, and left as it was', async () => {
    const url = await dbs.create();
    await (await dbs.open(url)).close();
    await sql(url, "INSERT INTO pagefirst_schema (version, name) VALUES (99, 'from the future')");
    const e = await caught(dbs.open(url));
    expect(e).toBeInstanceOf(StoreError);
    expect(e).not.toBeInstanceOf(StoreUnavailableError);
    expect(e.message).toMatch(/cannot use the state database postgres:\/\/.*: it was migrated by a newer version \(schema 99, this one knows \d+\)/);
    expect((await sql<{ n: string }>(url, 'SELECT count(*) AS n FROM pagefirst_schema'))[0]!.n).toBe(String(PG_SCHEMA_VERSION + 1));
  });

  test('a replica waits for another one that holds the migration lock, then starts', async () => {
    const url = await dbs.create();
    const holder = new Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query(`SELECT pg_advisory_lock(hashtextextended('pagefirst:schema-migrations', 0))`);
      let done = false;
      const opening = dbs.open(url).then((s) => ((done = true), track(s)));
      // it is waiting on the lock, as pg_locks shows, and has not opened
      const waiting = async () =>
        (await holder.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`)).rows[0].n as number;
      expect(await until('the second replica to wait on the migration lock', async () => (await waiting()) || undefined, 15_000)).toBe(1);
      expect(done).toBe(false);
      await holder.query(`SELECT pg_advisory_unlock(hashtextextended('pagefirst:schema-migrations', 0))`);
      await opening;
      expect(done).toBe(true);
    } finally {
      await holder.end();
    }
  });
});

describe('connections and failures', () => {
  test('the pool stays within poolSize under a burst, and its sessions are named', async () => {
    const url = await dbs.create();
    const s = track(await dbs.open(url, { poolSize: 2 }));
    const now = Date.now();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => s.admit(admitReq(`r${i}`, `k${i}`, now, undefined, { keyExpiresAt: now + 60_000 }))),
    );
    expect(results.filter((r) => !r.coalesced)).toHaveLength(1);
    const db = new URL(url).pathname.slice(1);
    const sessions = await sql<{ n: number }>(
      statePg().adminUrl,
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'pagefirst-state'`,
      [db],
    );
    expect(sessions[0]!.n).toBeGreaterThan(0);
    expect(sessions[0]!.n).toBeLessThanOrEqual(2);
  });

  test('nothing listening: opening fails at once with StoreUnavailableError naming the database, without its password', async () => {
    const port = await freeTcpPort();
    const e = await caught(
      PostgresStore.open({ url: `postgres://state:s3cret-pw@127.0.0.1:${port}/pagefirst`, poolSize: 2, connectTimeoutMs: 1_000, statementTimeoutMs: 1_000 }),
    );
    expect(e).toBeInstanceOf(StoreUnavailableError);
    expect(e.message).toContain(`the state database postgres://state@127.0.0.1:${port}/pagefirst is unavailable`);
    expect(e.message).not.toContain('s3cret-pw');
  });

  test('a statement stuck behind a lock ends at statement/lock timeout with StoreUnavailableError; the store works once the lock goes', async () => {
    const url = await dbs.create();
    const s = track(await dbs.open(url, { statementTimeoutMs: 300 }));
    await s.admit(admitReq('r1', 'k1', Date.now()));
    const locker = new Client({ connectionString: url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE runs IN ACCESS EXCLUSIVE MODE');
      const e = await caught(s.getRun('r1'));
      expect(e).toBeInstanceOf(StoreUnavailableError);
      expect(e.message).toMatch(/lock timeout|statement timeout|canceling statement/);
      await locker.query('ROLLBACK');
      expect((await s.getRun('r1'))!.id).toBe('r1');
    } finally {
      await locker.end();
    }
  });

  describe('a private server that goes away', () => {
    let server: PostgresServer;
    beforeEach(async () => {
      server = await startPostgresServer({ statStatements: false });
    }, 30_000);
    afterEach(() => server?.stop());

    test('a server that hangs (SIGSTOPped): calls fail with StoreUnavailableError within the timeouts, and work again once it answers', async () => {
      const s = track(await PostgresStore.open({ url: server.adminUrl, poolSize: 2, connectTimeoutMs: 500, statementTimeoutMs: 500 }));
      await s.admit(admitReq('r1', 'k1', Date.now()));
      server.pause();
      try {
        const results = await Promise.all([caught(s.getRun('r1')), caught(s.admit(admitReq('r2', 'k2', Date.now()))), caught(s.checkWritable())]);
        for (const e of results) expect(e).toBeInstanceOf(StoreUnavailableError);
      } finally {
        server.resume();
      }
      const back = async () => {
        for (let i = 0; i < 100; i++) {
          const r = await s.getRun('r1').catch(() => undefined);
          if (r) return r;
          await new Promise((res) => setTimeout(res, 50));
        }
      };
      expect((await back())!.id).toBe('r1');
    });

    test('a server that is stopped: calls fail at once with StoreUnavailableError naming the database', async () => {
      const s = track(await PostgresStore.open({ url: server.adminUrl, poolSize: 2, connectTimeoutMs: 1_000, statementTimeoutMs: 1_000 }));
      await s.admit(admitReq('r1', 'k1', Date.now()));
      await server.stop();
      const e = await caught(s.admit(admitReq('r2', 'k2', Date.now())));
      expect(e).toBeInstanceOf(StoreUnavailableError);
      expect(e.message).toContain(describeUrl(server.adminUrl));
      expect(await caught(s.checkWritable())).toBeInstanceOf(StoreUnavailableError);
    });
  });
});
