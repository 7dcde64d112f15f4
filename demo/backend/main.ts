import pino from 'pino';
import { BackendConfigError, parseBackendConfig, safeDatabaseUrl, USAGE } from './config';
import { createBackend } from './app';

/**
 * Entry point of the demo backend: `node .demo-dist/demo/backend/main.js [--scenario leak] ...`
 * (flags or DATABASE_URL, PORT, HOST, LOG_FILE, ...; see --help). Logs pino JSON to LOG_FILE or
 * stdout; exits 1 on bad configuration; stops on SIGTERM/SIGINT, giving back every connection.
 */
async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
  let config;
  try {
    config = parseBackendConfig(argv, process.env);
  } catch (e) {
    if (e instanceof BackendConfigError) {
      process.stderr.write(`${e.message}\n\n${USAGE}`);
      process.exit(1);
    }
    throw e;
  }
  const dest = config.logFile ? pino.destination({ dest: config.logFile, mkdir: true, sync: true }) : pino.destination(1);
  const logger = pino({ level: config.logLevel, base: { service: config.applicationName } }, dest);
  logger.info({ database: safeDatabaseUrl(config.databaseUrl) }, 'starting');
  const backend = createBackend(config, { logger, rawLog: (text) => dest.write(text) });
  const url = await backend.listen();
  if (config.logFile) process.stdout.write(`demo backend on ${url} (logs: ${config.logFile})\n`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    backend.close().then(
      () => process.exit(0),
      (e) => {
        logger.error({ error: (e as Error).message }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((e) => {
  process.stderr.write(`fatal: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
