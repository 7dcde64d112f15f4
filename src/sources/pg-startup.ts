import { Client } from 'pg';

/**
 * A node-postgres Client that a connection pooler accepts: its startup packet holds the
 * STARTUP_PARAMETERS only. PgBouncer takes `user`, `database`, `application_name` and the
 * parameters it tracks (client_encoding, DateStyle, TimeZone, standard_conforming_strings);
 * any other is refused with `unsupported startup parameter` unless listed in
 * ignore_startup_parameters (pgbouncer/pgbouncer src/client.c set_startup_options,
 * src/varcache.c; doc/config.md). Shared by the PostgreSQL guard (postgres.ts) and the
 * PgBouncer admin console client (pgbouncer.ts).
 */

/**
 * URL parameters that would reach the startup packet or override ours in pg
 * (pg/lib/connection-parameters.js, pg-connection-string): removed from the URL.
 */
const OWN_PARAMS = [
  'application_name',
  'fallback_application_name',
  'statement_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'query_timeout',
  'connect_timeout',
  'options',
  'replication',
];
/**
 * The only startup parameters we send (a pooler may refuse any other).
 * `client_encoding` (UTF8) is added by node-postgres' protocol serializer itself
 * (pg-protocol/src/serializer.ts `startup`); PgBouncer tracks it (src/varcache.c).
 */
export const STARTUP_PARAMETERS = ['user', 'database', 'application_name', 'client_encoding'] as const;
/** The ones our Client passes on from pg's own list (client_encoding is not in it). */
const CLIENT_STARTUP_KEYS = ['user', 'database', 'application_name'] as const;
/** A pg Client whose startup packet holds STARTUP_PARAMETERS only, whatever the URL or PG* environment says. */
export class MonitorClient extends Client {
  /**
   * node-postgres builds the startup packet in Client#getStartupConf (pg/lib/client.js): user,
   * database, application_name, replication, statement_timeout, lock_timeout,
   * idle_in_transaction_session_timeout and options (the last also from PGOPTIONS). We keep the
   * first three; test/sources/postgres-pooler.test.ts reads the packet on the wire.
   */
  getStartupConf(): Record<string, string> {
    const base = (Client.prototype as unknown as { getStartupConf(this: Client): Record<string, string> }).getStartupConf.call(this);
    const out: Record<string, string> = {};
    for (const k of CLIENT_STARTUP_KEYS) if (base[k] !== undefined) out[k] = base[k];
    return out;
  }
}

/** Strips our own parameters from the URL so pg cannot let them override ours; leaves unparsable URLs alone. */
export function cleanUrl(url: string): string {
  try {
    const u = new URL(url);
    for (const k of OWN_PARAMS) u.searchParams.delete(k);
    return u.toString();
  } catch {
    return url;
  }
}
