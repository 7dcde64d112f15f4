import type { StateStore } from '../../src/store/types';
import { PostgresStore, type PostgresStoreOptions } from '../../src/store/postgres';
import { startPostgres, type TestPostgres } from '../support/postgres';

/**
 * Fresh state databases on a test PostgreSQL: a database of its own per store under test (the
 * state database is never the monitored one), opened as the receiver opens it.
 */
export function stateDatabases(pg: () => TestPostgres, defaults: Partial<PostgresStoreOptions> = {}) {
  let n = 0;
  const urls = new WeakMap<StateStore, string>();
  const options = (url: string, over: Partial<PostgresStoreOptions>): PostgresStoreOptions => ({
    url,
    poolSize: 4,
    connectTimeoutMs: 2_000,
    statementTimeoutMs: 5_000,
    ...defaults,
    ...over,
  });
  return {
    /** Creates an empty database and returns its URL. */
    async create(): Promise<string> {
      const name = `state_${process.pid}_${++n}`;
      const c = await pg().connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return pg().url({ database: name });
    },
    /** Opens a store on `url` (migrating it). */
    async open(url: string, over: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> {
      const s = await PostgresStore.open(options(url, over));
      urls.set(s, url);
      return s;
    },
    /** Another store on the database of `s`: a second replica. */
    async peer(s: StateStore, over: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> {
      const url = urls.get(s);
      if (!url) throw new Error('not a store opened by stateDatabases');
      return this.open(url, over);
    },
  };
}

/**
 * For a test file: a PostgreSQL started before its tests and stopped after them, fresh state
 * databases on it, and stores tracked with `track` closed after each test.
 */
export function statePostgres(defaults: Partial<PostgresStoreOptions> = {}) {
  let pg: TestPostgres | undefined;
  const server = () => {
    if (!pg) throw new Error('the state PostgreSQL is not started (beforeAll)');
    return pg;
  };
  const opened: StateStore[] = [];
  beforeAll(async () => {
    pg = await startPostgres({ statStatements: false });
  }, 60_000);
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close().catch(() => {})));
  });
  afterAll(() => pg?.stop());
  return {
    server,
    dbs: stateDatabases(server, defaults),
    /** Closes `s` after the test. */
    track: <T extends StateStore>(s: T): T => {
      opened.push(s);
      return s;
    },
  };
}
