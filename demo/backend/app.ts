import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { SCENARIOS, type BackendConfig, type ScenarioName } from './config';
import { createDatabase, ensureSchema, errorFields, type Database } from './db';
import { createBackendMetrics, type BackendMetrics } from './metrics';
import { ScenarioController } from './scenarios';

/** Orders of one customer; the pg_sleep in FROM runs once and stands for the query's real cost. */
export const ORDERS_BY_CUSTOMER = 'SELECT o.id, o.status, o.total FROM orders o, pg_sleep($2::float8) WHERE o.customer_id = $1 ORDER BY o.id DESC LIMIT 20';
export const ORDER_BY_ID = 'SELECT o.id, o.customer_id, o.status, o.total, o.created_at FROM orders o, pg_sleep($2::float8) WHERE o.id = $1';
export const CUSTOMER_SUMMARY =
  'SELECT count(*)::int AS orders, coalesce(sum(total), 0)::float8 AS spent FROM orders, pg_sleep($2::float8) WHERE customer_id = $1';
export const INSERT_ORDER = 'INSERT INTO orders (customer_id, total) VALUES ($1, $2) RETURNING id';
export const STATUS_REPORT =
  'SELECT status, count(*)::int AS orders, sum(total)::float8 AS total FROM orders, pg_sleep($1::float8) GROUP BY status ORDER BY status';

/** Most requests per second the background generator makes (it is a baseline, not a load test). */
const BACKGROUND_TIMEOUT_MS = 5_000;
/** Server timeouts: a request waits at most this for the pool plus its query. */
const REQUEST_TIMEOUT_MS = 60_000;

/** The assembled demo backend. */
export interface Backend {
  app: FastifyInstance;
  db: Database;
  metrics: BackendMetrics;
  scenarios: ScenarioController;
  /** Resolves once the schema exists (retries every schemaRetryMs while the database is unreachable). */
  ready(): Promise<void>;
  /** Listens on config.host:config.port, starts the background traffic and the scenario from the config. Returns the base URL. */
  listen(): Promise<string>;
  /** Stops the scenario and the background traffic, closes the server and the pool. */
  close(): Promise<void>;
}

/**
 * Builds the demo backend: a Fastify API over a real pg pool with the runbook's metrics, and
 * the scenario switches (`POST /scenario/<leak|slow|lock|traffic|reset>`, `GET /scenario`).
 * Nothing connects or listens until `listen()`.
 */
