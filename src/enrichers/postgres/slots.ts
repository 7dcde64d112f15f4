/**
 * Connection arithmetic: how many of max_connections an ordinary role can use, how many are
 * left, and who can still get in.
 *
 * From postgres/postgres src/backend/utils/init/postinit.c (InitPostgres) and the docs
 * (runtime-config-connection.html): superuser_reserved_connections slots are kept for
 * superusers; from PostgreSQL 16, reserved_connections more for roles with the privileges of
 * pg_use_reserved_connections. The refusals say which tier was full:
 * - `sorry, too many clients already`: every slot, the reserved ones too;
 * - `remaining connection slots are reserved for roles with the SUPERUSER attribute` (16+) /
 *   `... reserved for non-replication superuser connections` (before 16): only superuser slots left;
 * - `remaining connection slots are reserved for roles with privileges of the
 *   "pg_use_reserved_connections" role` (16+): only the reserved_connections slots left.
 * Walsenders (12+: max_wal_senders), autovacuum and background or parallel workers
 * (max_worker_processes) have slots of their own; client backends fill max_connections.
 */

export interface SlotSettings {
  maxConnections: number;
  superuserReserved: number;
  /** reserved_connections (PostgreSQL 16+); 0 before. */
  reserved: number;
}

/** What our monitoring role is allowed beyond the ordinary slots. */
export interface MonitorPrivileges {
  superuser: boolean;
  /** Member of pg_use_reserved_connections (16+); null where the role does not exist (before 16). */
  useReserved: boolean | null;
}

export interface SlotArithmetic {
  /** max_connections - superuser_reserved_connections - reserved_connections. */
  usable: number;
  /** Client backends now (ours included), at least: sessions we could see. */
  used: number;
  /** Sessions we could not see that may be client backends: `used` may be up to this many more. */
  unknown: number;
  /** usable - used (negative: reserved slots are in use). */
  freeOrdinary: number;
  /** Which slots our own connection is on: `reserved` / `superuser` when the ordinary ones are full and our role may use those. */
  ourTier: 'ordinary' | 'reserved' | 'superuser';
  /** Who can still connect, in a sentence. */
  whoCanConnect: string;
}

/**
 * The arithmetic for `used` client backends (ours included) and `unknown` hidden rows. Our own
 * tier is inferred from our role's privileges when more than the ordinary slots are in use.
 */
export function slotArithmetic(s: SlotSettings, used: number, unknown: number, monitor: MonitorPrivileges): SlotArithmetic {
  const usable = s.maxConnections - s.superuserReserved - s.reserved;
  const freeOrdinary = usable - used;
  // beyond the ordinary slots, a role of ours that may use reserved ones is taken to be on one; one that may not got in earlier
  const ourTier: SlotArithmetic['ourTier'] = used <= usable ? 'ordinary' : monitor.useReserved ? 'reserved' : monitor.superuser ? 'superuser' : 'ordinary';
  const reservedLeft = Math.max(0, Math.min(s.reserved, usable + s.reserved - used));
  const superLeft = Math.max(0, Math.min(s.superuserReserved, s.maxConnections - used));
  let whoCanConnect: string;
  if (freeOrdinary - unknown > 0)
    whoCanConnect = `${freeOrdinary}${unknown ? ` (or as few as ${freeOrdinary - unknown})` : ''} of ${usable} ordinary slots are free: any role can connect.`;
  else if (freeOrdinary > 0)
    whoCanConnect = `Up to ${freeOrdinary} of ${usable} ordinary slots may be free, but ${unknown} sessions we cannot see may take them.`;
  else {
    const tiers = [
      ...(s.reserved > 0 ? [`roles with pg_use_reserved_connections (${reservedLeft} of ${s.reserved} reserved_connections left)`] : []),
      `superusers (${superLeft} of ${s.superuserReserved} superuser_reserved_connections left)`,
    ];
    whoCanConnect = `The ${usable} ordinary slots are used up: only ${tiers.join(' and ')} can still connect.`;
  }
  return { usable, used, unknown, freeOrdinary, ourTier, whoCanConnect };
}
