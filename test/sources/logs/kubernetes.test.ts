import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { logSourceSchema } from '../../../src/sources/config';
import { createKubernetesLogReader, KUBERNETES_API_CALLS } from '../../../src/sources/logs/kubernetes';
import { LogSourceError, MAX_LINE_CHARS, type LogReadResult } from '../../../src/sources/logs/types';
import { auth, testApp } from '../../support/app';
import { caught } from '../../support/wait';
import { parseLabelSelector, startFakeKubernetes, type FakeKubernetes, type FakeLogLine, type FakePod } from '../../fakes/kubernetes';

type KubernetesSource = Parameters<typeof createKubernetesLogReader>[0];

const SA = 'system:serviceaccount:pagefirst:pagefirst';
const TOKEN = 'sa-token-0123456789';
const filter = { pattern: 'connection|pool|database', caseInsensitive: true };

let kube: FakeKubernetes;
let tmp: string;
let kubeconfig: string;

const ago = (s: number) => new Date(Date.now() - s * 1000);
const lines = (...texts: Array<[number, string | Buffer]>): FakeLogLine[] => texts.map(([s, text]) => ({ time: ago(s), text }));

function writeKubeconfig(file: string, token: string, namespace = 'shop'): string {
  fs.writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      `  - name: fake`,
      `    cluster: { server: "${kube.url}", certificate-authority: "${kube.caFile}" }`,
      'users:',
      `  - name: sa`,
      `    user: { token: "${token}" }`,
      'contexts:',
      `  - name: fake`,
      `    context: { cluster: fake, user: sa, namespace: ${namespace} }`,
      'current-context: fake',
      '',
    ].join('\n'),
  );
  return file;
}

const source = (k: Record<string, unknown> = {}, common: Record<string, unknown> = {}) =>
  logSourceSchema.parse({
    name: 'checkout',
    tail: 100,
    timeoutMs: 2_000,
    ...common,
    kubernetes: { labelSelector: 'app=checkout', kubeconfig, ...k },
  }) as KubernetesSource;
const read = (src: KubernetesSource, labels: Record<string, string> = {}, signal = new AbortController().signal) =>
  createKubernetesLogReader(src).read({ signal, now: new Date(), filter, labels });

/** The log requests the fake saw since `from`, as `pod/container[ previous]`. */
const logReads = (from: number) =>
  kube.requests
    .slice(from)
    .filter((r) => r.resource === 'pods/log')
    .map((r) => `${r.name}/${r.query.container}${r.query.previous === 'true' ? ' previous' : ''}`)
    .sort();
const origins = (r: LogReadResult) => [...new Set(r.lines.map((l) => l.origin))].sort();

const shop: FakePod[] = [
  {
    namespace: 'shop',
    name: 'checkout-a',
    labels: { app: 'checkout', tier: 'web' },
    annotations: { 'kubectl.kubernetes.io/default-container': 'app' },
    containers: ['istio-proxy', 'app'],
    restarts: { app: 2 },
    logs: {
      app: lines([50, 'started after restart'], [20, 'HikariPool-1 - Connection is not available, request timed out after 30000ms']),
      'istio-proxy': lines([30, 'upstream connect error: connection refused']),
    },
    previousLogs: { app: lines([400, 'java.lang.OutOfMemoryError: Java heap space while waiting for a database connection'], [390, 'shutting down']) },
  },
  {
    namespace: 'shop',
    name: 'checkout-b',
    labels: { app: 'checkout', tier: 'web' },
    containers: ['app'],
    logs: { app: lines([40, 'pool timeout on checkout-b'], [10, 'GET /health 200']) },
  },
  {
    namespace: 'shop',
    name: 'checkout-c',
    labels: { app: 'checkout', tier: 'batch' },
    containers: ['app'],
    logs: { app: lines([35, 'database connection reset on checkout-c']) },
  },
  { namespace: 'shop', name: 'worker-a', labels: { app: 'worker' }, containers: ['worker'], logs: { worker: lines([5, 'worker: connection pool exhausted']) } },
];

// The client (ESM, compiled for Jest on first use) is loaded once here, under its own timeout, so a
// cold transform cache is not charged to the first test.
beforeAll(() => import('@kubernetes/client-node'), 180_000);

