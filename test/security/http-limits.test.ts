import crypto from 'node:crypto';
import net from 'node:net';
import { authorized } from '../../src/http/auth';
import { auth, testApp, TOKEN } from '../support/app';
import { firingPayload } from '../support/fixtures';

/**
 * Issue 7, security: authentication on every protected endpoint, the token compared in constant
 * time, slow-loris and oversized bodies bounded by the server's own timeouts and limits (a real
 * listening socket, not inject), and the rate limits on /enrich and the Slack entry points.
 */

type T = Awaited<ReturnType<typeof testApp>>;
const json = { 'content-type': 'application/json' };

describe('authentication', () => {
  let t: T;
  beforeAll(async () => {
    t = await testApp({ routes: [{ match: { alertname: 'db_pool_exhausted' }, enrichers: [] }] });
  });
  afterAll(() => t.app.close());

  const sameLength = TOKEN.slice(0, -1) + (TOKEN.endsWith('x') ? 'y' : 'x');
  const wrong: Array<[string, Record<string, string>]> = [
    ['missing', {}],
    ['empty bearer', { authorization: 'Bearer ' }],
    ['wrong token of the same length', { authorization: `Bearer ${sameLength}` }],
    ['wrong token, shorter', { authorization: `Bearer ${TOKEN.slice(0, 8)}` }],
    ['wrong token, longer', { authorization: `Bearer ${TOKEN}${TOKEN}` }],
    ['the token as the Basic user, not the password', { authorization: `Basic ${Buffer.from(`${TOKEN}:`).toString('base64')}` }],
    ['another scheme', { authorization: `Digest ${TOKEN}` }],
  ];
  const endpoints: Array<{ method: 'POST' | 'GET'; url: string; body?: unknown }> = [
    { method: 'POST', url: '/webhook', body: firingPayload() },
    { method: 'POST', url: '/enrich?wait=true', body: { alert: { labels: { alertname: 'db_pool_exhausted' } } } },
    { method: 'GET', url: '/diagnostics/anything' },
  ];

  test.each(wrong)('%s: 401 on /webhook, /enrich and /diagnostics, nothing stored', async (_name, headers) => {
    for (const e of endpoints) {
      const res = await t.app.inject({
        method: e.method,
        url: e.url,
        headers: { ...json, ...headers },
        ...(e.body ? { payload: JSON.stringify(e.body) } : {}),
      });
      expect(res.statusCode).toBe(401);
      expect(res.json()).toEqual({ error: 'unauthorized' });
      expect(res.headers['www-authenticate']).toBe('Bearer');
    }
    expect(await t.store.unfinishedRuns()).toEqual([]);
    expect(await t.metrics.registry.getSingleMetricAsString('pagefirst_runs_total')).not.toMatch(/^pagefirst_runs_total\{/m);
  });

  test('the right token as Bearer and as the Basic password is accepted (the check can pass)', async () => {
    const a = await t.app.inject({ method: 'POST', url: '/webhook', headers: { ...json, ...auth }, payload: JSON.stringify(firingPayload()) });
    expect(a.statusCode).toBe(202);
    const b = await t.app.inject({
      method: 'GET',
      url: `/diagnostics/${a.json().id}`,
      headers: { authorization: `Basic ${Buffer.from(`am:${TOKEN}`).toString('base64')}` },
    });
    expect([200, 202]).toContain(b.statusCode);
    await t.pipeline.wait(a.json().id);
  });

  test('authorized() compares SHA-256 digests with timingSafeEqual, whatever the presented length', () => {
    const spy = jest.spyOn(crypto, 'timingSafeEqual');
    try {
      for (const presented of [sameLength, 'x', TOKEN.repeat(10), TOKEN]) {
        spy.mockClear();
        const ok = authorized(`Bearer ${presented}`, TOKEN);
        expect(ok).toBe(presented === TOKEN);
        // one constant-time comparison of two equal-length digests, never a length short-cut
        expect(spy).toHaveBeenCalledTimes(1);
        const [a, b] = spy.mock.calls[0]! as [Buffer, Buffer];
        expect(a.length).toBe(32);
        expect(b.length).toBe(32);
        expect(Buffer.from(b).equals(crypto.createHash('sha256').update(TOKEN).digest())).toBe(true);
      }
      spy.mockClear();
      expect(authorized(`Basic ${Buffer.from(`u:${sameLength}`).toString('base64')}`, TOKEN)).toBe(false);
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('a real listening server under slow and oversized requests', () => {
  let t: T;
  let port: number;
  const REQUEST_TIMEOUT = 1_500;
  const HEADERS_TIMEOUT = 1_000;
  const BODY_LIMIT = 64 * 1024;
  beforeAll(async () => {
    t = await testApp({
      server: { auth: { token: TOKEN }, requestTimeoutMs: REQUEST_TIMEOUT, headersTimeoutMs: HEADERS_TIMEOUT, bodyLimitBytes: BODY_LIMIT },
      routes: [{ match: { alertname: 'db_pool_exhausted' }, enrichers: [] }],
    });
    port = Number(new URL(await t.app.listen({ host: '127.0.0.1', port: 0 })).port);
  });
  afterAll(() => t.app.close());

  /** Opens a socket and writes `chunks` one every `everyMs` until the server closes it; resolves when closed (or after `maxMs`). */
  function trickle(chunks: string[], everyMs: number, maxMs: number): Promise<{ closedAfterMs: number | undefined; answer: string; sent: number }> {
    return new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      const start = Date.now();
      let answer = '';
      let sent = 0;
      let closed = false;
      s.on('data', (d: Buffer) => (answer += d.toString('utf8')));
      s.on('error', () => {});
      const finish = (closedAfterMs: number | undefined) => {
        clearInterval(timer);
        clearTimeout(giveUp);
        s.destroy();
        resolve({ closedAfterMs, answer, sent });
      };
      s.on('close', () => {
        closed = true;
        finish(Date.now() - start);
      });
      const timer = setInterval(() => {
        if (closed) return;
        if (sent < chunks.length) s.write(chunks[sent++]!);
      }, everyMs);
      const giveUp = setTimeout(() => finish(undefined), maxMs);
    });
  }

  test('headers sent byte by byte: disconnected within the header/request bound', async () => {
    const head = `POST /webhook HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nX-Pad: ${'a'.repeat(500)}`;
    const r = await trickle(head.split(''), 20, 10_000);
    expect(r.closedAfterMs).toBeDefined();
    expect(r.closedAfterMs!).toBeLessThan(REQUEST_TIMEOUT + 2_000);
    expect(r.sent).toBeLessThan(head.length); // cut before the headers were complete
    expect(r.answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  test('a body that trickles: cut at the request timeout, nothing admitted', async () => {
    const body = JSON.stringify(firingPayload());
    const head = `POST /webhook HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const r = await trickle([head, ...body.split('')], 20, 10_000);
    expect(r.closedAfterMs).toBeDefined();
    expect(r.closedAfterMs!).toBeLessThan(REQUEST_TIMEOUT + 2_000);
    expect(r.sent).toBeLessThan(body.length);
    expect(r.answer).not.toMatch(/ 202 /);
    expect(await t.store.unfinishedRuns()).toEqual([]);
  });

  test('100 slow-loris clients at once: a real request is still served at once, and every slow socket is cut within the bound', async () => {
    const head = `POST /webhook HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(300)}`;
    const attackers = Array.from({ length: 100 }, () => trickle(head.split(''), 50, 10_000));
    await new Promise((r) => setTimeout(r, 300));
    const p = firingPayload();
    p.groupKey = 'during-the-attack';
    const started = Date.now();
    const res = await fetch(`http://127.0.0.1:${port}/webhook`, {
      method: 'POST',
      headers: { ...json, ...auth },
      body: JSON.stringify(p),
      signal: AbortSignal.timeout(5_000),
    });
    expect(res.status).toBe(202);
    expect(Date.now() - started).toBeLessThan(3_000); // the attackers trickle for 10 s: served long before they are cut
    const results = await Promise.all(attackers);
    for (const r of results) {
      expect(r.closedAfterMs).toBeDefined();
      expect(r.closedAfterMs!).toBeLessThan(REQUEST_TIMEOUT + 2_000);
    }
    await t.pipeline.wait(((await res.json()) as { id: string }).id);
  });

  test('a body over server.bodyLimitBytes: 413 (declared length and chunked), nothing admitted', async () => {
    const big = JSON.stringify({ ...firingPayload(), pad: 'x'.repeat(BODY_LIMIT) });
    const url = `http://127.0.0.1:${port}/webhook`;
    const declared = await fetch(url, { method: 'POST', headers: { ...json, ...auth }, body: big, signal: AbortSignal.timeout(5_000) });
    expect(declared.status).toBe(413);
    expect(await declared.json()).toEqual({ error: 'payload_too_large', message: 'the body is larger than server.bodyLimitBytes' });
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < big.length; i += 8_192) c.enqueue(new TextEncoder().encode(big.slice(i, i + 8_192)));
        c.close();
      },
    });
    const chunked = await fetch(url, {
      method: 'POST',
      headers: { ...json, ...auth },
      body: stream,
      duplex: 'half',
      signal: AbortSignal.timeout(5_000),
    });
    expect(chunked.status).toBe(413);
    expect(await t.store.unfinishedRuns()).toEqual([]);
    // just under the limit is accepted (the limit is the configured one, not smaller)
    const fits = JSON.stringify({ ...firingPayload(), groupKey: 'fits', pad: 'x'.repeat(BODY_LIMIT - 2_000) });
    const ok = await fetch(url, { method: 'POST', headers: { ...json, ...auth }, body: fits, signal: AbortSignal.timeout(5_000) });
    expect(ok.status).toBe(202);
    await t.pipeline.wait(((await ok.json()) as { id: string }).id);
  });
});

