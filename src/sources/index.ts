import type { SourcesConfig } from './config';

/**
 * The clients of the configured sources, created once per process and shared by every route's
 * enrichers (so the monitored database sees at most one connection from us).
 */
export interface SourceClients {
  readonly config: SourcesConfig;
  /** Closes every connection; idempotent. */
  close(): Promise<void>;
}

/** Builds the source clients from `sources`; opens nothing until first used. */
export function createSourceClients(config: SourcesConfig): SourceClients {
  return {
    config,
    async close() {},
  };
}