beforeAll(async () => {
  kube = await startFakeKubernetes();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pagefirst-kube-'));
  kubeconfig = writeKubeconfig(path.join(tmp, 'kubeconfig'), TOKEN);
  kube.tokens.set(TOKEN, SA);
  for (const ns of ['shop', 'audit']) kube.allow(SA, ns, 'list', 'pods');
  kube.allow(SA, 'shop', 'get', 'pods/log');
});
beforeEach(() => {
  kube.pods = structuredClone(shop).map((p) => ({ ...p, createdAt: ago(3600) }));
  // structuredClone turns Buffers into Uint8Arrays; none in `shop`
  kube.afterList = undefined;
});
afterAll(async () => {
  await kube.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('the fake API server rejects what the real one rejects', () => {
  const get = (p: string, token: string | null = TOKEN) =>
    new Promise<{ status: number; json: () => Promise<any> }>((resolve, reject) => {
      https
        .get(`${kube.url}${p}`, { ca: fs.readFileSync(kube.caFile), headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, json: async () => JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
        })
        .on('error', reject);
    });

  test('no token: 401 Status; a selector the parser refuses: 400; several containers and none named: 400 with the choices', async () => {
    const r401 = await get('/api/v1/namespaces/shop/pods', null);
    expect(r401.status).toBe(401);
    expect(await r401.json()).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    });
    for (const bad of ['app in (a,', '=x', 'app==a b', 'a/b/c=1', `app=${'x'.repeat(64)}`, 'app=bad value!', 'app,']) {
      const r = await get(`/api/v1/namespaces/shop/pods?labelSelector=${encodeURIComponent(bad)}`);
      expect(`${bad} ${r.status}`).toBe(`${bad} 400`);
      expect(await r.json()).toMatchObject({ kind: 'Status', reason: 'BadRequest', code: 400 });
    }
    const two = await get('/api/v1/namespaces/shop/pods/checkout-a/log');
    expect(two.status).toBe(400);
    expect((await two.json()).message).toBe('a container name must be specified for pod checkout-a, choose one of: [istio-proxy app]');
    const never = await get('/api/v1/namespaces/shop/pods/checkout-b/log?container=app&previous=true');
    expect(await never.json()).toMatchObject({ code: 400, reason: 'BadRequest', message: 'previous terminated container "app" in pod "checkout-b" not found' });
    const gone = await get('/api/v1/namespaces/shop/pods/nope/log?container=app');
    expect(await gone.json()).toMatchObject({ code: 404, reason: 'NotFound', message: 'pods "nope" not found', details: { name: 'nope', kind: 'pods' } });
    const log = await get('/api/v1/namespaces/audit/pods/x/log');
    expect(await log.json()).toMatchObject({
      code: 403,
      reason: 'Forbidden',
      message: `pods "x" is forbidden: User "${SA}" cannot get resource "pods/log" in API group "" in the namespace "audit"`,
    });
  });

  test('the selector parser accepts what the API accepts and selects like it', () => {
    for (const ok of [
      'app=checkout',
      'app==checkout,tier!=batch',
      'tier in (web, batch)',
      'tier notin (batch)',
      'app',
      '!canary',
      'app.kubernetes.io/name=checkout',
      'x=',
    ]) {
      expect(() => parseLabelSelector(ok)).not.toThrow();
    }
    expect(parseLabelSelector('app=checkout,tier notin (batch),!canary')).toEqual([
      { key: 'app', op: '=', values: ['checkout'] },
      { key: 'tier', op: 'notin', values: ['batch'] },
      { key: 'canary', op: '!', values: [] },
    ]);
  });
});