describe('rate limit on the Slack entry points', () => {
  const SIGNING = 'rate-limit-signing-secret';
  const sign = (body: string, ts = Math.floor(Date.now() / 1000)) => ({
    'x-slack-request-timestamp': String(ts),
    'x-slack-signature': `v0=${crypto.createHmac('sha256', SIGNING).update(`v0:${ts}:${body}`).digest('hex')}`,
  });

  /** The Slack entry points on, at three requests a minute. */
  const RATE_LIMITED_SLACK = {
    server: { auth: { token: TOKEN }, rateLimitPerMinute: 3 },
    slack: { token: 'xoxb-rate-limit-test', signingSecret: SIGNING, alertsChannel: 'C0ALERTS', apiUrl: 'http://127.0.0.1:9/api/' },
    routes: [{ match: { alertname: 'db_pool_exhausted' }, enrichers: [], notifiers: ['console'] }],
  };

  test.each([
    ['/slack/events', 'application/json', JSON.stringify({ type: 'url_verification', challenge: 'c' })],
    ['/slack/interactions', 'application/x-www-form-urlencoded', `payload=${encodeURIComponent('not json')}`],
  ])('%s: 429 after server.rateLimitPerMinute requests, signed or not (the limit comes before the signature check)', async (url, type, body) => {
    const t = await testApp(RATE_LIMITED_SLACK);
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++)
        statuses.push((await t.app.inject({ method: 'POST', url, headers: { 'content-type': type, ...sign(body) }, payload: body })).statusCode);
      // the signed requests were served (not refused for their signature)
      expect(statuses.every((s) => s !== 401 && s !== 429)).toBe(true);
      // then the limit holds for signed and unsigned requests alike
      const signed = await t.app.inject({ method: 'POST', url, headers: { 'content-type': type, ...sign(body) }, payload: body });
      expect(signed.statusCode).toBe(429);
      const unsigned = await t.app.inject({ method: 'POST', url, headers: { 'content-type': type }, payload: body });
      expect(unsigned.statusCode).toBe(429);
      // and /webhook is untouched by it
      const hook = await t.app.inject({ method: 'POST', url: '/webhook', headers: { ...json, ...auth }, payload: JSON.stringify(firingPayload()) });
      expect(hook.statusCode).toBe(202);
      await t.pipeline.wait(hook.json().id);
    } finally {
      await t.app.close();
    }
  });

  test('a flood of unsigned requests is rate limited too, not only refused one by one', async () => {
    const t = await testApp(RATE_LIMITED_SLACK);
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await t.app.inject({ method: 'POST', url: '/slack/events', headers: json, payload: '{}' })).statusCode);
      expect(statuses).toEqual([401, 401, 401, 429, 429, 429]);
    } finally {
      await t.app.close();
    }
  });
});

