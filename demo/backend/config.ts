import { z } from 'zod';
import { POOL_METRICS } from './pool-metrics';

/** The scenarios the demo backend can induce on purpose; `reset` ends the current one. */
export const SCENARIOS = ['leak', 'slow', 'lock', 'traffic'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** The demo backend's configuration, from flags and environment (flags win). */
export const backendConfigSchema = z
  .strictObject({
    /** DATABASE_URL / --database-url */
    databaseUrl: z.string({ error: 'required: set DATABASE_URL or --database-url' }).regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'),
    /** HOST / --host: loopback unless told otherwise. */
    host: z.string().min(1).default('127.0.0.1'),
    /** PORT / --port; 0 picks a free port. */
    port: z.coerce.number().int().min(0).max(65535).default(8000),
    /** LOG_FILE / --log-file: pino JSON lines go here (appended); without it, to stdout. */
    logFile: z.string().min(1).optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** POOL_METRICS / --pool-metrics: the layout the pool's metrics are exported in (demo/backend/pool-metrics.ts). */
    poolMetrics: z.enum(POOL_METRICS).default('runbook'),
    /** POOL_MAX / --pool-max: the runbook's backend uses 10. */
    poolMax: z.coerce.number().int().min(2).max(1000).default(10),
    /** Waiting for a free connection (or a new one) longer than this fails the request (pg-pool's connectionTimeoutMillis). */
    acquireTimeoutMs: z.coerce.number().int().positive().default(5_000),
    /** application_name in pg_stat_activity. */
    applicationName: z.string().min(1).max(63).default('demo-backend'),
    /** QUERY_COST_MS / --query-cost-ms: the database time each API request costs (pg_sleep inside its query). */
    queryCostMs: z.coerce.number().int().min(0).max(10_000).default(50),
    /** SCENARIO / --scenario: induce this scenario at start. */
    scenario: z.enum(SCENARIOS).optional(),
    /** Connections a scenario takes; default poolMax - 1, which leaves 1 available (the alert fires below 2). */
    scenarioConnections: z.coerce.number().int().positive().optional(),
    /** Pause between two leaked connections, so active climbs over a few seconds. */
    leakIntervalMs: z.coerce.number().int().min(0).default(200),
    /**
     * LEAK_DETECTION_MS / --leak-detection-ms: like HikariCP's leakDetectionThreshold (0, the
     * default, is off): a connection the leak scenario has held this long gets HikariCP's leak
     * warning, with its checkout's stack trace, in the log (leak-warning.ts).
     */
    leakDetectionMs: z.coerce.number().int().min(0).default(0),
    /** How long each query of the slow scenario sleeps. */
    slowSeconds: z.coerce.number().positive().max(3_600).default(20),
    /** In-flight requests of the traffic scenario's load generator. */
    trafficConcurrency: z.coerce.number().int().positive().max(1_000).default(40),
    /** BACKGROUND_RPS / --background-rps: steady requests per second to its own API, so there is a baseline. */
    backgroundRps: z.coerce.number().min(0).max(1_000).default(0),
    /** Pause between attempts to create the schema while the database cannot be reached (requests get 503 meanwhile). */
    schemaRetryMs: z.coerce.number().int().positive().default(1_000),
  })
  .transform((c) => ({ ...c, scenarioConnections: Math.min(c.scenarioConnections ?? c.poolMax - 1, c.poolMax) }));
export type BackendConfig = z.output<typeof backendConfigSchema>;

const FLAGS: Record<string, keyof z.input<typeof backendConfigSchema>> = {
  '--database-url': 'databaseUrl',
  '--host': 'host',
  '--port': 'port',
  '--log-file': 'logFile',
  '--log-level': 'logLevel',
  '--pool-max': 'poolMax',
  '--pool-metrics': 'poolMetrics',
  '--acquire-timeout-ms': 'acquireTimeoutMs',
  '--application-name': 'applicationName',
  '--query-cost-ms': 'queryCostMs',
  '--scenario': 'scenario',
  '--scenario-connections': 'scenarioConnections',
  '--leak-interval-ms': 'leakIntervalMs',
  '--leak-detection-ms': 'leakDetectionMs',
  '--slow-seconds': 'slowSeconds',
  '--traffic-concurrency': 'trafficConcurrency',
  '--background-rps': 'backgroundRps',
};

const ENV: Record<string, keyof z.input<typeof backendConfigSchema>> = {
  DATABASE_URL: 'databaseUrl',
  HOST: 'host',
  PORT: 'port',
  LOG_FILE: 'logFile',
  LOG_LEVEL: 'logLevel',
  POOL_MAX: 'poolMax',
  POOL_METRICS: 'poolMetrics',
  QUERY_COST_MS: 'queryCostMs',
  SCENARIO: 'scenario',
  BACKGROUND_RPS: 'backgroundRps',
  LEAK_DETECTION_MS: 'leakDetectionMs',
};

/** The usage text for --help. */
export const USAGE = `demo backend: a small service with a real pg pool that can exhaust it on purpose

  node .demo-dist/demo/backend/main.js [flags]

flags (environment variable in brackets):
${Object.entries(FLAGS)
  .map(([f, k]) => `  ${f.padEnd(24)} ${Object.entries(ENV).find(([, v]) => v === k)?.[0] ? `[${Object.entries(ENV).find(([, v]) => v === k)![0]}]` : ''}`)
  .join('\n')}

scenarios (--scenario NAME at start, or POST /scenario/NAME; POST /scenario/reset ends it):
  leak     check out connections, BEGIN + SELECT, never release (idle in transaction);
           with --leak-detection-ms, HikariCP's leak warning for each in the log
  slow     queries that sleep in pg_sleep, holding their connections
  lock     one transaction holds a row lock, the others wait on it
  traffic  an internal load generator bursts requests at its own API
`;

/** Thrown for flags or environment that do not parse; `message` lists every problem. */
export class BackendConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendConfigError';
  }
}

/**
 * Reads the configuration from `argv` (`--flag value` or `--flag=value`) over `env`. Throws
 * BackendConfigError naming every bad or unknown flag and every invalid value.
 */
export function parseBackendConfig(argv: readonly string[], env: Record<string, string | undefined>): BackendConfig {
  const raw: Record<string, string> = {};
  const problems: string[] = [];
  for (const [name, key] of Object.entries(ENV)) if (env[name] !== undefined && env[name] !== '') raw[key] = env[name]!;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const key = FLAGS[flag];
    if (!key) {
      problems.push(`unknown flag ${flag}`);
      continue;
    }
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) problems.push(`${flag} needs a value`);
    else raw[key] = value;
  }
  const r = backendConfigSchema.safeParse(raw);
  if (!r.success) for (const i of r.error.issues) problems.push(`${i.path.join('.') || '(config)'}: ${i.message}`);
  if (problems.length > 0 || !r.success) throw new BackendConfigError(`invalid demo backend configuration:\n  ${problems.join('\n  ')}`);
  return r.data;
}

/** The database URL without its password, for logs. */
export function safeDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparseable)';
  }
}
