import { LABEL_NAME_RE, METRIC_NAME_RE, matcherText, promString, type LabelMatcher } from '../../sources/promql';
import { MATCHERS_PLACEHOLDER, type PoolMapping } from './mapping';

/**
 * The pool metrics of the libraries people run, as Prometheus stores them: each a named mapping
 * (src/enrichers/pool/mapping.ts) with the names that identify it (for discovery) and the labels
 * that name one pool. Every name was read in the library's own source; the source is cited next
 * to each layout.
 */

/** The presets of `enrichers.pool.preset` besides `auto` (discover). */
export const PRESETS = ['runbook', 'hikaricp', 'otel', 'go-sql', 'pgbouncer'] as const;
export type PresetName = (typeof PRESETS)[number];

/** One way a library's pool metrics look in Prometheus. A preset has one or more (versions, exporters). */
export interface PoolLayout {
  /** Unique id, e.g. `hikaricp-micrometer`. */
  id: string;
  /** The preset it belongs to; `mapping` for a hand-written one. */
  preset: PresetName | 'mapping';
  /** For people: what exports it. */
  title: string;
  /** Where the names were checked. */
  source: string;
  /**
   * Metric names whose presence in Prometheus identifies the layout; the first is the one it
   * cannot do without (its in-use or waiting series).
   */
  names: string[];
  /** Labels naming one pool within an instance (HikariCP's `pool`, Go's `db_name`, ...). */
  poolLabels: string[];
  mapping: PoolMapping;
}

/**
 * Range of `rate()` over counters in the presets: at least 4 samples at scrape intervals up to
 * 1 min, the usual advice for rate() (a convention, not a documented Prometheus limit).
 */
export const RATE_WINDOW = '5m';

const M = MATCHERS_PLACEHOLDER;
const rate = (sel: string) => `rate(${sel}[${RATE_WINDOW}])`;
/** Mean of a summary or histogram over RATE_WINDOW: rate of its `_sum` over rate of its `_count` (NaN, so no value, where nothing was observed). */
const meanOf = (base: string, sel = `{${M}}`) => `${rate(`${base}_sum${sel}`)} / ${rate(`${base}_count${sel}`)}`;

/**
 * HikariCP through Micrometer (Spring Boot's default): brettwooldridge/HikariCP
 * `src/main/java/com/zaxxer/hikari/metrics/micrometer/MicrometerMetricsTracker.java` names the meters
 * `hikaricp.connections.active` / `.idle` / `.pending` ("Pending threads") / `.max` / `.timeout`
 * (counter) / `.usage` (timer), tag `pool` = the pool name. Micrometer's Prometheus naming
 * (micrometer-metrics/micrometer `PrometheusNamingConvention.java`) turns dots into underscores,
 * gives timers `_seconds` (summary: `_seconds_count`, `_seconds_sum`, and a `_seconds_max` gauge) and
 * counters `_total`. Field sample: a Spring Boot app's scrape (test/fixtures/field/04-hikaricp-micrometer.txt).
 */
export const HIKARICP_MICROMETER: PoolLayout = {
  id: 'hikaricp-micrometer',
  preset: 'hikaricp',
  title: 'HikariCP via Micrometer',
  source: 'brettwooldridge/HikariCP metrics/micrometer/MicrometerMetricsTracker.java; micrometer PrometheusNamingConvention.java',
  names: [
    'hikaricp_connections_active',
    'hikaricp_connections_pending',
    'hikaricp_connections_max',
    'hikaricp_connections_idle',
    'hikaricp_connections_timeout_total',
    'hikaricp_connections_usage_seconds_count',
  ],
  poolLabels: ['pool'],
  mapping: {
    inUse: `hikaricp_connections_active{${M}}`,
    idle: `hikaricp_connections_idle{${M}}`,
    limit: `hikaricp_connections_max{${M}}`,
    waiting: `hikaricp_connections_pending{${M}}`,
    timeouts: rate(`hikaricp_connections_timeout_total{${M}}`),
    holdSeconds: meanOf('hikaricp_connections_usage_seconds'),
  },
};

/**
 * HikariCP's own Prometheus tracker (`PrometheusMetricsTrackerFactory`, simpleclient): brettwooldridge/HikariCP
 * `metrics/prometheus/HikariCPCollector.java` (gauges `hikaricp_active_connections`,
 * `hikaricp_idle_connections`, `hikaricp_pending_threads`, `hikaricp_max_connections`, label `pool`) and
 * `PrometheusMetricsTracker.java` (counter `hikaricp_connection_timeout_total`, summary
 * `hikaricp_connection_usage_millis`, milliseconds).
 */
