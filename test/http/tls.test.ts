import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPrivateKey } from 'node:crypto';
import { connect } from 'node:net';
import { loadTlsMaterial, TlsFileError } from '../../src/http/tls';
import { auth, testApp } from '../support/app';
import { firingPayload } from '../support/fixtures';
import { httpsRequest, openHttpsRequest } from '../support/https-client';
import { createTestCa, writePair, type Issued } from '../support/pki';
import { caught, until } from '../support/wait';

const dir = mkdtempSync(join(tmpdir(), 'pagefirst-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ca = createTestCa('pagefirst test CA');
const serverA = ca.issue('pagefirst-a', 'server');
const serverB = ca.issue('pagefirst-b', 'server');
const client = ca.issue('alertmanager', 'client');
const foreignCa = createTestCa('someone else');
const foreignClient = foreignCa.issue('alertmanager', 'client');
const caFile = join(dir, 'ca.crt');
writeFileSync(caFile, ca.certPem);

/** The base64 body of a PEM key: what must never show in an error or a log line. */
const keyBody = (i: Issued) => i.keyPem.split('\n')[1]!;

type T = Awaited<ReturnType<typeof testApp>>;
async function start(tls: Record<string, string>): Promise<{ t: T; url: string }> {
  const t = await testApp({
    server: { auth: { token: 'test-token-0123456789abcdef' }, tls },
    routes: [{ match: { alertname: 'db_pool_exhausted' }, enrichers: [] }],
  });
  const url = await t.app.listen({ host: '127.0.0.1', port: 0 });
  return { t, url };
}
const webhook = { method: 'POST', headers: { ...auth, 'content-type': 'application/json' } };

describe('server.tls: HTTPS on the listener', () => {
  let s: { t: T; url: string };
  beforeAll(async () => {
    s = await start(writePair(dir, 'https', serverA));
  });
  afterAll(() => s.t.app.close());

  test('serves HTTPS with the configured certificate, trusted through the CA; no plain HTTP on the port', async () => {
    expect(s.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    // Fastify ignores `http` with `https`: the slow-client deadlines must still be the configured ones (Node's defaults are 60 s and 30 s)
    expect(s.t.app.server).toMatchObject({ headersTimeout: s.t.config.server.headersTimeoutMs, requestTimeout: s.t.config.server.requestTimeoutMs });
    expect((s.t.app.server as unknown as { connectionsCheckingInterval: number }).connectionsCheckingInterval).toBeLessThanOrEqual(1_000);
    const health = await httpsRequest(`${s.url}/healthz`, { ca: ca.certPem });
    expect(health.status).toBe(200);
    expect(health.peer).toBe(serverA.fingerprint256);
    const res = await httpsRequest(`${s.url}/webhook`, { ...webhook, ca: ca.certPem, body: JSON.stringify(firingPayload()) });
    expect(res.status).toBe(202);
    await s.t.pipeline.wait(JSON.parse(res.body).id);
    // the same port does not answer plain HTTP
    await expect(fetch(`${s.url.replace('https:', 'http:')}/healthz`, { signal: AbortSignal.timeout(5_000) })).rejects.toThrow();
    // nor a client that does not trust the issuer
    await expect(httpsRequest(`${s.url}/healthz`, { ca: foreignCa.certPem })).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });
});

describe('server.tls.clientCaFile: mutual TLS', () => {
  let s: { t: T; url: string };
  beforeAll(async () => {
    s = await start({ ...writePair(dir, 'mtls', serverA), clientCaFile: caFile });
  });
  afterAll(() => s.t.app.close());

  const admitted = () => s.t.log.records().filter((r) => r.msg === 'notification admitted').length;

  test('a client certificate from the client CA is accepted and its webhook admitted', async () => {
    const before = admitted();
    const res = await httpsRequest(`${s.url}/webhook`, {
      ...webhook,
      ca: ca.certPem,
      cert: client.certPem,
      key: client.keyPem,
      body: JSON.stringify(firingPayload()),
    });
    expect(res.status).toBe(202);
    expect(res.peer).toBe(serverA.fingerprint256);
    expect(admitted()).toBe(before + 1);
  });

  test('no client certificate, or one from another CA, is refused at the handshake: no HTTP reaches the app', async () => {
    const before = admitted();
    // first a TCP connection closed before any TLS byte (kubelet's tcpSocket probe): not a refusal, not logged
    const port = Number(new URL(s.url).port);
    await new Promise<void>((resolve, reject) => {
      const sock = connect(port, '127.0.0.1', () => sock.end());
      sock.on('close', () => resolve()).on('error', reject);
    });
    const body = JSON.stringify({ ...firingPayload(), groupKey: 'refused' });
    // TLS 1.3: the server's alert arrives after the client's Finished, so the request fails on its first read
    const none = await caught(httpsRequest(`${s.url}/webhook`, { ...webhook, ca: ca.certPem, body }));
    expect(String(none.code)).toMatch(/CERTIFICATE_REQUIRED|ECONNRESET/);
    const foreign = await caught(
      httpsRequest(`${s.url}/webhook`, { ...webhook, ca: ca.certPem, cert: foreignClient.certPem, key: foreignClient.keyPem, body }),
    );
    expect(String(foreign.code)).toMatch(/UNKNOWN_CA|ECONNRESET/);
    expect(admitted()).toBe(before);
    const refused = await until('the refusal logged', () => s.t.log.records().find((r) => r.msg === 'TLS handshake refused'));
    expect(refused).toMatchObject({ level: 40, remoteAddress: '127.0.0.1' });
    // the first refusal logged is the certificate's, not the TCP probe before it
    expect(String(refused.reason)).toMatch(/CERTIFICATE/);
  });
});

describe('reloading the files (what SIGHUP calls)', () => {
  test('new connections get the new certificate while a request in flight on the old one completes; a bad file then keeps it', async () => {
    const files = writePair(dir, 'reload', serverA);
    const s = await start(files);
    try {
      expect(s.t.tls?.current().fingerprint256).toBe(serverA.fingerprint256);
      const body = JSON.stringify(firingPayload());
      const half = Math.floor(body.length / 2);
      const inFlight = await openHttpsRequest(
        `${s.url}/webhook`,
        { ...webhook, headers: { ...webhook.headers, 'content-length': String(Buffer.byteLength(body)) }, ca: ca.certPem },
        body.slice(0, half),
      );
      expect(inFlight.peer).toBe(serverA.fingerprint256);

      writePair(dir, 'reload', serverB);
      expect(await s.t.tls!.reload()).toBe(true);
      expect((await httpsRequest(`${s.url}/healthz`, { ca: ca.certPem })).peer).toBe(serverB.fingerprint256);
      expect(s.t.log.records().find((r) => r.msg === 'TLS certificate reloaded')).toMatchObject({
        previous: serverA.fingerprint256,
        tls: { fingerprint256: serverB.fingerprint256 },
      });

      // the connection accepted before the reload is still open: its request completes and its run finishes
      const done = await inFlight.finish(body.slice(half));
      expect(done.status).toBe(202);
      expect(done.peer).toBe(serverA.fingerprint256);
      expect(await s.t.pipeline.wait(JSON.parse(done.body).id)).toMatchObject({ status: 'firing' });

      // a key that is not the certificate's: refused, B kept, the error names the key and path, not the key
      writeFileSync(files.keyFile, serverA.keyPem);
      expect(await s.t.tls!.reload()).toBe(false);
      const failed = s.t.log.records().find((r) => r.msg === 'TLS reload failed: keeping the certificate in use');
      expect(failed).toMatchObject({ level: 50, key: 'server.tls.keyFile', path: files.keyFile, kept: serverB.fingerprint256 });
      expect(String(failed!.err)).toContain('does not match the certificate');
      // a missing certificate file: the same
      rmSync(files.certFile);
      expect(await s.t.tls!.reload()).toBe(false);
      expect((await httpsRequest(`${s.url}/healthz`, { ca: ca.certPem })).peer).toBe(serverB.fingerprint256);
      expect(s.t.tls!.current().fingerprint256).toBe(serverB.fingerprint256);
      expect(s.t.log.lines.join('')).not.toContain(keyBody(serverA));
      expect(s.t.log.lines.join('')).not.toContain(keyBody(serverB));
    } finally {
      await s.t.app.close();
    }
  });
});

describe('loadTlsMaterial: a clear error naming the key and the path, never the contents', () => {
  const good = writePair(dir, 'good', serverA);
  const errorOf = async (cfg: { certFile: string; keyFile: string; clientCaFile?: string }): Promise<TlsFileError> => {
    const e = await caught(loadTlsMaterial(cfg));
    expect(e).toBeInstanceOf(TlsFileError);
    expect(e.message).not.toContain(keyBody(serverA));
    return e as TlsFileError;
  };
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  test('the good pair loads, with what may be logged', async () => {
    const m = await loadTlsMaterial({ ...good, clientCaFile: caFile });
    expect(m.summary).toMatchObject({
      subject: 'CN=pagefirst-a',
      issuer: 'CN=pagefirst test CA',
      fingerprint256: serverA.fingerprint256,
      chainLength: 1,
      clientCas: 1,
    });
    expect(m.warnings).toEqual([]);
    // logged by mistake, the material shows no key
    expect(JSON.stringify(m)).not.toContain(keyBody(serverA));
  });

  test('missing, a directory, unreadable', async () => {
    const missing = join(dir, 'nope.crt');
    expect((await errorOf({ ...good, certFile: missing })).message).toBe(`server.tls.certFile (${missing}): no such file`);
    const sub = join(dir, 'a-dir');
    mkdirSync(sub, { recursive: true });
    expect((await errorOf({ ...good, keyFile: sub })).message).toBe(`server.tls.keyFile (${sub}): is a directory, not a PEM file`);
    expect((await errorOf({ ...good, clientCaFile: missing })).key).toBe('server.tls.clientCaFile');
    if (process.getuid?.() !== 0) {
      const locked = file('locked.key', serverA.keyPem);
      chmodSync(locked, 0o000);
      expect((await errorOf({ ...good, keyFile: locked })).message).toContain('permission denied');
    } // as root every file is readable: the permission case is then the test of the code path above only
  });

  test('not PEM, a damaged certificate, a certificate where the key belongs, an empty CA file', async () => {
    expect((await errorOf({ ...good, certFile: file('junk.crt', 'hello') })).message).toMatch(
      /^server\.tls\.certFile \(.*junk\.crt\): no PEM certificate in it/,
    );
    const damaged = serverA.certPem.replace(/\n[A-Za-z0-9+/]{10}/, '\nAAAAAAAAAA');
    expect((await errorOf({ ...good, certFile: file('damaged.crt', damaged) })).message).toContain('certificate 1 of 1 is not a valid X.509 certificate');
    expect((await errorOf({ ...good, keyFile: file('cert-as-key.key', serverA.certPem) })).message).toContain('no PEM private key in it');
    const badKey = serverA.keyPem.replace(/\n[A-Za-z0-9+/]{8}/, '\n!!!!!!!!');
    const e = await errorOf({ ...good, keyFile: file('bad.key', badKey) });
    expect(e.message).toMatch(/^server\.tls\.keyFile \(.*bad\.key\): not a valid PRIVATE KEY/);
    expect((await errorOf({ ...good, clientCaFile: file('empty-ca.crt', '') })).message).toContain('server.tls.clientCaFile');
  });

  test('a key that does not match the certificate; an encrypted key', async () => {
    const other = writePair(dir, 'other', serverB);
    const e = await errorOf({ ...good, keyFile: other.keyFile });
    expect(e.message).toBe(
      `server.tls.keyFile (${other.keyFile}): does not match the certificate in server.tls.certFile (${good.certFile}, SHA-256 ${serverA.fingerprint256}); the key must be the one the certificate was issued for`,
    );
    const encrypted = createPrivateKey(serverA.keyPem)
      .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'hunter2-passphrase' })
      .toString();
    const enc = await errorOf({ ...good, keyFile: file('enc.key', encrypted) });
    expect(enc.message).toContain('is encrypted: pagefirst takes no passphrase');
  });

  test('an expired certificate loads with a warning (the operator sees it in the log)', async () => {
    const old = ca.issue('old', 'server', { notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    const m = await loadTlsMaterial(writePair(dir, 'old', old));
    expect(m.warnings).toEqual([expect.stringMatching(/the certificate expired at \d{4}-/)]);
  });

  test('buildApp stops on a bad file before opening anything', async () => {
    const e = await caught(testApp({ server: { auth: { token: 'test-token-0123456789abcdef' }, tls: { ...good, certFile: join(dir, 'absent.crt') } } }));
    expect(e).toBeInstanceOf(TlsFileError);
  });
});