describe('rate limit on /enrich', () => {
  test('429 after server.rateLimitPerMinute requests, the runs beyond it never admitted; /webhook is not limited', async () => {
    const t = await testApp({
      server: { auth: { token: TOKEN }, rateLimitPerMinute: 5 },
      routes: [{ match: { alertname: 'db_pool_exhausted' }, enrichers: [] }],
    });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        const res = await t.app.inject({
          method: 'POST',
          url: '/enrich?notify=false',
          headers: { ...json, ...auth },
          payload: JSON.stringify({ alert: { labels: { alertname: 'db_pool_exhausted', n: String(i) } } }),
        });
        statuses.push(res.statusCode);
        if (res.statusCode === 429) {
          expect(res.json().error).toBe('rate_limited');
          expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
        }
      }
      expect(statuses).toEqual([202, 202, 202, 202, 202, 429, 429, 429]);
      // 5 runs were admitted, not 8
      expect(await t.store.runsOf('db_pool_exhausted', new Date(Date.now() - 60_000), new Date(Date.now() + 60_000))).toHaveLength(5);
      // Alertmanager's own retries are never rate limited
      for (let i = 0; i < 8; i++) {
        const p = firingPayload();
        p.groupKey = `g${i}`;
        const res = await t.app.inject({ method: 'POST', url: '/webhook', headers: { ...json, ...auth }, payload: JSON.stringify(p) });
        expect(res.statusCode).toBe(202);
      }
    } finally {
      await t.app.close();
    }
  });
});
