import type { SourcesConfig } from './config';
import { createPrometheusClient, type PrometheusClient } from './prometheus';
import { createAlertmanagerClient, type AlertmanagerClient } from './alertmanager';
import { createPostgresGuard, type PostgresGuard } from './postgres';
import { createPgBouncerClient, type PgBouncerClient } from './pgbouncer';

/**
 * The clients of the configured sources, created once per process and shared by every route's
 * enrichers (so the monitored database sees at most one connection from us).
 */
export interface SourceClients {
  readonly config: SourcesConfig;
  /** Present when `sources.prometheus` is configured. */
  readonly prometheus?: PrometheusClient;
  /** Present when `sources.alertmanager` is configured. */
  readonly alertmanager?: AlertmanagerClient;
  /** One connection guard per `sources.postgres[]` entry, by name (empty when none). */
  readonly postgres: ReadonlyMap<string, PostgresGuard>;
  /** One admin-console client per `sources.pgbouncer[]` entry, by name (empty when none). */
  readonly pgbouncer: ReadonlyMap<string, PgBouncerClient>;
  /** Closes every connection; idempotent. */
  close(): Promise<void>;
}

/** Builds the source clients from `sources`; opens nothing until first used. */
export function createSourceClients(config: SourcesConfig): SourceClients {
  const postgres = new Map(config.postgres.map((db) => [db.name, createPostgresGuard(db)] as const));
  const pgbouncer = new Map(config.pgbouncer.map((b) => [b.name, createPgBouncerClient(b)] as const));
  return {
    config,
    postgres,
    pgbouncer,
    ...(config.prometheus ? { prometheus: createPrometheusClient(config.prometheus) } : {}),
    ...(config.alertmanager ? { alertmanager: createAlertmanagerClient(config.alertmanager) } : {}),
    async close() {
      await Promise.allSettled([...postgres.values(), ...pgbouncer.values()].map((g) => g.close()));
    },
  };
}