export const HIKARICP_PROMETHEUS: PoolLayout = {
  id: 'hikaricp-prometheus',
  preset: 'hikaricp',
  title: "HikariCP's own Prometheus tracker",
  source: 'brettwooldridge/HikariCP metrics/prometheus/HikariCPCollector.java, PrometheusMetricsTracker.java',
  names: [
    'hikaricp_active_connections',
    'hikaricp_pending_threads',
    'hikaricp_max_connections',
    'hikaricp_idle_connections',
    'hikaricp_connection_timeout_total',
    'hikaricp_connection_usage_millis_count',
  ],
  poolLabels: ['pool'],
  mapping: {
    inUse: `hikaricp_active_connections{${M}}`,
    idle: `hikaricp_idle_connections{${M}}`,
    limit: `hikaricp_max_connections{${M}}`,
    waiting: `hikaricp_pending_threads{${M}}`,
    timeouts: rate(`hikaricp_connection_timeout_total{${M}}`),
    holdSeconds: `(${meanOf('hikaricp_connection_usage_millis')}) / 1000`,
  },
};

/**
 * OpenTelemetry database client metrics, current semantic conventions
 * (open-telemetry/semantic-conventions `docs/db/database-metrics.md`, "Connection pools"):
 * `db.client.connection.count` (UpDownCounter, `{connection}`, attribute `db.client.connection.state`
 * = `idle` | `used`), `.max`, `.pending_requests` (`{request}`), `.timeouts` (Counter), `.use_time`
 * (Histogram, `s`), all with `db.client.connection.pool.name`. Semantic conventions 1.26 named the
 * attributes `db.client.connections.state` / `db.client.connections.pool.name` (the metric names
 * already new), so both attribute spellings are read.
 *
 * As Prometheus stores them (open-telemetry/opentelemetry-specification
 * `specification/compatibility/prometheus_and_openmetrics.md`): `.` becomes `_`, a unit in braces
 * is dropped (so the gauges get no suffix), `s` becomes `_seconds`, a monotonic sum gets `_total`;
 * an UpDownCounter is a gauge. Prometheus' OTLP receiver does the same by default
 * (`translation_strategy: UnderscoreEscapingWithSuffixes`); with `UnderscoreEscapingWithoutSuffixes`
 * the counter and histogram lack their suffixes, so those are read either way.
 */
export const OTEL_SEMCONV: PoolLayout = {
  id: 'otel',
  preset: 'otel',
  title: 'OpenTelemetry db.client.connection.* (semantic conventions 1.26+)',
  source: 'open-telemetry/semantic-conventions docs/db/database-metrics.md; opentelemetry-specification compatibility/prometheus_and_openmetrics.md',
  names: [
    'db_client_connection_count',
    'db_client_connection_pending_requests',
    'db_client_connection_max',
    'db_client_connection_timeouts_total',
    'db_client_connection_timeouts',
    'db_client_connection_use_time_seconds_count',
    'db_client_connection_use_time_count',
  ],
  poolLabels: ['db_client_connection_pool_name', 'db_client_connections_pool_name'],
  mapping: {
    inUse: `db_client_connection_count{db_client_connection_state="used",${M}} or db_client_connection_count{db_client_connections_state="used",${M}}`,
    idle: `db_client_connection_count{db_client_connection_state="idle",${M}} or db_client_connection_count{db_client_connections_state="idle",${M}}`,
    limit: `db_client_connection_max{${M}}`,
    waiting: `db_client_connection_pending_requests{${M}}`,
    timeouts: `${rate(`db_client_connection_timeouts_total{${M}}`)} or ${rate(`db_client_connection_timeouts{${M}}`)}`,
    holdSeconds: `(${meanOf('db_client_connection_use_time_seconds')}) or (${meanOf('db_client_connection_use_time')})`,
  },
};

/**
 * OpenTelemetry's older conventions (semantic conventions up to 1.25, still what many Java agent
 * versions export): `db.client.connections.usage` with attribute `state` = `idle` | `used`,
 * `db.client.connections.max`, `.pending_requests`, `.timeouts` (Counter), `.use_time` (Histogram,
 * `ms`), attribute `pool.name` (open-telemetry/semantic-conventions tag v1.24.0,
 * `docs/database/database-metrics.md`). In Prometheus: `pool_name`, `state`, `_milliseconds`.
 */
export const OTEL_LEGACY: PoolLayout = {
  id: 'otel-legacy',
  preset: 'otel',
  title: 'OpenTelemetry db.client.connections.* (semantic conventions up to 1.25)',
  source: 'open-telemetry/semantic-conventions v1.24.0 docs/database/database-metrics.md',
  names: [
    'db_client_connections_usage',
    'db_client_connections_pending_requests',
    'db_client_connections_max',
    'db_client_connections_timeouts_total',
    'db_client_connections_timeouts',
    'db_client_connections_use_time_milliseconds_count',
    'db_client_connections_use_time_count',
  ],
  poolLabels: ['pool_name'],
  mapping: {
    inUse: `db_client_connections_usage{state="used",${M}}`,
    idle: `db_client_connections_usage{state="idle",${M}}`,
    limit: `db_client_connections_max{${M}}`,
    waiting: `db_client_connections_pending_requests{${M}}`,
    timeouts: `${rate(`db_client_connections_timeouts_total{${M}}`)} or ${rate(`db_client_connections_timeouts{${M}}`)}`,
    holdSeconds: `((${meanOf('db_client_connections_use_time_milliseconds')}) or (${meanOf('db_client_connections_use_time')})) / 1000`,
  },
};

