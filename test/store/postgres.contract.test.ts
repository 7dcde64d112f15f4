import { startPostgres, type TestPostgres } from '../support/postgres';
import { storeContract } from './contract';
import { stateDatabases } from './state-db';

/** The store contract on the shared PostgreSQL store: a real server, a fresh database per case, peers as second replicas. */
describe('StateStore contract: PostgreSQL', () => {
  let pg: TestPostgres;
  const dbs = stateDatabases(() => pg);
  beforeAll(async () => {
    pg = await startPostgres({ statStatements: false });
  }, 60_000);
  afterAll(() => pg?.stop());

  storeContract({
    open: async () => dbs.open(await dbs.create()),
    peer: (s) => dbs.peer(s),
  });
});
