import { Counter, Gauge, Histogram, Summary, type Registry } from 'prom-client';
import type { Pool } from 'pg';

/**
 * The demo backend's pool, exported in the layout of one of the pool libraries pagefirst reads
 * (src/enrichers/pool/layouts.ts, where each name is checked at the library's source), so the
 * demo shows each preset working: `--pool-metrics runbook|hikaricp|otel|go-sql|pgbouncer`.
 * The series are the library's names and labels, written by prom-client (its text format, not
 * the library's byte for byte); the pool behind them is always the demo's pg pool.
 */

export const POOL_METRICS = ['runbook', 'hikaricp', 'otel', 'go-sql', 'pgbouncer'] as const;
export type PoolMetricsLayout = (typeof POOL_METRICS)[number];

/** Buckets of the connection hold time, seconds: from a 5 ms query to the slow scenario's sleeps. */
export const HOLD_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The pool's name where a layout names pools (HikariCP's default first pool name; Go's db_name; PgBouncer's database and user). */
export const DEMO_POOL_NAME = { hikaricp: 'HikariPool-1', otel: 'demo-backend', goSql: 'app', pgbouncer: { database: 'app', user: 'app' } } as const;

/** What the application reports about its pool, whatever the layout. */
export interface PoolInstruments {
  /** A connection was held this many seconds (checkout to release). */
  hold(seconds: number): void;
  /** A checkout gave up waiting for a connection. */
  acquireTimeout(): void;
  /** A checkout finished after `seconds`; `waited`: it had to queue for a connection. */
  acquired(seconds: number, waited: boolean): void;
}

type PoolView = Pick<Pool, 'totalCount' | 'idleCount' | 'waitingCount'>;
const inUse = (p: PoolView) => Math.max(0, p.totalCount - p.idleCount);

/** A gauge read at scrape time. */
function gauge(registry: Registry, name: string, help: string, read: () => number, labels: Record<string, string> = {}): void {
  new Gauge({
    name,
    help,
    labelNames: Object.keys(labels),
    registers: [registry],
    collect() {
      this.set(labels, read());
    },
  });
}

