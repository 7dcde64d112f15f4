import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { createLogger, createRedactor, type Redactor } from '../../src/logger';

/** A pino logger whose JSON lines are kept in `lines` (after redaction), for assertions. */
export function capturingLogger(
  secrets: string[] = [],
  level = 'debug',
): { logger: Logger; lines: string[]; redact: Redactor; records: () => Array<Record<string, unknown>> } {
  const lines: string[] = [];
  const redact = createRedactor(secrets);
  const dest = { write: (s: string) => lines.push(s) };
  const logger = createLogger(level, redact, dest);
  return {
    logger,
    lines,
    redact,
    records: () =>
      lines.flatMap((l) =>
        l
          .split('\n')
          .filter(Boolean)
          .map((x) => JSON.parse(x) as Record<string, unknown>),
      ),
  };
}

/** A writable that keeps what was written, for the console notifier. */
export function textSink(): { out: Writable; text: () => string } {
  const chunks: string[] = [];
  const out = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return { out, text: () => chunks.join('') };
}
