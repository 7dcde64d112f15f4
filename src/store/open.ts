import { PostgresStore } from './postgres';
import { SqliteStore } from './sqlite';
import type { StateStore } from './types';
import type { StateConfig } from './config';

/**
 * Opens the store the config names: PostgreSQL for `state.url` (migrated under a lock by the
 * first replica), else the SQLite file at `state.path`. Rejects with StoreError when it is
 * unusable (newer schema, corrupt file) and StoreUnavailableError when it cannot be reached.
 */
export async function openStore(config: StateConfig): Promise<StateStore> {
  if (config.url) {
    return PostgresStore.open({
      url: config.url,
      poolSize: config.poolSize,
      connectTimeoutMs: config.connectTimeoutMs,
      statementTimeoutMs: config.statementTimeoutMs,
    });
  }
  return SqliteStore.open(config.path);
}
