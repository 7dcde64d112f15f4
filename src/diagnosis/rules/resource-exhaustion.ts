import type { PgSession } from '../../core/evidence';
import type { Rule } from '../rule';
import { factsOf, poolWaitsPhrase } from '../facts';
import { clamp01, fmtMs, listItems, shortQuery, capConfidence } from '../format';
import { MAX_CONFIDENCE } from '../thresholds';

/** Wait event types that mean the server itself is short of a resource (disk, shared memory, buffers). */
export const RESOURCE_WAIT_TYPES = ['IO', 'LWLock', 'BufferPin'] as const;

/** At least this many active sessions must wait on server resources: one can be a passing read. */
export const RESOURCE_MIN_SESSIONS = 2;

/** Weights of `resource_exhaustion`. */
export const RESOURCE_WEIGHTS = {
  base: 0.35,
  /** Added in proportion to the share of long-running active sessions that wait on resources. */
  share: 0.3,
  saturated: 0.1,
  /** Clients time out waiting for a pool connection: the exhaustion reaches the application. */
  waiting: 0.05,
} as const;

/**
 * `resource_exhaustion`: long-running active sessions waiting on the server's resources (IO,
 * LWLock, BufferPin) rather than on locks or the client. Undefined with fewer than
 * RESOURCE_MIN_SESSIONS such sessions.
 */
export const resourceExhaustion: Rule = (enrichments) => {
  const facts = factsOf(enrichments);
  const active: PgSession[] = [];
  const waiting: Array<{ db: string; s: PgSession }> = [];
  for (const db of facts.reachable) {
    for (const s of db.longRunning) {
      if (s.state !== 'active') continue;
      active.push(s);
      if ((RESOURCE_WAIT_TYPES as readonly (string | null)[]).includes(s.waitEventType)) waiting.push({ db: db.name, s });
    }
  }
  if (waiting.length < RESOURCE_MIN_SESSIONS) return undefined;
  const share = waiting.length / Math.max(1, active.length);
  let c = RESOURCE_WEIGHTS.base + RESOURCE_WEIGHTS.share * clamp01(share);

  const kinds = new Map<string, number>();
  for (const w of waiting) kinds.set(`${w.s.waitEventType}/${w.s.waitEvent ?? '?'}`, (kinds.get(`${w.s.waitEventType}/${w.s.waitEvent ?? '?'}`) ?? 0) + 1);
  const evidence = [
    `${waiting.length} of ${active.length} long-running active queries wait on the server's resources, not on locks: ${listItems([...kinds].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ×${n}`))}`,
    `waiting: ${listItems(waiting.map((w) => `pid ${w.s.pid} on "${w.db}" (${fmtMs(w.s.queryAgeMs)})`))}; e.g. ${shortQuery(waiting[0]!.s.query)}`,
  ];
  const against: string[] = [];
  if (facts.poolSaturated === true) c += RESOURCE_WEIGHTS.saturated;
  if (facts.pool && facts.poolWaits === true) {
    c += RESOURCE_WEIGHTS.waiting;
    evidence.push(poolWaitsPhrase(facts.pool)!);
  }
  if (facts.waiterPids.size > 0) against.push(`${facts.waiterPids.size} sessions wait on locks as well: see lock contention`);

  const actions = [
    'Check the database host: CPU, disk IO and memory (iostat -x 1, vmstat 1, or node_exporter), and whether a checkpoint, vacuum or backup runs now (pg_stat_progress_vacuum, pg_stat_bgwriter).',
  ];
  if (kinds.has('IO/DataFileRead') || [...kinds.keys()].some((k) => k.startsWith('IO/'))) {
    actions.push(
      `IO waits: these queries read from disk; look for large scans (EXPLAIN of "${shortQuery(waiting.find((w) => w.s.waitEventType === 'IO')?.s.query ?? waiting[0]!.s.query)}") and whether shared_buffers and the disk keep up.`,
    );
  }
  if ([...kinds.keys()].some((k) => k.startsWith('LWLock/'))) {
    actions.push(
      'LWLock waits: contention inside the server (buffer mapping, WAL writes, the lock manager); fewer concurrent active connections (a smaller pool or PgBouncer) often helps more than more of them.',
    );
  }
  return { id: 'resource_exhaustion', title: 'Database resource exhaustion', confidence: capConfidence(c, MAX_CONFIDENCE), evidence, actions, against };
};
