import type { Writable } from 'node:stream';
import type { Server as TlsServer } from 'node:tls';
import Fastify, { LogController, type FastifyHttpOptions, type FastifyInstance, type RawServerDefault } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import type { Logger } from 'pino';
import type { Config } from './config/schema';
import { diagnose } from './diagnosis';
import type { Redactor } from './logger';
import { createMetrics, type Metrics } from './metrics';
import { createNotifiers } from './notifiers';
import { compileRoutes } from './pipeline/compile';
import { Pipeline } from './pipeline/pipeline';
import { installBodyHandling } from './http/errors';
import { registerEndpoints } from './http/endpoints';
import { createTlsReloader, httpsServerOptions, loadTlsMaterial, logHandshakeFailures, type TlsReloader } from './http/tls';
import { registerSlackEntryPoints } from './slack/endpoints';
import { startSlack } from './slack/start';
import { createSourceClients, type SourceClients } from './sources';
import { openStore } from './store/open';
import { SqliteStore } from './store/sqlite';
import { Store } from './store/store';
import type { StateStore } from './store/types';

export interface AppDeps {
  logger: Logger;
  redact: Redactor;
  /** Where the console notifier writes (stdout). */
  out?: Pick<Writable, 'write'>;
  /** An open store (a SQLite `Store` is used through SqliteStore); by default the one `config.state` names is opened, and closed with the app. */
  store?: StateStore | Store;
  clients?: SourceClients;
  now?: () => number;
}

/** The assembled receiver: the Fastify app and the parts tests and the entry point need. */
export interface Service {
  app: FastifyInstance;
  pipeline: Pipeline;
  store: StateStore;
  metrics: Metrics;
  /** With `server.tls`: reloads its files into the listener (what SIGHUP calls). */
  tls?: TlsReloader;
}

const PURGE_INTERVAL_MS = 60 * 60_000;

/** How often Node checks the header and request deadlines: a quarter of the shorter one, 100 ms to 1 s. */
function connectionsCheckMs(server: Config['server']): number {
  return Math.max(100, Math.min(1_000, Math.floor(Math.min(server.headersTimeoutMs, server.requestTimeoutMs) / 4)));
}

/**
 * Builds the receiver from a parsed config: reads `server.tls`'s files first (rejects with
 * TlsFileError when one is unusable, before anything is opened), opens the store (rejects with StoreError when it is
 * unusable, StoreUnavailableError when its database cannot be reached), creates the source clients, routes, notifiers and pipeline, and registers the HTTP
 * routes. Nothing listens and no run starts until the caller says so (`listen`, `pipeline.resume()`).
 * `app.close()` drains runs in flight (up to `pipeline.shutdownGraceMs`) and closes every client.
 */
export async function buildApp(config: Config, deps: AppDeps): Promise<Service> {
  const tlsMaterial = config.server.tls ? await loadTlsMaterial(config.server.tls) : undefined;
  const store: StateStore = deps.store instanceof Store ? new SqliteStore(deps.store) : (deps.store ?? (await openStore(config.state)));
  const clients = deps.clients ?? createSourceClients(config.sources);
  const metrics = createMetrics();
  const { routes, fallback, notifierNames } = compileRoutes(config, { clients, history: store });
  // Slack's client and its configured channels (names looked up now: an unknown name stops the start, SlackChannelConfigError)
  const slack = config.slack?.token
    ? await startSlack(config.slack, { store, logger: deps.logger }).catch(async (e: unknown) => {
        if (!deps.store) await store.close();
        throw e;
      })
    : undefined;
  const notifiers = createNotifiers(notifierNames, { config, store, out: deps.out ?? process.stdout, logger: deps.logger, ...(slack ? { slack } : {}) });
  const pipeline = new Pipeline({
    config: config.pipeline,
    store,
    routes,
    fallback,
    notifiers,
    diagnose,
    metrics,
    logger: deps.logger,
    redact: deps.redact,
    now: deps.now,
  });

  // Node checks the headers and request deadlines only every connectionsCheckingInterval
  // (default 30 s): without a shorter one a slow-loris client holds a socket ~30 s past them.
  const httpOptions = { headersTimeout: config.server.headersTimeoutMs, connectionsCheckingInterval: connectionsCheckMs(config.server) };
  // https.Server hands routes the same IncomingMessage/ServerResponse as http.Server, but Fastify's
  // types give `https` a distinct instance type that every route module would then carry: hence the cast.
  const app: FastifyInstance = Fastify({
    loggerInstance: deps.logger,
    // Our own lines say what each request did ("notification admitted", 4xx reasons); no access log.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.server.bodyLimitBytes,
    requestTimeout: config.server.requestTimeoutMs,
    connectionTimeout: config.server.requestTimeoutMs,
    keepAliveTimeout: config.server.keepAliveTimeoutMs,
    http: httpOptions,
    // With `https` Fastify calls https.createServer(options.https) and ignores `http`
    // (fastify lib/server.js getServerInstance), so the HTTP deadlines go in here too.
    ...(config.server.tls && tlsMaterial ? { https: { ...httpsServerOptions(config.server.tls, tlsMaterial), ...httpOptions } } : {}),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    requestIdHeader: false,
  } as FastifyHttpOptions<RawServerDefault>);
  let tls: TlsReloader | undefined;
  if (config.server.tls && tlsMaterial) {
    const server = app.server as unknown as TlsServer;
    tls = createTlsReloader({ config: config.server.tls, server, logger: deps.logger, initial: tlsMaterial });
    logHandshakeFailures(server, deps.logger);
    for (const w of tlsMaterial.warnings) deps.logger.warn(w);
  }
  installBodyHandling(app);
  await app.register(rateLimit, { global: false });
  let closing = false;
  registerEndpoints(app, {
    pipeline,
    store,
    metrics,
    alertmanager: clients.alertmanager,
    token: config.server.auth.token,
    maxAlerts: config.server.maxAlerts,
    rateLimitPerMinute: config.server.rateLimitPerMinute,
    waitMs: config.pipeline.budgetMs + config.pipeline.notify.budgetMs + 5_000,
    isReady: () => (closing ? 'shutting down' : undefined),
  });
  await registerSlackEntryPoints(app, {
    config: config.slack,
    pipeline,
    store,
    ...(clients.alertmanager ? { alertmanager: clients.alertmanager } : {}),
    ...(slack ? { slack } : {}),
    logger: deps.logger,
    rateLimitPerMinute: config.server.rateLimitPerMinute,
    bodyLimitBytes: config.server.bodyLimitBytes,
  });

  const retentionMs = config.state.retentionDays * 86_400_000;
  const purge = async () => {
    try {
      const n = await store.purge(retentionMs);
      if (n.runs > 0 || n.keys > 0) deps.logger.info(n, 'expired old rows');
    } catch (e) {
      metrics.storeErrors.inc({ operation: 'purge' });
      deps.logger.error({ err: (e as Error).message }, 'purge failed');
    }
  };
  void purge();
  const purgeTimer = setInterval(() => void purge(), PURGE_INTERVAL_MS).unref();

  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onClose', async () => {
    clearInterval(purgeTimer);
    const r = await pipeline.drain(config.pipeline.shutdownGraceMs);
    deps.logger.info(r, 'pipeline drained');
    await clients.close();
    if (!deps.store) await store.close();
  });
  return { app, pipeline, store, metrics, ...(tls ? { tls } : {}) };
}
