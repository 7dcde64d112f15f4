import { storeContract } from './contract';
import { statePostgres } from './state-db';

/** The store contract on the shared PostgreSQL store: a real server, a fresh database per case, peers as second replicas. */
describe('StateStore contract: PostgreSQL', () => {
  const { dbs } = statePostgres();
  storeContract({
    open: async () => dbs.open(await dbs.create()),
    peer: (s) => dbs.peer(s),
  });
});
