import { readFileSync } from 'node:fs';
import { isCollection, LineCounter, parseDocument, visit } from 'yaml';
import { requiredMessage } from '../core/zod';
import { configSchema, type Config } from './schema';

export interface ConfigIssue {
  path: string;
  message: string;
}

/** Every problem found in a configuration, each with its path; `message` lists them all. */
export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(`invalid configuration:\n${issues.map((i) => `  ${i.path || '(root)'}: ${i.message}`).join('\n')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

const VAR = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${VAR}` (and `${VAR:-default}`) in every string of `value`; `$$` is a literal `$`.
 * Missing variables become issues, and so does a value that contains itself (a recursive YAML
 * alias such as `a: &x [*x]`), which is cut there.
 */
export function substituteEnv(
  value: unknown,
  env: Record<string, string | undefined>,
  issues: ConfigIssue[],
  path: string[] = [],
  ancestors: Set<object> = new Set(),
): unknown {
  if (typeof value === 'string') {
    return value.replace(VAR, (whole, name: string | undefined, fallback: string | undefined) => {
      if (whole === '$$') return '$';
      const v = env[name!];
      if (v !== undefined) return v;
      if (fallback !== undefined) return fallback;
      issues.push({ path: path.join('.'), message: `environment variable ${name} is not set` });
      return '';
    });
  }
  if (value && typeof value === 'object') {
    if (ancestors.has(value)) {
      issues.push({ path: path.join('.'), message: 'refers to itself (a recursive YAML alias)' });
      return null;
    }
    ancestors.add(value);
    try {
      if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, issues, [...path, String(i)], ancestors));
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env, issues, [...path, k], ancestors)]));
    } finally {
      ancestors.delete(value);
    }
  }
  return value;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/**
 * Validates a raw configuration object (from YAML) with `${VAR}` substitution and the PORT/HOST
 * overrides, filling defaults. Throws ConfigError listing every issue at once.
 */
export function parseConfig(raw: unknown, env: Record<string, string | undefined>): Config {
  const issues: ConfigIssue[] = [];
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError([{ path: '', message: 'must be a mapping of top-level keys' }]);
  const substituted = substituteEnv(raw, env, issues) as Record<string, unknown>;
  const server = { ...((substituted.server as object | undefined) ?? {}) } as Record<string, unknown>;
  if (env.PORT !== undefined && env.PORT !== '') {
    const port = Number(env.PORT);
    if (!Number.isInteger(port) || port < 0 || port > 65535) issues.push({ path: 'PORT', message: `must be a port number, got "${env.PORT}"` });
    else server.port = port;
  }
  if (env.HOST) server.host = env.HOST;
  if (Object.keys(server).length > 0 || substituted.server !== undefined) substituted.server = server;
  const result = configSchema.safeParse(substituted, { error: requiredMessage });
  if (!result.success) {
    const unset = new Set(issues.map((i) => i.path));
    for (const i of result.error.issues) {
      const path = i.path.map(String).join('.');
      if (!unset.has(path)) issues.push({ path, message: i.message });
    }
  }
  if (issues.length > 0 || !result.success) throw new ConfigError(issues);
  return deepFreeze(result.data);
}

/** Reads and parses the YAML file at `path` (or built-in defaults when undefined). Throws ConfigError. */
export function loadConfig(path: string | undefined, env: Record<string, string | undefined>): Config {
  if (path === undefined) return parseConfig({}, env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError([{ path: '', message: `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }]);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: true, lineCounter: lines });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => ({ path: `${path}:${e.linePos?.[0]?.line ?? '?'}`, message: e.message.split('\n')[0]! })));
  }
  // A mapping or sequence used as a key ("? [a]: 1") has no place in a config; yaml would stringify it with a warning.
  const collectionKeys: ConfigIssue[] = [];
  visit(doc, {
    Pair(_, pair) {
      if (isCollection(pair.key)) {
        const line = pair.key.range ? lines.linePos(pair.key.range[0]).line : '?';
        collectionKeys.push({ path: `${path}:${line}`, message: 'a key must be a plain string, not a mapping or sequence' });
      }
    },
  });
  if (collectionKeys.length > 0) throw new ConfigError(collectionKeys);
  let raw: unknown;
  try {
    raw = doc.toJS();
  } catch (e) {
    // Unresolved or excessive aliases surface only here (yaml throws ReferenceError).
    throw new ConfigError([{ path, message: (e as Error).message.split('\n')[0]! }]);
  }
  return parseConfig(raw, env);
}

/** The config file named by `--config PATH` / `--config=PATH`, else CONFIG_FILE, else undefined. */
export function configPathFrom(argv: readonly string[], env: Record<string, string | undefined>): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--config') return argv[i + 1];
    if (argv[i]!.startsWith('--config=')) return argv[i]!.slice('--config='.length);
  }
  return env.CONFIG_FILE || undefined;
}