export function createBackend(config: BackendConfig, deps: { logger: Logger; rawLog?: (text: string) => void }): Backend {
  const logger = deps.logger;
  let metrics: BackendMetrics | undefined;
  const db = createDatabase(config, { logger, metrics: () => metrics });
  metrics = createBackendMetrics(db.pool, config.poolMax, config.poolMetrics);
  const m = metrics;
  let baseUrl = '';
  const shutdown = new AbortController();

  let schemaReady: Promise<void> | undefined;
  const ready = () =>
    (schemaReady ??= (async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          await ensureSchema(db, logger);
          logger.info({ attempt }, 'schema ready');
          return;
        } catch (e) {
          if (shutdown.signal.aborted) throw e;
          logger.warn({ attempt, error: errorFields(e) }, 'database not ready; retrying');
          await new Promise((r) => setTimeout(r, config.schemaRetryMs));
        }
      }
    })());

  const scenarios = new ScenarioController({ db, config, logger, metrics: m, selfUrl: () => baseUrl, ready, ...(deps.rawLog ? { rawLog: deps.rawLog } : {}) });
  const app = Fastify({ logger: false, requestTimeout: REQUEST_TIMEOUT_MS, connectionTimeout: REQUEST_TIMEOUT_MS, forceCloseConnections: true });
  const cost = config.queryCostMs / 1000;

  app.addHook('onResponse', async (req, reply) => {
    const endpoint = req.routeOptions.url;
    if (!endpoint?.startsWith('/api/')) return;
    m.requests.inc({ endpoint, method: req.method, status: String(reply.statusCode) });
    m.requestDuration.observe({ endpoint }, reply.elapsedTime / 1000);
  });
  app.setErrorHandler(async (err, req, reply) => {
    // Database failures were counted and logged by withClient; the client gets no internals.
    const status = (err as { statusCode?: number }).statusCode;
    if (status && status < 500) return reply.code(status).send({ error: 'bad_request', message: (err as Error).message });
    if (!db.recorded(err)) logger.error({ error: errorFields(err), url: req.url }, 'request failed');
    return reply.code(503).send({ error: 'database_error' });
  });

  const int = (v: unknown, fallback: number) => {
    const n = Number(v);
    return Number.isInteger(n) && n > 0 ? n : fallback;
  };

  app.get('/healthz', () => ({ status: 'ok' }));
  // The pool's numbers in one layout-free answer, for the demo's own wait on an exhausted pool.
  app.get('/pool', () => ({
    max: config.poolMax,
    open: db.pool.totalCount,
    idle: db.pool.idleCount,
    waiting: db.pool.waitingCount,
    metrics: config.poolMetrics,
  }));
  app.get('/metrics', async (_req, reply) => reply.type(m.registry.contentType).send(await m.registry.metrics()));
  app.get('/api/orders', async (req) => {
    const customer = int((req.query as Record<string, unknown>).customer, 1);
    const r = await db.withClient((c) => c.query(ORDERS_BY_CUSTOMER, [customer, cost]), { endpoint: '/api/orders' });
    return { customer, orders: r.rows };
  });
  app.get('/api/orders/:id', async (req, reply) => {
    const id = int((req.params as Record<string, unknown>).id, 0);
    const r = await db.withClient((c) => c.query(ORDER_BY_ID, [id, cost]), { endpoint: '/api/orders/:id' });
    return r.rows[0] ?? reply.code(404).send({ error: 'not_found' });
  });
  app.get('/api/customers/:id/summary', async (req) => {
    const id = int((req.params as Record<string, unknown>).id, 1);
    const r = await db.withClient((c) => c.query(CUSTOMER_SUMMARY, [id, cost]), { endpoint: '/api/customers/:id/summary' });
    return { customer: id, ...r.rows[0] };
  });
  app.post('/api/orders', async (req, reply) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const total = Number(body.total);
    if (!Number.isFinite(total) || total < 0 || total > 1e6)
      return reply.code(400).send({ error: 'bad_request', message: 'total must be a number from 0 to 1000000' });
    const r = await db.withClient((c) => c.query<{ id: number }>(INSERT_ORDER, [int(body.customer, 1), total]), { endpoint: '/api/orders' });
    const [row] = r.rows;
    if (!row) throw new Error('INSERT ... RETURNING id gave no row');
    return reply.code(201).send({ id: row.id });
  });
  app.get('/api/report', async () => {
    const r = await db.withClient((c) => c.query(STATUS_REPORT, [cost]), { endpoint: '/api/report' });
    return { statuses: r.rows };
  });

  app.get('/scenario', () => ({ ...scenarios.state(), known: SCENARIOS }));
  app.post('/scenario/:name', async (req, reply) => {
    const name = (req.params as { name: string }).name;
    if (name === 'reset') return scenarios.reset();
    if (!(SCENARIOS as readonly string[]).includes(name)) return reply.code(404).send({ error: 'unknown_scenario', known: [...SCENARIOS, 'reset'] });
    try {
      return await Promise.race([
        scenarios.start(name as ScenarioName),
        new Promise((_, reject) => setTimeout(() => reject(new Error('the database is not ready')), config.acquireTimeoutMs).unref()),
      ]);
    } catch (e) {
      return reply.code(503).send({ error: 'scenario_not_started', message: (e as Error).message });
    }
  });

  let background: Promise<void> | undefined;
  const startBackground = () => {
    if (config.backgroundRps <= 0) return;
    const interval = 1000 / config.backgroundRps;
    background = (async () => {
      let i = 0;
      while (!shutdown.signal.aborted) {
        i++;
        const path = i % 4 === 0 ? `/api/customers/${1 + (i % 1000)}/summary` : `/api/orders?customer=${1 + (i % 1000)}`;
        fetch(`${baseUrl}${path}`, { signal: AbortSignal.any([shutdown.signal, AbortSignal.timeout(BACKGROUND_TIMEOUT_MS)]) }).then(
          (r) => r.arrayBuffer(),
          () => undefined,
        );
        await new Promise<void>((r) => setTimeout(r, interval));
      }
    })();
  };

  return {
    app,
    db,
    metrics: m,
    scenarios,
    ready,
    async listen() {
      const address = await app.listen({ host: config.host, port: config.port });
      const port = (app.server.address() as { port: number }).port;
      const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host.includes(':') ? `[${config.host}]` : config.host;
      baseUrl = `http://${host}:${port}`;
      logger.info({ address, poolMax: config.poolMax, applicationName: config.applicationName }, 'demo backend listening');
      ready().catch(() => undefined);
      startBackground();
      if (config.scenario) {
        const name = config.scenario;
        ready()
          .then(() => scenarios.start(name))
          .catch((e) => logger.error({ scenario: name, error: errorFields(e) }, 'could not start the scenario'));
      }
      return baseUrl;
    },
    async close() {
      shutdown.abort();
      await scenarios.reset().catch(() => undefined);
      await background;
      await app.close();
      await db.close();
    },
  };
}
