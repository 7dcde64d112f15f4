import axios, { type AxiosInstance } from 'axios';
import { z } from 'zod';
import type { PrometheusSource } from './config';

/**
 * A small client for Prometheus' HTTP API (`/api/v1/query`, `/api/v1/query_range`, POSTing
 * form-encoded bodies so long queries fit, docs/reference/prometheus.md; `/api/v1/label/<name>/values`, which
 * Prometheus serves on GET only: `web/api/v1/api.go` registers `r.Get("/label/:name/values", ...)`).
 * Every call has a deadline of `sources.prometheus.timeoutMs` and honours the caller's AbortSignal.
 */

/** Label set of a series. */
export type PromLabels = Record<string, string>;

/** One sample of an instant vector: its labels, the evaluation time (unix ms) and the value. */
export interface PromSample {
  metric: PromLabels;
  time: number;
  value: number;
}

/** One series of a range query: its labels and points [unix ms, value], oldest first. */
export interface PromSeries {
  metric: PromLabels;
  points: Array<[number, number]>;
}

export interface InstantResult {
  /** A vector as returned; a scalar becomes one sample with no labels. */
  samples: PromSample[];
  warnings: string[];
}

export interface RangeResult {
  series: PromSeries[];
  warnings: string[];
}

export interface LabelValuesResult {
  /** The label's values over [start, end] among the series `match` selects, sorted (at most `limit` where Prometheus honours it). */
  values: string[];
  warnings: string[];
}

/** The client the enrichers use. Both calls throw PrometheusError, or an Error named 'TimeoutError' at the deadline. */
export interface PrometheusClient {
  /** Instant query at `time` (default: Prometheus' now). */
  query(expr: string, opts: { time?: Date; signal: AbortSignal }): Promise<InstantResult>;
  /** Range query over [start, end] every `stepSeconds`. */
  queryRange(expr: string, opts: { start: Date; end: Date; stepSeconds: number; signal: AbortSignal }): Promise<RangeResult>;
  /**
   * The values of label `name` (e.g. `__name__`: which metric names exist) among the series any
   * of the `match` selectors selects within [start, end]: a cheap lookup that reads the index, not
   * samples. `limit` caps the answer where Prometheus supports it (2.x before the parameter
   * existed ignores it, as it ignores any unknown parameter); the answer is cut to `limit` here too.
   */
  labelValues(name: string, opts: { match: string[]; start: Date; end: Date; limit?: number; signal: AbortSignal }): Promise<LabelValuesResult>;
}

/**
 * A failed Prometheus call. `errorType` is Prometheus' own (`bad_data` 400, `execution` 422,
 * `timeout`/`canceled` 503, `internal` 500, `not_found` 404) when its JSON error body came back;
 * otherwise ours: `server_error` / `client_error` (a non-2xx without Prometheus' body, e.g. from a
 * proxy), `bad_response` (2xx that is not Prometheus' JSON), `unreachable` (no HTTP answer).
 * `status` is the HTTP status where there was one.
 */
export class PrometheusError extends Error {
  constructor(
    message: string,
    readonly errorType: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'PrometheusError';
  }
}

/** Longest piece of an error text or body we copy into a message (keeps Diagnostic lines short). */
export const MAX_ERROR_TEXT = 300;
/** Largest response body we accept (a runaway query should not fill memory); 32 MiB. */
export const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

/**
 * Parses a Prometheus sample value string. `Number()` reads "NaN" but not Prometheus' "+Inf" /
 * "-Inf", so those are mapped explicitly. Anything unparseable is NaN.
 */