/** Registers the pool's series in `layout` on `registry`. */
export function registerPoolMetrics(layout: PoolMetricsLayout, registry: Registry, pool: PoolView, poolMax: number): PoolInstruments {
  const r = [registry];
  switch (layout) {
    case 'runbook': {
      new Gauge({
        name: 'db_connection_pool_size',
        help: 'Connections of the application pool by state: total is the pool max, active in use (checked out or opening), idle unused',
        labelNames: ['state'],
        registers: r,
        collect() {
          this.set({ state: 'total' }, poolMax);
          this.set({ state: 'active' }, inUse(pool));
          this.set({ state: 'idle' }, pool.idleCount);
        },
      });
      gauge(registry, 'db_pool_waiting_clients', 'Requests waiting for a pool connection', () => pool.waitingCount);
      const hold = new Histogram({
        name: 'db_connection_hold_seconds',
        help: 'How long a connection was checked out, from checkout to release',
        buckets: HOLD_BUCKETS,
        registers: r,
      });
      const timeouts = new Counter({ name: 'db_pool_acquire_timeouts_total', help: 'Checkouts that gave up waiting for a connection', registers: r });
      return { hold: (s) => hold.observe(s), acquireTimeout: () => timeouts.inc(), acquired: () => {} };
    }
    case 'hikaricp': {
      // Meter names, descriptions and the `pool` tag: brettwooldridge/HikariCP
      // src/main/java/com/zaxxer/hikari/metrics/micrometer/MicrometerMetricsTracker.java. In Prometheus
      // (micrometer-metrics/micrometer io/micrometer/prometheusmetrics/PrometheusNamingConvention.java):
      // dots become `_`, timers get `_seconds` (a summary: `_sum`, `_count`), counters `_total`.
      const tags = { pool: DEMO_POOL_NAME.hikaricp };
      gauge(registry, 'hikaricp_connections_active', 'Active connections', () => inUse(pool), tags);
      gauge(registry, 'hikaricp_connections_idle', 'Idle connections', () => pool.idleCount, tags);
      gauge(registry, 'hikaricp_connections', 'Total connections', () => pool.totalCount, tags);
      gauge(registry, 'hikaricp_connections_pending', 'Pending threads', () => pool.waitingCount, tags);
      gauge(registry, 'hikaricp_connections_max', 'Max connections', () => poolMax, tags);
      gauge(registry, 'hikaricp_connections_min', 'Min connections', () => 0, tags);
      const timeouts = new Counter({ name: 'hikaricp_connections_timeout_total', help: 'Connection timeout total count', labelNames: ['pool'], registers: r });
      const usage = new Summary({
        name: 'hikaricp_connections_usage_seconds',
        help: 'Connection usage time',
        labelNames: ['pool'],
        percentiles: [],
        registers: r,
      });
      const acquire = new Summary({
        name: 'hikaricp_connections_acquire_seconds',
        help: 'Connection acquire time',
        labelNames: ['pool'],
        percentiles: [],
        registers: r,
      });
      return { hold: (s) => usage.observe(tags, s), acquireTimeout: () => timeouts.inc(tags), acquired: (s) => acquire.observe(tags, s) };
    }
    case 'otel': {
      // Names, instruments, units and descriptions: open-telemetry/semantic-conventions
      // docs/db/database-metrics.md ("Connection pools"; count/max/pending_requests are UpDownCounters
      // of `{connection}`/`{request}`, timeouts a Counter, use_time/wait_time Histograms in `s`).
      // As Prometheus stores them (opentelemetry-specification compatibility/prometheus_and_openmetrics.md):
      // `.` to `_`, a braced unit dropped, `s` to `_seconds`, a monotonic sum `_total`.
      const pool_ = { db_client_connection_pool_name: DEMO_POOL_NAME.otel };
      new Gauge({
        name: 'db_client_connection_count',
        help: 'The number of connections that are currently in state described by the state attribute',
        labelNames: ['db_client_connection_pool_name', 'db_client_connection_state'],
        registers: r,
        collect() {
          this.set({ ...pool_, db_client_connection_state: 'used' }, inUse(pool));
          this.set({ ...pool_, db_client_connection_state: 'idle' }, pool.idleCount);
        },
      });
      gauge(registry, 'db_client_connection_max', 'The maximum number of open connections allowed', () => poolMax, pool_);
      gauge(registry, 'db_client_connection_pending_requests', 'The number of current pending requests for an open connection', () => pool.waitingCount, pool_);
      const labelNames = ['db_client_connection_pool_name'];
      const timeouts = new Counter({
        name: 'db_client_connection_timeouts_total',
        help: 'The number of connection timeouts that have occurred trying to obtain a connection from the pool',
        labelNames,
        registers: r,
      });
      const use = new Histogram({
        name: 'db_client_connection_use_time_seconds',
        help: 'The time between borrowing a connection and returning it to the pool',
        labelNames,
        buckets: HOLD_BUCKETS,
        registers: r,
      });
      const wait = new Histogram({
        name: 'db_client_connection_wait_time_seconds',
        help: 'The time it took to obtain an open connection from the pool',
        labelNames,
        buckets: HOLD_BUCKETS,
        registers: r,
      });
      return { hold: (s) => use.observe(pool_, s), acquireTimeout: () => timeouts.inc(pool_), acquired: (s) => wait.observe(pool_, s) };
    }
    case 'go-sql': {
      // Names, help and the constant label `db_name`: prometheus/client_golang
      // prometheus/collectors/dbstats_collector.go (NewDBStatsCollector(db, dbName)). Go's database/sql
      // counts a wait when it starts and adds its duration when it ends; here both are counted when
      // it ends (one wait's difference, until it ends).
      const db = { db_name: DEMO_POOL_NAME.goSql };
      gauge(registry, 'go_sql_max_open_connections', 'Maximum number of open connections to the database.', () => poolMax, db);
      gauge(registry, 'go_sql_open_connections', 'The number of established connections both in use and idle.', () => pool.totalCount, db);
      gauge(registry, 'go_sql_in_use_connections', 'The number of connections currently in use.', () => inUse(pool), db);
      gauge(registry, 'go_sql_idle_connections', 'The number of idle connections.', () => pool.idleCount, db);
      const waits = new Counter({
        name: 'go_sql_wait_count_total',
        help: 'The total number of connections waited for.',
        labelNames: ['db_name'],
        registers: r,
      });
      const waited = new Counter({
        name: 'go_sql_wait_duration_seconds_total',
        help: 'The total time blocked waiting for a new connection.',
        labelNames: ['db_name'],
        registers: r,
      });
      return {
        hold: () => {},
        acquireTimeout: () => {},
        acquired: (s, queued) => {
          if (!queued) return;
          waits.inc(db);
          waited.inc(db, s);
        },
      };
    }
    case 'pgbouncer': {
      // As if the demo's pool were PgBouncer's: prometheus-community/pgbouncer_exporter collector.go
      // (`pools`: labels database, user; sv_active/sv_idle/sv_used/cl_active/cl_waiting with these help
      // texts; `databases`: pool_size labelled name, host, port, database, force_user, pool_mode, of
      // which the demo writes name, database, pool_mode; `pgbouncer_up`).
      const p = DEMO_POOL_NAME.pgbouncer;
      gauge(registry, 'pgbouncer_up', 'The pgbouncer scrape succeeded', () => 1);
      gauge(
        registry,
        'pgbouncer_pools_server_active_connections',
        'Server connections linked to a client connection, shown as connection',
        () => inUse(pool),
        p,
      );
      gauge(
        registry,
        'pgbouncer_pools_server_idle_connections',
        'Server connections idle and ready for a client query, shown as connection',
        () => pool.idleCount,
        p,
      );
      gauge(
        registry,
        'pgbouncer_pools_server_used_connections',
        'Server connections idle more than server_check_delay, needing server_check_query, shown as connection',
        () => 0,
        p,
      );
      gauge(
        registry,
        'pgbouncer_pools_client_active_connections',
        'Client connections linked to server connection and able to process queries, shown as connection',
        () => inUse(pool),
        p,
      );
      gauge(
        registry,
        'pgbouncer_pools_client_waiting_connections',
        'Client connections waiting on a server connection, shown as connection',
        () => pool.waitingCount,
        p,
      );
      gauge(registry, 'pgbouncer_databases_pool_size', 'Maximum number of server connections', () => poolMax, {
        name: p.database,
        database: p.database,
        pool_mode: 'session',
      });
      return { hold: () => {}, acquireTimeout: () => {}, acquired: () => {} };
    }
  }
}