const q = promString;
/**
 * The current OpenTelemetry conventions kept as UTF-8 names by a Prometheus 3 OTLP receiver
 * (`translation_strategy: NoUTF8EscapingWithSuffixes` keeps the dots and adds `_total` / unit
 * suffixes; `NoTranslation` keeps the names as they are: prometheus/prometheus
 * `docs/configuration/configuration.md`, `otlp`). Names and label names are quoted, so these
 * queries need Prometheus 3; the layout is only chosen where discovery finds its names.
 */
export const OTEL_UTF8: PoolLayout = {
  id: 'otel-utf8',
  preset: 'otel',
  title: 'OpenTelemetry db.client.connection.* with UTF-8 names (Prometheus 3)',
  source: 'open-telemetry/semantic-conventions docs/db/database-metrics.md; prometheus docs/configuration/configuration.md (otlp.translation_strategy)',
  names: [
    'db.client.connection.count',
    'db.client.connection.pending_requests',
    'db.client.connection.max',
    'db.client.connection.timeouts_total',
    'db.client.connection.timeouts',
    'db.client.connection.use_time_seconds_count',
    'db.client.connection.use_time_count',
  ],
  poolLabels: ['db.client.connection.pool.name'],
  mapping: {
    inUse: `{${q('db.client.connection.count')},${q('db.client.connection.state')}="used",${M}}`,
    idle: `{${q('db.client.connection.count')},${q('db.client.connection.state')}="idle",${M}}`,
    limit: `{${q('db.client.connection.max')},${M}}`,
    waiting: `{${q('db.client.connection.pending_requests')},${M}}`,
    timeouts: `${rate(`{${q('db.client.connection.timeouts_total')},${M}}`)} or ${rate(`{${q('db.client.connection.timeouts')},${M}}`)}`,
    holdSeconds:
      `(${rate(`{${q('db.client.connection.use_time_seconds_sum')},${M}}`)} / ${rate(`{${q('db.client.connection.use_time_seconds_count')},${M}}`)})` +
      ` or (${rate(`{${q('db.client.connection.use_time_sum')},${M}}`)} / ${rate(`{${q('db.client.connection.use_time_count')},${M}}`)})`,
  },
};

/**
 * Go's `database/sql` through client_golang's `collectors.NewDBStatsCollector(db, dbName)`
 * (prometheus/client_golang `prometheus/collectors/dbstats_collector.go`): gauges
 * `go_sql_in_use_connections`, `go_sql_idle_connections`, `go_sql_max_open_connections`, counter
 * `go_sql_wait_duration_seconds_total`, label `db_name`. `max_open` is `sql.DBStats.MaxOpenConnections`,
 * 0 when `SetMaxOpenConns` was never called or given n <= 0: "there is no limit on the number of
 * open connections. The default is 0 (unlimited)" (Go `database/sql/sql.go`).
 *
 * Waiting: Go exports no count of goroutines waiting now. database/sql adds each wait's duration to
 * `WaitDuration` when the wait ends (`db.waitDuration.Add(...)` in `(*DB).conn`), so the rate of
 * the wait-duration counter is the mean number of goroutines waiting over RATE_WINDOW (seconds
 * waited per second), a little late because a wait counts when it ends. No acquire-timeout counter
 * (a wait ends with the caller's context) and no hold time exist.
 */
export const GO_SQL: PoolLayout = {
  id: 'go-sql',
  preset: 'go-sql',
  title: 'Go database/sql (client_golang DBStatsCollector)',
  source: 'prometheus/client_golang prometheus/collectors/dbstats_collector.go; Go database/sql sql.go',
  names: ['go_sql_in_use_connections', 'go_sql_wait_duration_seconds_total', 'go_sql_max_open_connections', 'go_sql_idle_connections'],
  poolLabels: ['db_name'],
  mapping: {
    inUse: `go_sql_in_use_connections{${M}}`,
    idle: `go_sql_idle_connections{${M}}`,
    limit: `go_sql_max_open_connections{${M}}`,
    waiting: rate(`go_sql_wait_duration_seconds_total{${M}}`),
    timeouts: null,
    holdSeconds: null,
  },
};

