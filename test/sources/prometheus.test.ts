import { createPrometheusClient, MAX_RESPONSE_BYTES, parseSampleValue, PrometheusError, type PrometheusClient } from '../../src/sources/prometheus';
import { closedPortUrl, startCannedServer, startHangingServer, type StubServer } from '../support/http-stubs';
import { startPrometheus, type PrometheusServer } from '../support/prometheus';
import { caught } from '../support/wait';

const signal = () => AbortSignal.timeout(10_000);

describe('Prometheus client against the real Prometheus', () => {
  let prom: PrometheusServer;
  let client: PrometheusClient;
  beforeAll(async () => {
    prom = await startPrometheus();
    client = createPrometheusClient({ url: prom.url, timeoutMs: 5_000 });
  });
  afterAll(async () => {
    await prom?.stop();
  });

  test('instant query: a vector with labels, time in ms, values as numbers', async () => {
    const at = new Date(Date.now() - 60_000);
    const r = await client.query('label_replace(vector(42.5), "pool", "main", "", "")', { time: at, signal: signal() });
    expect(r.samples).toEqual([{ metric: { pool: 'main' }, time: at.getTime(), value: 42.5 }]);
    expect(r.warnings).toEqual([]);
  });

  test('NaN, +Inf and -Inf arrive as strings and parse to the JS values', async () => {
    expect((await client.query('+Inf', { signal: signal() })).samples[0]!.value).toBe(Infinity);
    expect((await client.query('-Inf', { signal: signal() })).samples[0]!.value).toBe(-Infinity);
    expect((await client.query('NaN', { signal: signal() })).samples[0]!.value).toBeNaN();
    const v = await client.query('vector(1) / 0 or label_replace(vector(0) / 0, "x", "nan", "", "")', { signal: signal() });
    expect(v.samples.map((s) => s.value).sort()).toEqual([Infinity, NaN]);
    expect(parseSampleValue('-Inf')).toBe(-Infinity);
    expect(parseSampleValue('1e3')).toBe(1000);
    expect(parseSampleValue('')).toBeNaN();
  });

  test('range query: points every step, oldest first, in ms', async () => {
    const end = new Date(Math.floor(Date.now() / 1000) * 1000);
    const start = new Date(end.getTime() - 60_000);
    const r = await client.queryRange('vector(3)', { start, end, stepSeconds: 15, signal: signal() });
    expect(r.series).toHaveLength(1);
    expect(r.series[0]!.points).toEqual([0, 1, 2, 3, 4].map((i) => [start.getTime() + i * 15_000, 3]));
  });

  test('a long query goes as a form body (POST) and works', async () => {
    const expr = `sum(${Array.from({ length: 400 }, (_, i) => `vector(${i})`).join(' + ')})`;
    expect(expr.length).toBeGreaterThan(4_000);
    const r = await client.query(expr, { signal: signal() });
    expect(r.samples[0]!.value).toBe((399 * 400) / 2);
  });

  test('a parse error is bad_data / HTTP 400 with Prometheus’ message', async () => {
    const e = await caught(client.query('sum(', { signal: signal() }));
    expect(e).toBeInstanceOf(PrometheusError);
    expect(e.errorType).toBe('bad_data');
    expect(e.status).toBe(400);
    expect(e.message).toMatch(/parse error/);
  });

  test('an evaluation error is execution / HTTP 422', async () => {
    const e = await caught(
      client.query('vector(1) + on() (label_replace(vector(1), "a", "1", "", "") or label_replace(vector(1), "a", "2", "", ""))', { signal: signal() }),
    );
    expect(e).toBeInstanceOf(PrometheusError);
    expect(e.errorType).toBe('execution');
    expect(e.status).toBe(422);
  });

  test('a bad range request (end before start) is bad_data', async () => {
    const now = new Date();
    const e = await caught(client.queryRange('vector(1)', { start: now, end: new Date(now.getTime() - 60_000), stepSeconds: 15, signal: signal() }));
    expect(e.errorType).toBe('bad_data');
    expect(e.status).toBe(400);
  });
});