export function parseSampleValue(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return NaN;
  if (v === '+Inf' || v === 'Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  const n = Number(v);
  return v.trim() === '' ? NaN : n;
}

/** Unix seconds with millisecond precision, as Prometheus accepts for time parameters. */
function unixSeconds(d: Date): string {
  return (d.getTime() / 1000).toFixed(3);
}

// The answers of the HTTP API, read through zod
// (https://prometheus.io/docs/prometheus/latest/querying/api/#format-overview and #expression-query-result-formats):
// the envelope `{status, data, errorType, error, warnings}`, a query's `data` `{resultType, result}`, a
// vector sample `{metric, value: [time, "value"]}`, a matrix series `{metric, values: [[time, "value"], ...]}`.
const envelopeSchema = z.looseObject({
  status: z.unknown().optional(),
  data: z.unknown().optional(),
  errorType: z.unknown().optional(),
  error: z.unknown().optional(),
  warnings: z.unknown().optional(),
});
const resultDataSchema = z.looseObject({ resultType: z.unknown().optional(), result: z.unknown().optional() });
const labelSetSchema = z.record(z.string(), z.string());
const vectorSampleSchema = z.looseObject({ metric: labelSetSchema.nullish(), value: z.array(z.unknown()) });
const matrixSeriesSchema = z.looseObject({ metric: labelSetSchema.nullish(), values: z.array(z.array(z.unknown())) });
const labelValuesSchema = z.array(z.string());

/** Creates the client for `sources.prometheus`. Credentials in the URL are sent as basic auth and never appear in errors. */
export function createPrometheusClient(config: PrometheusSource, http: AxiosInstance = axios.create()): PrometheusClient {
  const parsed = new URL(config.url);
  const rawPassword = parsed.password;
  const username = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(rawPassword);
  parsed.username = '';
  parsed.password = '';
  const base = parsed.toString().replace(/\/+$/, '');
  const auth = username || password ? { username, password } : undefined;
  const secrets = [password, rawPassword].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  const clean = (text: string): string => {
    let out = text;
    for (const s of secrets) out = out.split(s).join('[REDACTED]');
    out = out.replace(/\s+/g, ' ').trim();
    return out.length > MAX_ERROR_TEXT ? `${out.slice(0, MAX_ERROR_TEXT)}…` : out;
  };

  async function call(
    path: string,
    form: URLSearchParams,
    signal: AbortSignal,
    method: 'GET' | 'POST' = 'POST',
  ): Promise<{ data: unknown; warnings: string[] }> {
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), config.timeoutMs);
    const both = AbortSignal.any([signal, deadline.signal]);
    let status: number;
    let body: string;
    let contentType: string;
    try {
      const res = await http.request<string>({
        method,
        url: method === 'POST' ? `${base}${path}` : `${base}${path}?${form.toString()}`,
        ...(method === 'POST' ? { data: form.toString() } : {}),
        headers: method === 'POST' ? { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' } : { Accept: 'application/json' },
        auth,
        signal: both,
        // Our own deadline above covers the whole exchange; axios' timeout is only a socket-idle guard.
        timeout: config.timeoutMs,
        responseType: 'text',
        transformResponse: [(d: unknown) => d],
        validateStatus: () => true,
        maxRedirects: 0,
        maxContentLength: MAX_RESPONSE_BYTES,
      });
      status = res.status;
      body = typeof res.data === 'string' ? res.data : String(res.data ?? '');
      contentType = String(res.headers['content-type'] ?? '');
    } catch (e) {
      if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
      const code = (e as { code?: string }).code;
      if (deadline.signal.aborted || code === 'ECONNABORTED' || code === 'ETIMEDOUT') {
        const t = new Error(`prometheus did not answer within ${config.timeoutMs} ms`);
        t.name = 'TimeoutError';
        throw t;
      }
      if (/maxContentLength/.test((e as Error).message ?? '')) {
        throw new PrometheusError(`prometheus ${path}: response larger than ${MAX_RESPONSE_BYTES} bytes`, 'bad_response');
      }
      throw new PrometheusError(`prometheus unreachable: ${clean(code ?? (e as Error).message ?? 'unknown error')}`, 'unreachable');
    } finally {
      clearTimeout(timer);
    }

    let parsedBody: unknown;
    try {
      parsedBody = JSON.parse(body);
    } catch {
      parsedBody = undefined;
    }
    const envelope = envelopeSchema.safeParse(parsedBody);
    const json = envelope.success ? envelope.data : undefined;
    if (json?.status === 'error') {
      const type = typeof json.errorType === 'string' && json.errorType ? json.errorType : 'unknown';
      const msg = typeof json.error === 'string' ? json.error : 'no error text';
      throw new PrometheusError(`prometheus ${path}: ${type}: ${clean(msg)} (HTTP ${status})`, type, status);
    }
    if (status < 200 || status > 299) {
      const snippet = clean(body);
      const type = status >= 500 ? 'server_error' : 'client_error';
      throw new PrometheusError(`prometheus ${path} answered HTTP ${status}${snippet ? `: ${snippet}` : ''}`, type, status);
    }
    if (!json || json.status !== 'success' || !json.data || typeof json.data !== 'object') {
      const what = contentType ? `a ${clean(contentType.split(';')[0]!)} body` : 'a body';
      throw new PrometheusError(`prometheus ${path} answered ${what} that is not a Prometheus API response`, 'bad_response', status);
    }
    const warnings = Array.isArray(json.warnings) ? (json.warnings as unknown[]).map(String) : [];
    return { data: json.data, warnings };
  }

  const badShape = (path: string, what: string) => new PrometheusError(`prometheus ${path}: unexpected result shape (${what})`, 'bad_response', 200);
  /** `data` of a query answer: an object (call() checked), an array only where an answer is not a query's. */
  const resultData = (path: string, data: unknown) => {
    const parsed = resultDataSchema.safeParse(data);
    if (!parsed.success) throw badShape(path, 'not a query result');
    return parsed.data;
  };

  return {
    async query(expr, opts) {
      const form = new URLSearchParams({ query: expr });
      if (opts.time) form.set('time', unixSeconds(opts.time));
      const path = '/api/v1/query';
      const { data, warnings } = await call(path, form, opts.signal);
      const { resultType, result } = resultData(path, data);
      if (resultType === 'scalar') {
        const scalar = z.array(z.unknown()).safeParse(result);
        if (!scalar.success) throw badShape(path, 'scalar');
        return { samples: [{ metric: {}, time: Math.round(Number(scalar.data[0]) * 1000), value: parseSampleValue(scalar.data[1]) }], warnings };
      }
      if (resultType !== 'vector' || !Array.isArray(result)) throw badShape(path, String(resultType));
      const vector = z.array(vectorSampleSchema).safeParse(result);
      if (!vector.success) throw badShape(path, 'vector sample');
      const samples = vector.data.map((r): PromSample => ({
        metric: { ...(r.metric ?? {}) },
        time: Math.round(Number(r.value[0]) * 1000),
        value: parseSampleValue(r.value[1]),
      }));
      return { samples, warnings };
    },
    async queryRange(expr, opts) {
      if (!(opts.stepSeconds > 0)) throw new PrometheusError('prometheus query_range: step must be positive', 'bad_data');
      const form = new URLSearchParams({ query: expr, start: unixSeconds(opts.start), end: unixSeconds(opts.end), step: String(opts.stepSeconds) });
      const path = '/api/v1/query_range';
      const { data, warnings } = await call(path, form, opts.signal);
      const { resultType, result } = resultData(path, data);
      if (resultType !== 'matrix' || !Array.isArray(result)) throw badShape(path, String(resultType));
      const matrix = z.array(matrixSeriesSchema).safeParse(result);
      if (!matrix.success) throw badShape(path, 'matrix series');
      const series = matrix.data.map((r): PromSeries => ({
        metric: { ...(r.metric ?? {}) },
        points: r.values.map((p): [number, number] => [Math.round(Number(p[0]) * 1000), parseSampleValue(p[1])]),
      }));
      return { series, warnings };
    },
    async labelValues(name, opts) {
      const form = new URLSearchParams({ start: unixSeconds(opts.start), end: unixSeconds(opts.end) });
      for (const m of opts.match) form.append('match[]', m);
      if (opts.limit !== undefined) form.set('limit', String(opts.limit));
      const path = `/api/v1/label/${encodeURIComponent(name)}/values`;
      const { data, warnings } = await call(path, form, opts.signal, 'GET');
      const parsed = labelValuesSchema.safeParse(data);
      if (!parsed.success) throw badShape(path, 'label values');
      const values = [...parsed.data].sort();
      return { values: opts.limit !== undefined && opts.limit > 0 ? values.slice(0, opts.limit) : values, warnings };
    },
  };
}
