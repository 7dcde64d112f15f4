import pino, { type Logger, type DestinationStream } from 'pino';
import type { Config } from './config/schema';

/** Replaces every configured secret in a string with "[REDACTED]". */
export type Redactor = (text: string) => string;

/** The secrets in a configuration: tokens, the signing secret, passwords inside URLs. */
export function secretsOf(config: Config): string[] {
  const out: string[] = [];
  const add = (s: string | undefined) => {
    if (s && s.length >= 4) out.push(s);
  };
  add(config.server.auth.token);
  add(config.slack?.token);
  add(config.slack?.signingSecret);
  if (config.state.url) add(passwordOf(config.state.url));
  for (const pg of config.sources.postgres) add(passwordOf(pg.url));
  for (const u of [
    config.sources.prometheus?.url,
    config.sources.alertmanager?.url,
    ...config.sources.logs.map((l) => ('loki' in l ? l.loki.url : undefined)),
  ]) {
    if (u) add(passwordOf(u));
  }
  return [...new Set(out)].sort((a, b) => b.length - a.length);
}

function passwordOf(url: string): string | undefined {
  try {
    const p = new URL(url).password;
    return p ? decodeURIComponent(p) : undefined;
  } catch {
    return undefined;
  }
}

/** A redactor for `secrets`, also catching their URL-encoded and JSON-escaped forms. */
export function createRedactor(secrets: readonly string[]): Redactor {
  const forms = new Set<string>();
  for (const s of secrets) {
    forms.add(s);
    forms.add(encodeURIComponent(s));
    forms.add(JSON.stringify(s).slice(1, -1));
  }
  const list = [...forms].filter((f) => f.length > 0).sort((a, b) => b.length - a.length);
  if (list.length === 0) return (t) => t;
  const re = new RegExp(list.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  return (text) => text.replace(re, '[REDACTED]');
}

/** A copy of `value` with every string passed through `redact`. */
export function redactDeep<T>(value: T, redact: Redactor): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return (value as unknown[]).map((v) => redactDeep(v, redact)) as T;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v, redact)])) as T;
  return value;
}

/**
 * pino JSON logger whose every line passes through `redact` before it is written, and whose
 * authorization headers, cookies, tokens and passwords are censored by path as well.
 */
export function createLogger(level: string, redact: Redactor, destination: DestinationStream = process.stdout): Logger {
  const scrubbed: DestinationStream = { write: (line: string) => destination.write(redact(line)) };
  return pino(
    {
      level,
      base: { service: 'pagefirst' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'req.headers["x-slack-signature"]',
          '*.token',
          '*.password',
          '*.signingSecret',
          'token',
          'password',
        ],
        censor: '[REDACTED]',
      },
    },
    scrubbed,
  );
}