describe('Prometheus client against broken peers', () => {
  const stubs: StubServer[] = [];
  afterAll(async () => {
    await Promise.all(stubs.map((s) => s.close()));
  });
  const canned = async (status: number, body: string, contentType = 'application/json') => {
    const s = await startCannedServer((_req, res) => {
      res.writeHead(status, { 'Content-Type': contentType });
      res.end(body);
    });
    stubs.push(s);
    return s;
  };

  test.each([
    [503, { status: 'error', errorType: 'timeout', error: 'query timed out in expression evaluation' }, 'timeout'],
    [503, { status: 'error', errorType: 'canceled', error: 'query was canceled' }, 'canceled'],
    [500, { status: 'error', errorType: 'internal', error: 'boom' }, 'internal'],
    [404, { status: 'error', errorType: 'not_found', error: 'not found' }, 'not_found'],
    [422, { status: 'error', errorType: 'execution', error: 'too many samples' }, 'execution'],
  ])('HTTP %i with Prometheus’ error body keeps its errorType', async (status, body, errorType) => {
    const s = await canned(status, JSON.stringify(body));
    const e = await caught(createPrometheusClient({ url: s.url, timeoutMs: 2_000 }).query('up', { signal: signal() }));
    expect(e).toBeInstanceOf(PrometheusError);
    expect(e.errorType).toBe(errorType);
    expect(e.status).toBe(status);
    expect(e.message).toContain(body.error);
  });

  test('a proxy’s HTML 502 is server_error, a 401 client_error, with a short one-line snippet', async () => {
    const s = await canned(502, `<html>\n<body>${'<h1>502 Bad Gateway</h1>'.repeat(100)}</body></html>`, 'text/html');
    const e = await caught(createPrometheusClient({ url: s.url, timeoutMs: 2_000 }).query('up', { signal: signal() }));
    expect(e).toBeInstanceOf(PrometheusError);
    expect([e.errorType, e.status]).toEqual(['server_error', 502]);
    expect(e.message).not.toContain('\n');
    expect(e.message.length).toBeLessThan(450);
    const s2 = await canned(401, 'Unauthorized', 'text/plain');
    const e2 = await caught(
      createPrometheusClient({ url: s2.url, timeoutMs: 2_000 }).queryRange('up', {
        start: new Date(Date.now() - 60_000),
        end: new Date(),
        stepSeconds: 15,
        signal: signal(),
      }),
    );
    expect([e2.errorType, e2.status]).toEqual(['client_error', 401]);
  });

  test('200 with garbage, or JSON of the wrong shape, is bad_response', async () => {
    const s = await canned(200, 'this is not json', 'text/plain');
    const e = await caught(createPrometheusClient({ url: s.url, timeoutMs: 2_000 }).query('up', { signal: signal() }));
    expect([e.name, e.errorType, e.status]).toEqual(['PrometheusError', 'bad_response', 200]);
    const s2 = await canned(200, JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: [] } }));
    const e2 = await caught(createPrometheusClient({ url: s2.url, timeoutMs: 2_000 }).query('up', { signal: signal() }));
    expect(e2.errorType).toBe('bad_response');
    const s3 = await canned(200, JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: {} }] } }));
    const e3 = await caught(createPrometheusClient({ url: s3.url, timeoutMs: 2_000 }).query('up', { signal: signal() }));
    expect(e3.errorType).toBe('bad_response');
  });

  test('sends POST form bodies with the time parameters in unix seconds', async () => {
    const s = await canned(200, JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: [] }, warnings: ['w1'] }));
    const start = new Date('2026-11-27T06:00:00.250Z');
    const end = new Date('2026-11-27T06:30:00Z');
    const r = await createPrometheusClient({ url: `${s.url}/prom/`, timeoutMs: 2_000 }).queryRange('sum(x{a="b"})', {
      start,
      end,
      stepSeconds: 15,
      signal: signal(),
    });
    expect(r).toEqual({ series: [], warnings: ['w1'] });
    const req = s.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.url).toBe('/prom/api/v1/query_range');
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(req.body))).toEqual({ query: 'sum(x{a="b"})', start: '1795759200.250', end: '1795761000.000', step: '15' });
  });

  test('labelValues: a GET with match[], start, end and limit in the query string; values sorted and cut to the limit', async () => {
    const s = await canned(200, JSON.stringify({ status: 'success', data: ['zeta', 'alpha', 'mid'], warnings: ['w'] }));
    const start = new Date('2026-11-27T06:00:00.250Z');
    const end = new Date('2026-11-27T06:30:00Z');
    const r = await createPrometheusClient({ url: `${s.url}/prom`, timeoutMs: 2_000 }).labelValues('__name__', {
      match: ['{__name__=~"a|b",service="x"}', 'up'],
      start,
      end,
      limit: 2,
      signal: signal(),
    });
    expect(r).toEqual({ values: ['alpha', 'mid'], warnings: ['w'] });
    const req = s.requests[0]!;
    expect(req.method).toBe('GET');
    expect(req.body).toBe('');
    const url = new URL(req.url, 'http://x');
    expect(url.pathname).toBe('/prom/api/v1/label/__name__/values');
    expect(url.searchParams.getAll('match[]')).toEqual(['{__name__=~"a|b",service="x"}', 'up']);
    expect([url.searchParams.get('start'), url.searchParams.get('end'), url.searchParams.get('limit')]).toEqual(['1795759200.250', '1795761000.000', '2']);
    const bad = await canned(200, JSON.stringify({ status: 'success', data: [1, 2] }));
    const e = await caught(createPrometheusClient({ url: bad.url, timeoutMs: 2_000 }).labelValues('__name__', { match: ['up'], start, end, signal: signal() }));
    expect([e.errorType, e.message]).toEqual(['bad_response', 'prometheus /api/v1/label/__name__/values: unexpected result shape (label values)']);
  });

  test('labelValues has the same deadline and honours the caller’s signal', async () => {
    const s = await startHangingServer();
    stubs.push(s);
    const opts = { match: ['up'], start: new Date(Date.now() - 60_000), end: new Date() };
    const t0 = Date.now();
    const e = await caught(createPrometheusClient({ url: s.url, timeoutMs: 300 }).labelValues('__name__', { ...opts, signal: signal() }));
    expect([e.name, e.message]).toEqual(['TimeoutError', 'prometheus did not answer within 300 ms']);
    expect(Date.now() - t0).toBeLessThan(1_500);
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('run budget spent')), 50);
    const a = await caught(createPrometheusClient({ url: s.url, timeoutMs: 10_000 }).labelValues('__name__', { ...opts, signal: ac.signal }));
    expect(a.message).toBe('run budget spent');
  });

  test('a server that never answers: TimeoutError at the configured timeout', async () => {
    const s = await startHangingServer();
    stubs.push(s);
    const t0 = Date.now();
    const e = await caught(createPrometheusClient({ url: s.url, timeoutMs: 300 }).query('up', { signal: signal() }));
    const took = Date.now() - t0;
    expect(e.name).toBe('TimeoutError');
    expect(e.message).toMatch(/within 300 ms/);
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(1_500);
  });

  test('a server that sends headers and then trickles forever: TimeoutError at the deadline', async () => {
    const s = await startCannedServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{');
      const t = setInterval(() => res.write(' '), 50);
      res.on('close', () => clearInterval(t));
    });
    stubs.push(s);
    const t0 = Date.now();
    const e = await caught(createPrometheusClient({ url: s.url, timeoutMs: 400 }).query('up', { signal: signal() }));
    expect(e.name).toBe('TimeoutError');
    expect(Date.now() - t0).toBeLessThan(1_500);
  });

  test('a runaway response over MAX_RESPONSE_BYTES is cut off as bad_response', async () => {
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const s = await startCannedServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      let sent = 0;
      const pump = () => {
        while (sent <= MAX_RESPONSE_BYTES) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end('{}');
      };
      res.on('error', () => {});
      pump();
    });
    stubs.push(s);
    const e = await caught(createPrometheusClient({ url: s.url, timeoutMs: 5_000 }).query('up', { signal: signal() }));
    expect(e).toBeInstanceOf(PrometheusError);
    expect([e.errorType, e.message]).toEqual(['bad_response', `prometheus /api/v1/query: response larger than ${MAX_RESPONSE_BYTES} bytes`]);
  });

  test('the caller’s signal aborts the request with the caller’s reason', async () => {
    const s = await startHangingServer();
    stubs.push(s);
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(new Error('run budget spent')), 100);
    const e = await caught(createPrometheusClient({ url: s.url, timeoutMs: 10_000 }).query('up', { signal: ac.signal }));
    expect(e.message).toBe('run budget spent');
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  test('nothing listening: unreachable, fast', async () => {
    const url = await closedPortUrl();
    const e = await caught(createPrometheusClient({ url, timeoutMs: 2_000 }).query('up', { signal: signal() }));
    expect(e).toBeInstanceOf(PrometheusError);
    expect(e.errorType).toBe('unreachable');
    expect(e.message).toMatch(/ECONNREFUSED/);
  });

  test('credentials in the URL go as basic auth and never into an error message', async () => {
    const secret = 's3cr3t-pa%24%24';
    const s = await startCannedServer((req, res) => {
      // A proxy that echoes what it saw, credentials included.
      res.writeHead(502, { 'Content-Type': 'text/plain' });
      res.end(`upstream failed for http://alice:s3cr3t-pa$$@prometheus/ (${req.url})`);
    });
    stubs.push(s);
    const url = s.url.replace('http://', `http://alice:${secret}@`);
    const e = await caught(createPrometheusClient({ url, timeoutMs: 2_000 }).query('up', { signal: signal() }));
    expect(s.requests[0]!.headers.authorization).toBe(`Basic ${Buffer.from('alice:s3cr3t-pa$$').toString('base64')}`);
    expect(e.message).toContain('[REDACTED]');
    expect(e.message).not.toContain('s3cr3t');
    const down = (await closedPortUrl()).replace('http://', `http://alice:${secret}@`);
    for (const u of [down, `http://alice:${secret}@no-such-host.invalid:9090`]) {
      const e2 = await caught(createPrometheusClient({ url: u, timeoutMs: 2_000 }).query('up', { signal: signal() }));
      expect(String(e2.message) + String(e2.stack)).not.toContain('s3cr3t');
    }
  });
});
