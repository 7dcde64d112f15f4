import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Pool } from 'pg';
import { registerPoolMetrics, type PoolInstruments, type PoolMetricsLayout } from './pool-metrics';

/** Buckets of the request duration, seconds (p99_latency_high reads them). */
export const REQUEST_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The demo backend's metrics, on their own registry (never prom-client's global one). */
export interface BackendMetrics {
  registry: Registry;
  requests: Counter<'endpoint' | 'method' | 'status'>;
  requestDuration: Histogram<'endpoint'>;
  /** The pool's hold times, acquire waits and timeouts, in the layout's names. */
  pool: PoolInstruments;
  connectionErrors: Counter<'code'>;
  scenario: Gauge<'scenario'>;
}

/**
 * Creates the metrics of the runbook's backend, reading the pool's counters at scrape time. The
 * pool's series are in `layout` (demo/backend/pool-metrics.ts); with `runbook` (the default):
 * - `db_connection_pool_size{state="total"}` the pool's max, `{state="active"}` connections in use
 *   (checked out, or being opened: both count against the max), `{state="idle"}` idle ones;
 * - `db_pool_waiting_clients` requests queued for a connection;
 * - `db_connection_hold_seconds` (histogram: `_sum / _count` is the mean hold, for Little's law);
 * - `db_pool_acquire_timeouts_total`.
 * And in every layout: `db_connection_errors_total{code}`, `http_requests_total{endpoint,method,status}`,
 * `http_request_duration_seconds{endpoint}`, `demo_scenario_active{scenario}` 1 for the scenario now induced.
 */
export function createBackendMetrics(
  pool: Pick<Pool, 'totalCount' | 'idleCount' | 'waitingCount'>,
  poolMax: number,
  layout: PoolMetricsLayout = 'runbook',
): BackendMetrics {
  const registry = new Registry();
  const poolInstruments = registerPoolMetrics(layout, registry, pool, poolMax);
  return {
    registry,
    requests: new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests to the API by endpoint (route pattern), method and status',
      labelNames: ['endpoint', 'method', 'status'],
      registers: [registry],
    }),
    requestDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'API request duration',
      labelNames: ['endpoint'],
      buckets: REQUEST_BUCKETS,
      registers: [registry],
    }),
    pool: poolInstruments,
    connectionErrors: new Counter({
      name: 'db_connection_errors_total',
      help: 'Database errors by SQLSTATE (or "network")',
      labelNames: ['code'],
      registers: [registry],
    }),
    scenario: new Gauge({
      name: 'demo_scenario_active',
      help: '1 for the scenario the demo backend induces now',
      labelNames: ['scenario'],
      registers: [registry],
    }),
  };
}
