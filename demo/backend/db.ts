import { Pool, type PoolClient } from 'pg';
import type { Logger } from 'pino';
import type { BackendConfig } from './config';
import type { BackendMetrics } from './metrics';

/** pg-pool's message when a checkout waited longer than connectionTimeoutMillis. */
const ACQUIRE_TIMEOUT_RE = /timeout exceeded when trying to connect/i;
/** SQLSTATEs after which a connection is not worth keeping: class 08 (connection exception) and 57P01-57P03 (the server shuts down or cannot take connections). */
const isBrokenConnection = (code: string) => code === 'network' || code.startsWith('08') || ['57P01', '57P02', '57P03'].includes(code);

/** A database error's SQLSTATE, or "network" for errors without one. */
export function errorCode(e: unknown): string {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : 'network';
}

/** The error's message and code, for a log line (never the connection string). */
export function errorFields(e: unknown): { message: string; code: string } {
  return { message: e instanceof Error ? e.message : String(e), code: errorCode(e) };
}

/** The application's pool, instrumented: hold times, acquire timeouts and connection errors are measured and logged. */
export interface Database {
  pool: Pool;
  /** Checks out a client, runs `fn`, releases it (destroying it after a connection-level error); the hold time is observed. Throws what `fn` or the checkout throws. */
  withClient<T>(fn: (client: PoolClient) => Promise<T>, context?: Record<string, unknown>): Promise<T>;
  /** Checks out a client the caller releases itself (the scenarios); errors are counted and logged. */
  checkout(context?: Record<string, unknown>): Promise<PoolClient>;
  /** Records a failed database call: counter and log line. */
  recordError(e: unknown, context?: Record<string, unknown>): void;
  /** Whether `e` was already recorded (so a request's error handler does not log it twice). */
  recorded(e: unknown): boolean;
  /** Closes every connection. */
  close(): Promise<void>;
}

/** Creates the pool (nothing connects until the first checkout). */
export function createDatabase(config: BackendConfig, deps: { logger: Logger; metrics: () => BackendMetrics | undefined }): Database {
  const pool = new Pool({
    connectionString: config.databaseUrl,
    max: config.poolMax,
    connectionTimeoutMillis: config.acquireTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: config.applicationName,
    keepAlive: true,
  });
  const logger = deps.logger;
  const guarded = new WeakSet<PoolClient>();
  const seen = new WeakSet<object>();

  const recordError = (e: unknown, context: Record<string, unknown> = {}) => {
    if (typeof e === 'object' && e !== null) {
      if (seen.has(e)) return;
      seen.add(e);
    }
    const m = deps.metrics();
    const err = errorFields(e);
    if (ACQUIRE_TIMEOUT_RE.test(err.message)) m?.pool.acquireTimeout();
    m?.connectionErrors.inc({ code: err.code });
    logger.error({ ...context, error: err }, 'database error');
  };
  // An idle client whose server connection dies emits here; without a listener the process would exit.
  pool.on('error', (e) => recordError(e, { where: 'idle client' }));

  const checkout = async (context: Record<string, unknown> = {}) => {
    let client: PoolClient;
    // It queues where no connection is idle and the pool is at its max: pg-pool 3.x connect() opens a
    // new client unless `this._isFull() || this._idle.length` (brianc/node-postgres packages/pg-pool/index.js).
    const queued = pool.idleCount === 0 && pool.totalCount >= config.poolMax;
    const asked = performance.now();
    try {
      client = await pool.connect();
    } catch (e) {
      deps.metrics()?.pool.acquired((performance.now() - asked) / 1000, queued);
      recordError(e, { ...context, where: 'checkout' });
      throw e;
    }
    deps.metrics()?.pool.acquired((performance.now() - asked) / 1000, queued);
    if (!guarded.has(client)) {
      guarded.add(client);
      // A checked-out client whose backend is terminated (pg_terminate_backend, a restart) emits here.
      client.on('error', (e) => recordError(e, { where: 'checked-out client' }));
    }
    return client;
  };

  return {
    pool,
    checkout,
    recordError,
    recorded: (e) => typeof e === 'object' && e !== null && seen.has(e),
    async withClient(fn, context = {}) {
      const client = await checkout(context);
      const started = performance.now();
      let failure: unknown;
      try {
        return await fn(client);
      } catch (e) {
        failure = e;
        recordError(e, context);
        throw e;
      } finally {
        deps.metrics()?.pool.hold((performance.now() - started) / 1000);
        const broken = failure !== undefined && isBrokenConnection(errorCode(failure));
        client.release(broken ? (failure as Error) : undefined);
      }
    },
    async close() {
      await pool.end();
    },
  };
}

/** The demo's table and rows; idempotent. */
export const SCHEMA_SQL = [
  `CREATE TABLE IF NOT EXISTS orders (
     id serial PRIMARY KEY,
     customer_id integer NOT NULL,
     status text NOT NULL DEFAULT 'new',
     total numeric(10, 2) NOT NULL,
     created_at timestamptz NOT NULL DEFAULT now())`,
  'CREATE INDEX IF NOT EXISTS orders_customer_idx ON orders (customer_id)',
  `INSERT INTO orders (customer_id, status, total)
     SELECT 1 + (g % 1000), (ARRAY['new', 'paid', 'shipped'])[1 + g % 3], round((random() * 500)::numeric, 2)
     FROM generate_series(1, 5000) AS g
     WHERE NOT EXISTS (SELECT 1 FROM orders)`,
];

/** Creates the schema; pg_stat_statements too where the server preloads it (failure there is fine). Throws on connection errors. */
export async function ensureSchema(db: Database, logger: Logger): Promise<void> {
  await db.withClient(
    async (c) => {
      for (const sql of SCHEMA_SQL) await c.query(sql);
      try {
        await c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
      } catch (e) {
        logger.info({ error: errorFields(e) }, 'pg_stat_statements not available');
      }
    },
    { where: 'schema' },
  );
}