/**
 * PgBouncer as the pool, through prometheus-community/pgbouncer_exporter (`collector.go`): from
 * `SHOW POOLS` (one pool per database and user: labels `database`, `user`)
 * `pgbouncer_pools_server_active_connections` (sv_active, "Server connections linked to a client"),
 * `_server_idle_connections` and `_server_used_connections` (idle ones), `_client_waiting_connections`
 * (cl_waiting); from `SHOW DATABASES` `pgbouncer_databases_pool_size` ("Maximum number of server
 * connections", per user/database pair: pgbouncer `doc/config.md`, `default_pool_size`), labelled
 * `name` (the database entry clients connect to, what SHOW POOLS calls `database`: pgbouncer
 * `doc/usage.md`) and `database` (the server's database name). So the limit joins `name` to the pool's
 * `database`. The admin console's virtual database `pgbouncer` is not an application pool and is
 * left out. Not seen here: a per-user `pool_size` override (SHOW USERS, not exported) and the
 * reserve pool (`pgbouncer_databases_reserve_pool`), which PgBouncer adds after `reserve_pool_timeout`.
 */
export const PGBOUNCER: PoolLayout = {
  id: 'pgbouncer',
  preset: 'pgbouncer',
  title: 'PgBouncer (pgbouncer_exporter)',
  source: 'prometheus-community/pgbouncer_exporter collector.go; pgbouncer doc/usage.md, doc/config.md',
  names: [
    'pgbouncer_pools_server_active_connections',
    'pgbouncer_pools_client_waiting_connections',
    'pgbouncer_databases_pool_size',
    'pgbouncer_pools_server_idle_connections',
  ],
  poolLabels: ['database', 'user'],
  mapping: {
    inUse: `pgbouncer_pools_server_active_connections{database!="pgbouncer",${M}}`,
    idle: `pgbouncer_pools_server_idle_connections{database!="pgbouncer",${M}} + pgbouncer_pools_server_used_connections{database!="pgbouncer",${M}}`,
    limit:
      `pgbouncer_pools_server_active_connections{database!="pgbouncer",${M}} * 0 + on (database, job, instance) group_left () ` +
      `max by (database, job, instance) (label_replace(pgbouncer_databases_pool_size{${M}}, "database", "$1", "name", "(.+)"))`,
    waiting: `pgbouncer_pools_client_waiting_connections{database!="pgbouncer",${M}}`,
    timeouts: null,
    holdSeconds: null,
  },
};

/** Settings the runbook layout is built from (the enricher's `metric`, `stateLabel`, `states`). */
export interface RunbookNaming {
  metric: string;
  stateLabel: string;
  states: { active: string; idle: string; total: string };
}

/** A selector for `metric` with `fixed` matchers and `$matchers` last (quoting a UTF-8 metric name). */
function selectorWithPlaceholder(metric: string, fixed: readonly LabelMatcher[]): string {
  const parts = [...fixed.map(matcherText), M];
  return METRIC_NAME_RE.test(metric) ? `${metric}{${parts.join(',')}}` : `{${[promString(metric), ...parts].join(',')}}`;
}

/**
 * The runbook's own naming (and the demo backend's): one gauge with a state label,
 * `db_connection_pool_size{state="active"|"idle"|"total"}`, where `total` is the pool's max. The
 * names come from the settings (`metric`, `stateLabel`, `states`).
 */
export function runbookLayout(n: RunbookNaming): PoolLayout {
  const st = (v: string) => selectorWithPlaceholder(n.metric, [{ name: n.stateLabel, op: '=', value: v }]);
  return {
    id: 'runbook',
    preset: 'runbook',
    title: `the runbook's ${n.metric}{${LABEL_NAME_RE.test(n.stateLabel) ? n.stateLabel : promString(n.stateLabel)}=...}`,
    source: "the runbook's naming (enrichers.pool.metric, stateLabel, states)",
    names: [n.metric],
    poolLabels: [],
    mapping: { inUse: st(n.states.active), idle: st(n.states.idle), limit: st(n.states.total), waiting: null, timeouts: null, holdSeconds: null },
  };
}

/**
 * The built-in layouts in the order discovery prefers them where several exist: the runbook's
 * naming (what the alert itself is usually written on), then the application's own pool libraries,
 * then PgBouncer (a pooler in front of the database: the application's pool is what the page is about).
 */
export function allLayouts(runbook: RunbookNaming): PoolLayout[] {
  return [runbookLayout(runbook), HIKARICP_MICROMETER, HIKARICP_PROMETHEUS, OTEL_SEMCONV, OTEL_LEGACY, OTEL_UTF8, GO_SQL, PGBOUNCER];
}

/** The layouts of one preset, or all of them for `auto`. */
export function layoutsOf(preset: PresetName | 'auto', runbook: RunbookNaming): PoolLayout[] {
  const all = allLayouts(runbook);
  return preset === 'auto' ? all : all.filter((l) => l.preset === preset);
}
