import { buildApp } from './app';
import { ConfigError, configPathFrom, loadConfig } from './config';
import { createLogger, createRedactor, secretsOf } from './logger';
import { StoreError } from './store/store';
import { SlackChannelConfigError } from './slack/channels';
import { TlsFileError } from './http/tls';

/**
 * Entry point: load the config once, build the app, listen, resume unfinished runs, drain on
 * SIGTERM/SIGINT; with `server.tls`, reload its files on SIGHUP (without it, SIGHUP keeps Node's
 * default: the process ends).
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(configPathFrom(process.argv.slice(2), process.env), process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
  const redact = createRedactor(secretsOf(config));
  const logger = createLogger(config.log.level, redact);
  let service;
  try {
    service = await buildApp(config, { logger, redact });
  } catch (e) {
    if (e instanceof StoreError) {
      logger.fatal({ err: e.message }, 'cannot start: state store unusable');
      process.stderr.write(`${e.message}\n`);
      process.exit(1);
    }
    if (e instanceof TlsFileError) {
      // never plain HTTP instead: Alertmanager is configured for https:// and the files must be fixed
      logger.fatal({ err: e.message, key: e.key, path: e.path }, 'cannot start: a server.tls file is not usable');
      process.stderr.write(`${e.message}\n`);
      process.exit(1);
    }
    if (e instanceof SlackChannelConfigError) {
      logger.fatal({ err: e.message }, 'cannot start: a configured Slack channel is not usable');
      process.stderr.write(`${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
  let host = config.server.host ?? '0.0.0.0';
  if (!config.server.auth.token) {
    host = '127.0.0.1';
    logger.warn('no server.auth.token configured: listening on 127.0.0.1 only; set a token to accept Alertmanager from other hosts');
  }
  // handlers before listening: a SIGTERM right after start still drains
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, graceMs: config.pipeline.shutdownGraceMs }, 'shutting down');
    service.app.close().then(
      () => process.exit(0),
      (e) => {
        logger.error({ err: (e as Error).message }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  const tls = service.tls;
  if (tls) {
    process.on('SIGHUP', () => {
      if (stopping) return;
      logger.info({ signal: 'SIGHUP' }, 'reloading the server.tls files');
      void tls.reload();
    });
  }
  const address = await service.app.listen({ host, port: config.server.port });
  logger.info(
    {
      address,
      state: service.store.where,
      stateStore: service.store.kind,
      ...(tls ? { tls: tls.current(), mutualTls: config.server.tls?.clientCaFile !== undefined } : {}),
    },
    'listening',
  );
  if (!stopping) void service.pipeline.resume();
}

main().catch((e) => {
  process.stderr.write(`fatal: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
