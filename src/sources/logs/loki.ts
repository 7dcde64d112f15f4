import axios, { type AxiosInstance } from 'axios';
import { z } from 'zod';
import type { LogSource } from '../config';
import { capLine, LogSourceError, MAX_READ_BYTES, withTimeout, type LogLine, type LogReader } from './types';

// Loki's query_range answer, the parts read here
// (https://grafana.com/docs/loki/latest/reference/loki-http-api/#query-logs-within-a-range-of-time):
// `{status, data: {resultType: "streams", result: [{stream, values: [["<unix ns>", "<line>"], ...]}]}}`.
const queryRangeAnswerSchema = z.looseObject({
  status: z.unknown().optional(),
  data: z
    .looseObject({ resultType: z.unknown().optional(), result: z.array(z.looseObject({ values: z.array(z.unknown()).optional() })).optional() })
    .optional(),
});

/**
 * Log lines from Loki's `GET /loki/api/v1/query_range` (docs/reference/loki.md): the configured
 * stream selector plus the enricher's filter as `|~`, nanosecond `start`/`end` as integer
 * strings (BigInt, never Number), `direction=backward` (newest first), `limit` at most
 * LOKI_MAX_ENTRIES, `X-Scope-OrgID` when configured. Error bodies are plain text or JSON.
 */

type LokiSource = Extract<LogSource, { loki: unknown }>;

/** Loki's default `max_entries_limit_per_query`: larger limits are answered with 400. */
export const LOKI_MAX_ENTRIES = 5_000;
const NS_PER_MS = 1_000_000n;

/** The LogQL sent: `<query> |~ <(?i)pattern>` with the pattern in backticks (no escaping) or, if it holds one, a quoted string. */
export function lokiQuery(selector: string, filter: { pattern: string; caseInsensitive: boolean }): string {
  const re = `${filter.caseInsensitive ? '(?i)' : ''}${filter.pattern}`;
  const lit = re.includes('`') ? JSON.stringify(re) : `\`${re}\``;
  return `${selector} |~ ${lit}`;
}

/** A Loki nanosecond timestamp (decimal string) → ISO milliseconds, via BigInt; null when malformed. */
export function nsToIso(ns: string): string | null {
  if (!/^\d{1,20}$/.test(ns)) return null;
  const ms = Number(BigInt(ns) / NS_PER_MS);
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function errorText(body: unknown): string {
  const s = typeof body === 'string' ? body : Buffer.isBuffer(body) ? body.toString('utf8') : JSON.stringify(body ?? '');
  try {
    const o = JSON.parse(s) as { error?: unknown; message?: unknown };
    const m = o.error ?? o.message;
    if (typeof m === 'string') return m.slice(0, 300);
  } catch {
    // plain text, Loki's usual error body
  }
  return s.trim().split('\n')[0]!.slice(0, 300);
}

/** Creates the reader for a `loki:` log source. Errors name the HTTP status and Loki's message, never the URL. */
export function createLokiLogReader(source: LokiSource, http: AxiosInstance = axios.create()): LogReader {
  const base = source.loki.url.replace(/\/+$/, '');
  return {
    name: source.name,
    kind: 'loki',
    async read(opts) {
      const { signal, timedOut } = withTimeout(opts.signal, source.timeoutMs);
      const endNs = BigInt(opts.now.getTime()) * NS_PER_MS + 1n; // end is exclusive
      const startNs = BigInt(opts.now.getTime() - Math.round(source.loki.sinceMinutes * 60_000)) * NS_PER_MS;
      const query = lokiQuery(source.loki.query, opts.filter);
      const params = { query, start: startNs.toString(), end: endNs.toString(), limit: String(Math.min(source.tail, LOKI_MAX_ENTRIES)), direction: 'backward' };
      let res;
      try {
        res = await http.get(`${base}/loki/api/v1/query_range`, {
          params,
          headers: source.loki.orgId ? { 'X-Scope-OrgID': source.loki.orgId } : {},
          timeout: source.timeoutMs,
          signal,
          responseType: 'text',
          transformResponse: (r: unknown) => r,
          validateStatus: () => true,
          maxRedirects: 0,
          maxContentLength: MAX_READ_BYTES,
        });
      } catch (e) {
        if (timedOut() || (e as { code?: string }).code === 'ECONNABORTED') throw new LogSourceError(`loki did not answer within ${source.timeoutMs} ms`, true);
        if (opts.signal.aborted) throw opts.signal.reason;
        throw new LogSourceError(`loki unreachable: ${(e as { code?: string }).code ?? (e as Error).message}`);
      }
      if (res.status !== 200) throw new LogSourceError(`loki answered HTTP ${res.status}: ${errorText(res.data)}`);
      let json: unknown;
      try {
        json = JSON.parse(String(res.data));
      } catch {
        throw new LogSourceError('loki answered something that is not JSON');
      }
      const parsed = queryRangeAnswerSchema.safeParse(json);
      if (!parsed.success) throw new LogSourceError('loki answered JSON that is not a query_range answer');
      const body = parsed.data;
      if (body.status !== 'success' || !body.data) throw new LogSourceError(`loki answered status ${String(body.status)}`);
      if (body.data.resultType !== 'streams') throw new LogSourceError(`loki query gave a ${String(body.data.resultType)}, not log streams: use a log query`);
      const entries: Array<{ ns: bigint; line: LogLine }> = [];
      for (const stream of body.data.result ?? []) {
        for (const v of stream.values ?? []) {
          if (!Array.isArray(v) || typeof v[0] !== 'string' || typeof v[1] !== 'string') continue;
          if (!/^\d{1,20}$/.test(v[0])) continue;
          entries.push({ ns: BigInt(v[0]), line: { time: nsToIso(v[0]), text: capLine(v[1]) } });
        }
      }
      entries.sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0));
      const lines = entries.map((e) => e.line);
      return {
        lines,
        scanned: lines.length,
        bytesRead: Buffer.byteLength(String(res.data)),
        query: { source: 'loki', query, start: nsToIso(startNs.toString()) ?? undefined, end: opts.now.toISOString() },
      };
    },
  };
}
