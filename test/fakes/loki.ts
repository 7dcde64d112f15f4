/**
 * A fake Loki serving `GET /loki/api/v1/query_range` with the real response shape
 * (grafana/loki docs/sources/reference/loki-http-api.md) and the real refusals:
 * - `limit` above `max_entries_limit_per_query` (5000) → 400, plain-text body;
 * - a query without a stream selector → 400, plain-text parse error;
 * - `start`/`end` integers are nanoseconds (start inclusive, end exclusive);
 * - `direction` backward (default) returns the newest first, forward the oldest;
 * - `|~ "re"` / `|~ \`re\`` line filters, `(?i)` included, are applied;
 * - with `tenant` set, requests without that `X-Scope-OrgID` get 401 "no org id".
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeLokiEntry {
  labels: Record<string, string>;
  /** nanoseconds since the epoch, as Loki keeps them */
  ns: bigint;
  line: string;
}

export interface FakeLoki {
  url: string;
  entries: FakeLokiEntry[];
  requests: Array<{ params: URLSearchParams; orgId: string | undefined }>;
  tenant?: string;
  /** When set, every request waits this long first. */
  delayMs?: number;
  close(): Promise<void>;
}

export const MAX_ENTRIES_LIMIT = 5000;

function selectorMatches(selector: string, labels: Record<string, string>): boolean {
  for (const m of selector.matchAll(/(\w+)\s*(=~|!=|!~|=)\s*"((?:[^"\\]|\\.)*)"/g)) {
    const [, k, op, raw] = m;
    const v = JSON.parse(`"${raw}"`) as string;
    const have = labels[k!] ?? '';
    const re = new RegExp(`^(?:${v})$`);
    if (op === '=' && have !== v) return false;
    if (op === '!=' && have === v) return false;
    if (op === '=~' && !re.test(have)) return false;
    if (op === '!~' && re.test(have)) return false;
  }
  return true;
}

export async function startFakeLoki(): Promise<FakeLoki> {
  const fake: FakeLoki = { url: '', entries: [], requests: [], close: async () => {} };
  const text = (res: http.ServerResponse, status: number, body: string) => {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(body);
  };
  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => text(res, 500, `${(e as Error).message}\n`));
  });
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://loki');
    const orgId = req.headers['x-scope-orgid'] as string | undefined;
    fake.requests.push({ params: url.searchParams, orgId });
    if (fake.delayMs) {
      // like a slow Loki: it answers after the delay, or stops when the client hangs up
      await new Promise<void>((r) => {
        const t = setTimeout(r, fake.delayMs);
        res.once('close', () => (clearTimeout(t), r()));
      });
      if (res.destroyed) return;
    }
    if (url.pathname !== '/loki/api/v1/query_range') return text(res, 404, '404 page not found\n');
    if (fake.tenant && orgId !== fake.tenant) return text(res, 401, 'no org id\n');
    const query = url.searchParams.get('query') ?? '';
    const sel = /^\s*\{([^}]*)\}(.*)$/s.exec(query);
    if (!sel) return text(res, 400, `parse error at line 1, col 1: syntax error: unexpected IDENTIFIER\n`);
    const limit = Number(url.searchParams.get('limit') ?? '100');
    if (!Number.isInteger(limit) || limit <= 0) return text(res, 400, 'invalid limit\n');
    if (limit > MAX_ENTRIES_LIMIT)
      return text(res, 400, `max entries limit per query exceeded, limit > max_entries_limit_per_query (${limit} > ${MAX_ENTRIES_LIMIT})\n`);
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const parseNs = (v: string | null, dflt: bigint) => {
      if (v === null) return dflt;
      if (/^\d+$/.test(v)) return BigInt(v);
      if (/^\d+\.\d+$/.test(v)) return BigInt(Math.round(Number(v) * 1e9));
      const t = Date.parse(v);
      if (Number.isNaN(t)) throw new Error(`cannot parse "${v}" to a valid timestamp`);
      return BigInt(t) * 1_000_000n;
    };
    let start: bigint;
    let end: bigint;
    try {
      end = parseNs(url.searchParams.get('end'), nowNs);
      start = parseNs(url.searchParams.get('start'), end - 3_600_000_000_000n);
    } catch (e) {
      return text(res, 400, `${(e as Error).message}\n`);
    }
    const filters = [...sel[2]!.matchAll(/\|~\s*(?:`([^`]*)`|"((?:[^"\\]|\\.)*)")/g)].map((m) => {
      let re = m[1] ?? (JSON.parse(`"${m[2]}"`) as string);
      let flags = '';
      if (re.startsWith('(?i)')) {
        re = re.slice(4);
        flags = 'i';
      }
      // RE2's (?i:...) groups are JavaScript's regular expression modifiers (V8 12.5+, Node 24).
      return new RegExp(re, flags);
    });
    const backward = (url.searchParams.get('direction') ?? 'backward') === 'backward';
    const hits = fake.entries
      .filter((e) => e.ns >= start && e.ns < end && selectorMatches(sel[1]!, e.labels) && filters.every((f) => f.test(e.line)))
      .sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0));
    const picked = backward ? hits.reverse().slice(0, limit) : hits.slice(0, limit);
    const streams = new Map<string, { stream: Record<string, string>; values: Array<[string, string]> }>();
    for (const e of picked) {
      const key = JSON.stringify(e.labels);
      if (!streams.has(key)) streams.set(key, { stream: e.labels, values: [] });
      streams.get(key)!.values.push([e.ns.toString(), e.line]);
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(
      JSON.stringify({
        status: 'success',
        data: { resultType: 'streams', result: [...streams.values()], stats: { summary: { totalEntriesReturned: picked.length } } },
      }),
    );
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return fake;
}
