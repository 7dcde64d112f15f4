import type { PoolClient } from 'pg';
import { StoreError } from './types';

/**
 * The PostgreSQL schema of the shared store, as versioned migrations: each runs once, in its own
 * transaction, in order. Never edit a migration that has shipped; add the next one.
 *
 * Times the pipeline passes in (created_at, expires_at, until, ...) are epoch milliseconds in
 * bigint columns, as in the SQLite store; leases and send slots use the database's own clock
 * (`clock_timestamp()`), so replicas with skewed clocks agree on when a lease lapses.
 */
export const PG_MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'runs, keys, cool-downs, notifier state, leases, send slots',
    sql: `
CREATE TABLE runs (
  id text PRIMARY KEY,
  group_key text NOT NULL,
  alertname text NOT NULL,
  status text NOT NULL,
  trigger text NOT NULL,
  state text NOT NULL,
  notify boolean NOT NULL,
  input text NOT NULL,
  diagnostic text,
  attempts integer NOT NULL DEFAULT 0,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);
CREATE INDEX runs_unfinished ON runs (created_at) WHERE state <> 'done';
CREATE INDEX runs_group ON runs (group_key, created_at);
CREATE INDEX runs_alertname ON runs (alertname, created_at);
CREATE INDEX runs_done ON runs (updated_at) WHERE state = 'done';
-- one queued run per group, status and trigger: newer notifications join it (coalescing)
CREATE UNIQUE INDEX runs_one_queued ON runs (group_key, status, trigger) WHERE state = 'queued';
CREATE TABLE idempotency (
  key text PRIMARY KEY,
  run_id text NOT NULL,
  expires_at bigint NOT NULL
);
CREATE INDEX idempotency_expiry ON idempotency (expires_at);
CREATE TABLE notifications (
  run_id text NOT NULL,
  notifier text NOT NULL,
  status text NOT NULL,
  detail text NOT NULL,
  updated_at bigint NOT NULL,
  PRIMARY KEY (run_id, notifier)
);
CREATE TABLE alert_groups (
  fingerprint text PRIMARY KEY,
  group_key text NOT NULL,
  updated_at bigint NOT NULL
);
CREATE TABLE group_cooldown (
  group_key text NOT NULL,
  trigger text NOT NULL,
  status text NOT NULL,
  run_id text NOT NULL,
  until bigint NOT NULL,
  PRIMARY KEY (group_key, trigger)
);
CREATE TABLE notifier_state (
  notifier text NOT NULL,
  key text NOT NULL,
  value text NOT NULL,
  updated_at bigint NOT NULL,
  PRIMARY KEY (notifier, key)
);
CREATE INDEX notifier_state_age ON notifier_state (updated_at);
-- the run of a group being worked on, by whom (token) and until when: one per group
CREATE TABLE run_leases (
  group_key text PRIMARY KEY,
  run_id text NOT NULL,
  token text NOT NULL,
  until timestamptz NOT NULL
);
-- the next free send slot of a Slack channel, shared by every replica
CREATE TABLE send_slots (
  channel text PRIMARY KEY,
  next_at timestamptz NOT NULL
);
`,
  },
];

/** The newest schema this version knows. */
export const PG_SCHEMA_VERSION = PG_MIGRATIONS[PG_MIGRATIONS.length - 1]!.version;

/** Session advisory lock held while migrating: whichever replica starts first migrates, the others wait. */
const MIGRATION_LOCK = `hashtextextended('pagefirst:schema-migrations', 0)`;

/**
 * Brings the database to PG_SCHEMA_VERSION under an advisory lock, or refuses one whose schema is
 * newer than this version knows (StoreError, nothing changed). `where` names the store in errors.
 * `timeoutMs` bounds the wait for the lock and each migration.
 */
export async function migrate(client: PoolClient, where: string, timeoutMs: number): Promise<{ from: number; to: number }> {
  await client.query(`SET statement_timeout = ${Math.trunc(timeoutMs)}; SET lock_timeout = ${Math.trunc(timeoutMs)}`);
  await client.query(`SELECT pg_advisory_lock(${MIGRATION_LOCK})`);
  try {
    await client.query(
      `CREATE TABLE IF NOT EXISTS pagefirst_schema (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const current = Number((await client.query<{ v: number | null }>('SELECT max(version) AS v FROM pagefirst_schema')).rows[0]?.v ?? 0);
    if (current > PG_SCHEMA_VERSION) {
      throw new StoreError(
        `cannot use the state database ${where}: it was migrated by a newer version (schema ${current}, this one knows ${PG_SCHEMA_VERSION}). Nothing was changed; run that version, or point state.url at another database.`,
      );
    }
    for (const m of PG_MIGRATIONS) {
      if (m.version <= current) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO pagefirst_schema (version, name) VALUES ($1, $2)', [m.version, m.name]);
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {});
        throw e;
      }
    }
    return { from: current, to: Math.max(current, PG_SCHEMA_VERSION) };
  } finally {
    await client.query(`SELECT pg_advisory_unlock(${MIGRATION_LOCK})`).catch(() => {});
    await client.query('RESET statement_timeout; RESET lock_timeout').catch(() => {});
  }
}
