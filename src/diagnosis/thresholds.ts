/**
 * Named thresholds shared by the diagnosis rules, each with where its number comes from.
 * A rule's own weights live in its file; these are the facts several rules agree on.
 */

/** The runbook's alert: `total - active < 2` available connections means the pool is exhausted. */
export const POOL_AVAILABLE_ALERT_THRESHOLD = 2;

/**
 * Requests waiting for a pool connection from which the pool counts as exhausted: a request waits
 * only when no connection is free (the pool enricher's WAITING_SATURATED_MIN, the same rule).
 */
export const POOL_WAITING_MIN = 1;

/** Utilisation at or above this counts as saturated where `available` is unknown (9 of 10). */
export const POOL_SATURATED_UTILIZATION = 0.9;

/** Request rate at or above this multiple of its baseline is a spike (the traffic enricher's default too). */
export const TRAFFIC_SPIKE_RATIO = 1.5;

/**
 * Below this multiple of its baseline, traffic is "flat": it has not grown enough to explain a
 * pool that filled up (a 20% rise fits in any sane pool's headroom).
 */
export const TRAFFIC_FLAT_MAX_RATIO = 1.2;

/**
 * An active query running at least this long holds its pool connection far beyond a web
 * request's normal milliseconds-long hold: it counts as long-running.
 */
export const SLOW_QUERY_MIN_MS = 1_000;

/**
 * A session idle in transaction for at least this long is not a request in flight (those sit
 * idle inside a transaction for milliseconds, a few hundred at worst): it is a transaction the
 * application forgot. Kept short so a leak is named within seconds of the page.
 */
export const LEAK_IDLE_IN_TX_MIN_MS = 2_000;

/** A lock wait at least this long is contention, not the normal brief queueing of row updates. */
export const LOCK_WAIT_MIN_MS = 1_000;

/**
 * The database counts as near its limit when client backends reach this share of the usable
 * connections (`max_connections` minus the reserved slots).
 */
export const DB_CONNECTIONS_NEAR_LIMIT = 0.9;

/**
 * Headroom on top of Little's law when sizing a pool: 30% for bursts above the mean rate, the
 * usual margin in pool-sizing guides.
 */
export const POOL_SIZING_HEADROOM = 1.3;

/** Matched log lines of one signal needed before logs alone count as evidence (one line can be noise). */
export const LOG_SIGNAL_MIN_LINES = 3;

/** Related alerts that corroborate a cause (the runbook's companions of db_pool_exhausted). */
export const RELATED_LATENCY_ALERT = 'p99_latency_high';
export const RELATED_ERROR_RATE_ALERT = 'error_rate_high';

/** No cause is certain from evidence alone: confidences stop here, leaving room for what we cannot see. */
export const MAX_CONFIDENCE = 0.95;
