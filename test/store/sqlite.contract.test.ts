import { SqliteStore } from '../../src/store/sqlite';
import { storeContract } from './contract';

/** The store contract on the embedded SQLite store (one process: a "peer" is the same handle). */
describe('StateStore contract: SQLite', () => {
  storeContract({
    open: async () => SqliteStore.open(':memory:'),
    peer: async (s) => s,
  });
});