describe('kubernetes log source', () => {
  test('reads the pods the selector picks, the default container, previous logs after a restart, with the real parameters', async () => {
    const from = kube.requests.length;
    const r = await read(source());
    expect(logReads(from)).toEqual(['checkout-a/app', 'checkout-a/app previous', 'checkout-b/app', 'checkout-c/app']);
    expect(origins(r)).toEqual(['checkout-a/app', 'checkout-a/app (previous)', 'checkout-b/app', 'checkout-c/app']);
    // oldest first across pods: the crash's lines come before everything current
    expect(r.lines[0]).toMatchObject({
      text: 'java.lang.OutOfMemoryError: Java heap space while waiting for a database connection',
      origin: 'checkout-a/app (previous)',
    });
    expect(r.lines[0]!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(r.lines.map((l) => l.text)).not.toContain('worker: connection pool exhausted');
    expect(r.scanned).toBe(r.lines.length);
    expect(r.problems).toBeUndefined();
    const list = kube.requests[from]!;
    expect(list).toMatchObject({ verb: 'list', resource: 'pods', namespace: 'shop', user: SA, query: { labelSelector: 'app=checkout' } });
    const current = kube.requests.slice(from).find((q) => q.name === 'checkout-b')!;
    expect(current.query).toMatchObject({ container: 'app', tailLines: '100', sinceSeconds: '900', timestamps: 'true', previous: 'false' });
    const previous = kube.requests.slice(from).find((q) => q.query.previous === 'true')!;
    expect(previous.query.sinceSeconds).toBeUndefined();
    // every call is one the Role grants, and the Role grants nothing it does not call
    const calls = new Set(kube.requests.slice(from).map((q) => `${q.verb} ${q.resource}`));
    expect([...calls].sort()).toEqual(KUBERNETES_API_CALLS.map((c) => `${c.verb} ${c.resource}`).sort());
  });

  test('alert labels narrow within the configuration, never widen it', async () => {
    let from = kube.requests.length;
    const one = await read(source(), { pod: 'checkout-b', namespace: 'shop' });
    expect(logReads(from)).toEqual(['checkout-b/app']);
    expect(origins(one)).toEqual(['checkout-b/app']);
    expect(one.problems).toBeUndefined();

    from = kube.requests.length;
    const outside = await read(source(), { pod: 'worker-a', namespace: 'payments' });
    expect(logReads(from)).toEqual(['checkout-a/app', 'checkout-a/app previous', 'checkout-b/app', 'checkout-c/app']);
    expect(kube.requests.slice(from).every((q) => q.namespace === 'shop')).toBe(true);
    expect(outside.problems).toEqual([
      `the alert's namespace "payments" is not the configured one; read namespace "shop"`,
      `the alert's pod "worker-a" is not among the 3 pod(s) "app=checkout" selects (gone, or outside the selection); read those instead`,
    ]);

    // a label value from whoever sends alerts is cut in the line that repeats it
    const long = await read(source(), { pod: 'p'.repeat(5_000) });
    expect(long.problems![0]).toBe(
      `the alert's pod "${'p'.repeat(99)}…" is not among the 3 pod(s) "app=checkout" selects (gone, or outside the selection); read those instead`,
    );

    // the alert's container is used where no container is configured and the pod has it
    from = kube.requests.length;
    const sidecar = await read(source(), { container: 'istio-proxy', pod: 'checkout-a' });
    expect(logReads(from)).toEqual(['checkout-a/istio-proxy']);
    expect(sidecar.lines.map((l) => l.text)).toEqual(['upstream connect error: connection refused']);

    // a configured container wins over the alert's
    from = kube.requests.length;
    const pinned = await read(source({ container: 'app' }), { container: 'istio-proxy', pod: 'checkout-a' });
    expect(logReads(from)).toEqual(['checkout-a/app', 'checkout-a/app previous']);
    expect(pinned.problems).toEqual([`the alert's container "istio-proxy" is not the configured one; read container "app"`]);
  });

  test('maxPods: at most that many pods, restarted ones first, and it says so', async () => {
    const from = kube.requests.length;
    const r = await read(source({ maxPods: 2 }));
    expect(logReads(from)).toEqual(['checkout-a/app', 'checkout-a/app previous', 'checkout-b/app']);
    expect(r.problems).toEqual(['3 pods selected; read 2 (maxPods), restarted ones first']);
  });

  test('a pod gone between the list and its log is one line; the others are read', async () => {
    kube.afterList = () => {
      kube.pods = kube.pods.filter((p) => p.name !== 'checkout-b');
      kube.afterList = undefined;
    };
    const r = await read(source());
    expect(r.problems).toEqual(['pod checkout-b/app: gone (404 NotFound: pods "checkout-b" not found)']);
    expect(origins(r)).toEqual(['checkout-a/app', 'checkout-a/app (previous)', 'checkout-c/app']);
  });

  test('an expired token: the source fails with a line that says so (401), and no secret', async () => {
    const expired = writeKubeconfig(path.join(tmp, 'expired'), 'expired-token-abcdef');
    const e = await caught(read(source({ kubeconfig: expired })));
    expect(e).toBeInstanceOf(LogSourceError);
    expect(e.message).toBe(
      'listing pods in namespace shop: the API server rejected the token (401 Unauthorized): the service account token or kubeconfig credentials have expired or were revoked',
    );
    expect(e.message).not.toContain('expired-token-abcdef');
    expect(e.timeout).toBe(false);
  });

  test("a namespace it may not read: 403 with the API server's reason and message", async () => {
    const e = await caught(read(source({ namespace: 'payments' })));
    expect(e.message).toBe(
      `listing pods in namespace payments: forbidden (403 Forbidden): pods is forbidden: User "${SA}" cannot list resource "pods" in API group "" in the namespace "payments"`,
    );
    // may list but not read logs: every pod is a 403 line, so the source fails with them
    kube.pods.push({ namespace: 'audit', name: 'audit-1', labels: { app: 'checkout' }, containers: ['app'], logs: { app: lines([1, 'x']) } });
    const logs = await caught(read(source({ namespace: 'audit' })));
    expect(logs.message).toBe(
      `pod audit-1/app: forbidden (403 Forbidden): pods "audit-1" is forbidden: User "${SA}" cannot get resource "pods/log" in API group "" in the namespace "audit"`,
    );
  });

  test('a label selector the API rejects is named with its message', async () => {
    const e = await caught(read(source({ labelSelector: 'app in (checkout' })));
    expect(e.message).toMatch(/^the API server rejected the label selector "app in \(checkout": found '.*', expected: ',', '\)' or identifier$/);
  });

  test('a pod that does not answer in time is one line (its request aborted); the others are read', async () => {
    kube.pods.find((p) => p.name === 'checkout-c')!.logDelayMs = 30_000;
    const r = await read(source({}, { timeoutMs: 500 }));
    expect(r.problems).toEqual(['pod checkout-c/app: no answer within 500 ms']);
    expect(origins(r)).toEqual(['checkout-a/app', 'checkout-a/app (previous)', 'checkout-b/app']);
    // every pod slow: the source fails as a timeout
    for (const p of kube.pods) p.logDelayMs = 30_000;
    const e = await caught(read(source({}, { timeoutMs: 300 })));
    expect(e).toBeInstanceOf(LogSourceError);
    expect(e.timeout).toBe(true);
  });

  test("the run's own abort stops the reads and is rethrown as itself", async () => {
    for (const p of kube.pods) p.logDelayMs = 30_000;
    const ac = new AbortController();
    const p = read(source({}, { timeoutMs: 20_000 }), {}, ac.signal);
    const reason = new Error('run aborted');
    setImmediate(() => ac.abort(reason));
    expect(await caught(p)).toBe(reason);
  });

  test('a 10 MB line, binary garbage and invalid UTF-8: bounded lines, nothing lost after them, no crash', async () => {
    const garbage = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256).filter((b) => b !== 0x0a));
    kube.pods = [
      {
        namespace: 'shop',
        name: 'noisy',
        labels: { app: 'checkout' },
        containers: ['app'],
        logs: {
          app: lines(
            [30, 'before'],
            [25, 'x'.repeat(10 * 1024 * 1024)],
            [20, garbage],
            [15, Buffer.from([0xc3, 0x28, 0x20, 0x66, 0x6f, 0x6f])],
            [10, 'connection pool timeout after the noise'],
          ),
        },
      },
    ];
    // a deadline far above what 10 MB over loopback TLS takes, so a loaded machine cannot fail it
    const r = await read(source({}, { timeoutMs: 30_000 }));
    expect(r.lines.map((l) => l.text.length).every((n) => n <= MAX_LINE_CHARS)).toBe(true);
    expect(r.lines[0]!.text).toBe('before');
    expect(r.lines[1]!.text).toHaveLength(MAX_LINE_CHARS);
    expect(r.lines[1]!.text.endsWith('…')).toBe(true);
    expect(r.lines[3]!.text).toBe('\uFFFD( foo');
    expect(r.lines.at(-1)).toMatchObject({ text: 'connection pool timeout after the noise', origin: 'noisy/app' });
    expect(r.bytesRead).toBeGreaterThan(10 * 1024 * 1024);
  });

  test('no kubeconfig outside a pod: a clear error, not a connection to nowhere', async () => {
    expect(process.env.KUBERNETES_SERVICE_HOST).toBeUndefined();
    const src = logSourceSchema.parse({ name: 'k', kubernetes: { labelSelector: 'app=x' } }) as KubernetesSource;
    const e = await caught(createKubernetesLogReader(src).read({ signal: new AbortController().signal, now: new Date(), filter }));
    expect(e.message).toBe('not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST/PORT unset) and no kubeconfig configured');
    const missing = await caught(read(source({ kubeconfig: path.join(tmp, 'nope') })));
    expect(missing.message).toBe(`kubeconfig ${path.join(tmp, 'nope')} not found`);
  });

  test('in a pod without a mounted service account token: says so instead of failing at the first request', async () => {
    expect(fs.existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token')).toBe(false);
    const port = new URL(kube.url).port;
    Object.assign(process.env, { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port });
    try {
      const src = logSourceSchema.parse({ name: 'k', kubernetes: { labelSelector: 'app=x' } }) as KubernetesSource;
      const e = await caught(createKubernetesLogReader(src).read({ signal: new AbortController().signal, now: new Date(), filter }));
      expect(e.message).toBe(
        'no service account token at /var/run/secrets/kubernetes.io/serviceaccount/token: the pod runs with automountServiceAccountToken: false, or set kubeconfig',
      );
    } finally {
      delete process.env.KUBERNETES_SERVICE_HOST;
      delete process.env.KUBERNETES_SERVICE_PORT;
    }
  });

  test('an API server whose certificate the kubeconfig does not trust: a clear line, no request sent', async () => {
    const untrusted = path.join(tmp, 'untrusted');
    fs.writeFileSync(untrusted, fs.readFileSync(kubeconfig, 'utf8').replace(/, certificate-authority: "[^"]*"/, ''));
    const from = kube.requests.length;
    const e = await caught(read(source({ kubeconfig: untrusted })));
    expect(e.message).toMatch(
      /^listing pods in namespace shop: API server unreachable: (DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/,
    );
    expect(kube.requests.length).toBe(from);
  });

  test('the config schema: names, defaults and refusals', () => {
    const s = source();
    expect(s.kubernetes).toEqual({ labelSelector: 'app=checkout', kubeconfig, maxPods: 5, sinceMinutes: 15 });
    expect(() => logSourceSchema.parse({ name: 'k', kubernetes: { labelSelector: 'a=b', namespace: 'Shop_1' } })).toThrow('DNS-1123');
    expect(() => logSourceSchema.parse({ name: 'k', kubernetes: { labelSelector: 'a=b', maxPods: 0 } })).toThrow();
    expect(() => logSourceSchema.parse({ name: 'k', kubernetes: { labelSelector: 'a=b', pods: 3 } })).toThrow();
    expect(() => logSourceSchema.parse({ name: 'k', kubernetes: {} })).toThrow();
  });
});

describe('a receiver configured with the Kubernetes source', () => {
  test("an alert for one pod: the logs section shows that pod's lines, from before its restart too, on the console", async () => {
    const t = await testApp({
      sources: { logs: [{ name: 'checkout', kubernetes: { labelSelector: 'app=checkout', kubeconfig } }] },
      routes: [{ enrichers: ['logs'] }],
    });
    try {
      const from = kube.requests.length;
      const res = await t.app.inject({
        method: 'POST',
        url: '/enrich?wait=true',
        headers: { ...auth, 'content-type': 'application/json' },
        payload: JSON.stringify({ alert: { labels: { alertname: 'db_pool_exhausted', namespace: 'shop', pod: 'checkout-a' } } }),
      });
      expect(res.statusCode).toBe(200);
      const logs = res.json().enrichments.find((e: { enricher: string }) => e.enricher === 'logs');
      expect(logs.status).toBe('ok');
      expect(logs.evidence.sources).toEqual([
        {
          name: 'checkout',
          kind: 'kubernetes',
          scanned: 4,
          matched: 2,
          error: null,
          events: 4,
          binary: 0,
          invalidUtf8: 0,
          outsideWindow: 0,
          timezone: 'UTC',
          zoneless: 0,
        },
      ]);
      const code = logs.sections.find((s: { type: string }) => s.type === 'code').code as string;
      expect(code).toMatch(/^\[checkout-a\/app \(previous\)\] \S+ java\.lang\.OutOfMemoryError: Java heap space while waiting for a database connection$/m);
      expect(code).toMatch(/^\[checkout-a\/app\] \S+ HikariPool-1 - Connection is not available, request timed out after 30000ms$/m);
      expect(code).not.toContain('checkout-b');
      expect(logReads(from)).toEqual(['checkout-a/app', 'checkout-a/app previous']);
      expect(t.console.text()).toContain('HikariPool-1 - Connection is not available');
    } finally {
      await t.app.close();
    }
  });
});
