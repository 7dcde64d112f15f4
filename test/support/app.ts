import { buildApp, type Service } from '../../src/app';
import { parseConfig } from '../../src/config';
import { secretsOf } from '../../src/logger';
import { capturingLogger, textSink } from './capture';

export const TOKEN = 'test-token-0123456789abcdef';

/**
 * Builds the real app from a raw config (state in memory unless given), capturing logs and
 * console output. `opts.now` is the pipeline's clock (cool-downs, run times).
 */
export async function testApp(raw: Record<string, any> = {}, env: Record<string, string> = {}, opts: { now?: () => number } = {}) {
  const config = parseConfig({ state: { path: ':memory:' }, server: { auth: { token: TOKEN } }, ...raw }, env);
  const log = capturingLogger(secretsOf(config), 'info');
  const sink = textSink();
  const service: Service = await buildApp(config, { logger: log.logger, redact: log.redact, out: sink.out, ...(opts.now ? { now: opts.now } : {}) });
  return { ...service, config, log, console: sink };
}

export const auth = { authorization: `Bearer ${TOKEN}` };
