import axios, { type AxiosInstance } from 'axios';
import type { AlertmanagerSource } from './config';

/** An alert as Alertmanager's API v2 returns it (`GET /api/v2/alerts`). */
export interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  updatedAt?: string;
  fingerprint: string;
  generatorURL?: string;
  receivers?: Array<{ name: string }>;
  status: { state: 'unprocessed' | 'active' | 'suppressed'; silencedBy: string[]; inhibitedBy: string[]; mutedBy?: string[] };
}

/** A silence as `GET /api/v2/silences` returns it. */
export interface AmSilence {
  id: string;
  status: { state: 'active' | 'pending' | 'expired' };
  matchers: Array<{ name: string; value: string; isRegex: boolean; isEqual?: boolean }>;
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
}

/** A failed Alertmanager call; `status` is the HTTP status where there was one. */
export class AlertmanagerError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'AlertmanagerError';
  }
}

/**
 * A label name the classic matcher parser accepts unquoted (prometheus/alertmanager
 * `pkg/labels/parse.go`: `[a-zA-Z_:][a-zA-Z0-9_:]*`).
 */
export const AM_CLASSIC_LABEL_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/**
 * One Alertmanager filter matcher (`name="value"`). The value: Alertmanager's classic matcher parser
 * (pkg/labels/parse.go) unescapes only `\\`, `\"` and `\n` and keeps any other `\x` as two
 * characters, so only those three are escaped here (JSON's `\t` or `\u0001` would not match); the
 * UTF-8 parser of 0.27+ (matcher/parse/parse.go) reads a quoted value with Go's `strconv.Unquote`,
 * which reads those three escapes the same way.
 * The name: a classic name stays bare (every version parses it); any other UTF-8 name
 * (`service.name`, Alertmanager 0.27+) is double-quoted, which the 0.27+ parser accepts for a name
 * (`parseMatcher`: the label name is `tokenQuoted` or `tokenUnquoted`, unquoted with `strconv.Unquote`)
 * and which Alertmanager's own `Matcher.String()` (pkg/labels/matcher.go) prints for names with
 * reserved characters. Older Alertmanagers reject a quoted name (they cannot hold such labels anyway).
 */
export function amMatcher(name: string, value: string, op: '=' | '!=' | '=~' | '!~' = '='): string {
  const quotedName = AM_CLASSIC_LABEL_NAME_RE.test(name) ? name : amQuote(name);
  return `${quotedName}${op}${amQuote(value)}`;
}

/** `s` double-quoted with `\\`, `\"` and `\n` escaped (see amMatcher). */
function amQuote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** A small client for Alertmanager's API v2, with a timeout and an AbortSignal on every call. */
export interface AlertmanagerClient {
  /** Alerts matching every filter matcher (ANDed). */
  alerts(filters: string[], opts: { signal: AbortSignal; silenced?: boolean; inhibited?: boolean; active?: boolean }): Promise<AmAlert[]>;
  /** The alert with this fingerprint, or undefined when Alertmanager does not know it. */
  alertByFingerprint(fingerprint: string, signal: AbortSignal): Promise<AmAlert | undefined>;
  silences(filters: string[], signal: AbortSignal): Promise<AmSilence[]>;
}

/**
 * Creates the client for `sources.alertmanager`. Calls throw AlertmanagerError, the caller's abort
 * reason, or an Error named 'TimeoutError' when the whole exchange takes longer than `timeoutMs`.
 * Credentials in the URL are sent as basic auth and never appear in errors.
 */
export function createAlertmanagerClient(config: AlertmanagerSource, http: AxiosInstance = axios.create()): AlertmanagerClient {
  const parsed = new URL(config.url);
  const rawPassword = parsed.password;
  const auth = parsed.username || parsed.password ? { username: decodeURIComponent(parsed.username), password: decodeURIComponent(rawPassword) } : undefined;
  parsed.username = '';
  parsed.password = '';
  const base = parsed.toString().replace(/\/+$/, '');
  const secrets = [rawPassword, auth?.password ?? ''].filter((x) => x.length > 0);
  const clean = (text: string) => secrets.reduce((t, x) => t.split(x).join('[REDACTED]'), text);
  async function get<T>(path: string, params: URLSearchParams, signal: AbortSignal): Promise<T> {
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new AlertmanagerError('aborted');
    // Our own deadline covers the whole exchange (axios' timeout is only a socket-idle guard).
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), config.timeoutMs);
    try {
      const res = await http.get<T>(`${base}${path}`, {
        params,
        auth,
        timeout: config.timeoutMs,
        signal: AbortSignal.any([signal, deadline.signal]),
        responseType: 'json',
        validateStatus: () => true,
        maxRedirects: 0,
      });
      if (res.status !== 200) throw new AlertmanagerError(`alertmanager ${path} answered HTTP ${res.status}`, res.status);
      if (!Array.isArray(res.data)) throw new AlertmanagerError(`alertmanager ${path} answered something that is not a list`);
      return res.data;
    } catch (e) {
      if (e instanceof AlertmanagerError) throw e;
      const err = e as { code?: string; message?: string };
      if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new AlertmanagerError('aborted');
      if (deadline.signal.aborted || err.code === 'ECONNABORTED' || err.code === 'ETIMEDOUT') {
        const t = new Error(`alertmanager did not answer within ${config.timeoutMs} ms`);
        t.name = 'TimeoutError';
        throw t;
      }
      throw new AlertmanagerError(`alertmanager unreachable: ${clean(err.code ?? err.message ?? 'unknown error')}`);
    } finally {
      clearTimeout(timer);
    }
  }
  const client: AlertmanagerClient = {
    async alerts(filters, opts) {
      const p = new URLSearchParams();
      for (const f of filters) p.append('filter', f);
      if (opts.silenced !== undefined) p.set('silenced', String(opts.silenced));
      if (opts.inhibited !== undefined) p.set('inhibited', String(opts.inhibited));
      if (opts.active !== undefined) p.set('active', String(opts.active));
      return get<AmAlert[]>('/api/v2/alerts', p, opts.signal);
    },
    async alertByFingerprint(fingerprint, signal) {
      const all = await client.alerts([], { signal });
      return all.find((a) => a.fingerprint === fingerprint.toLowerCase());
    },
    async silences(filters, signal) {
      const p = new URLSearchParams();
      for (const f of filters) p.append('filter', f);
      return get<AmSilence[]>('/api/v2/silences', p, signal);
    },
  };
  return client;
}
