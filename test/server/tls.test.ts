import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firingPayload } from '../support/fixtures';
import { httpsRequest, openHttpsRequest } from '../support/https-client';
import { createTestCa, writePair } from '../support/pki';
import { ensureBuilt, runServerToExit, startServer, type ServerProcess } from '../support/process';
import { until } from '../support/wait';

/** The built server process with `server.tls`: a bad file stops the start; SIGHUP swaps the certificate. */

const TOKEN = 'tls-token-0123456789abcdef';
const ca = createTestCa('pagefirst test CA');
const serverA = ca.issue('pagefirst-a', 'server');
const serverB = ca.issue('pagefirst-b', 'server');
const client = ca.issue('alertmanager', 'client');
const keyBody = (pem: string) => pem.split('\n')[1]!;

let proc: ServerProcess | undefined;
const dirs: string[] = [];
beforeAll(() => ensureBuilt(), 120_000);
afterEach(async () => {
  if (proc && proc.child.exitCode === null && proc.child.signalCode === null) {
    proc.child.kill('SIGKILL');
    await proc.exited;
  }
  proc = undefined;
});
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A receiver config (JSON is YAML) in a fresh temp dir with `server.tls` from `tls(dir)`. */
function configWith(prefix: string, tls: (dir: string) => object): { dir: string; config: string } {
  const dir = mkdtempSync(join(tmpdir(), `pagefirst-${prefix}-`));
  dirs.push(dir);
  const config = join(dir, 'config.yml');
  const server = { auth: { token: TOKEN }, host: '127.0.0.1', tls: tls(dir) };
  writeFileSync(config, `server: ${JSON.stringify(server)}\nstate: { path: ${JSON.stringify(join(dir, 'state.sqlite'))} }\n`);
  return { dir, config };
}

describe('the server process with server.tls', () => {
  test('a key that does not match the certificate stops the start (exit 1) with the key and path named, no plain HTTP, no key material', async () => {
    let files!: { certFile: string; keyFile: string };
    const c = configWith('tls-bad', (d) => {
      const a = writePair(d, 'a', serverA);
      const b = writePair(d, 'b', serverB);
      files = { certFile: a.certFile, keyFile: b.keyFile };
      return files;
    });
    const r = await runServerToExit(['--config', c.config], {});
    expect(r.code).toBe(1);
    expect(r.output).toContain(`server.tls.keyFile (${files.keyFile}): does not match the certificate in server.tls.certFile (${files.certFile}`);
    expect(r.output).toContain('cannot start: a server.tls file is not usable');
    expect(r.output).not.toContain('"msg":"listening"');
    expect(r.output).not.toContain(keyBody(serverB.keyPem));
  });

  test('SIGHUP swaps the certificate for new connections while a request in flight completes; a bad file on SIGHUP keeps it', async () => {
    let files!: { certFile: string; keyFile: string };
    const c = configWith('tls-hup', (d) => {
      files = writePair(d, 'server', serverA);
      return { ...files, clientCaFile: writePair(d, 'ca', ca).certFile };
    });
    proc = await startServer(['--config', c.config], {});
    const s = proc;
    expect(s.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(s.output()).toMatch(/"mutualTls":true[^\n]*"msg":"listening"/);
    const mtls = { ca: ca.certPem, cert: client.certPem, key: client.keyPem };
    const body = JSON.stringify(firingPayload());
    const half = Math.floor(body.length / 2);
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
    const inFlight = await openHttpsRequest(`${s.url}/webhook`, { ...mtls, method: 'POST', headers }, body.slice(0, half));
    expect(inFlight.peer).toBe(serverA.fingerprint256);

    writePair(c.dir, 'server', serverB);
    s.child.kill('SIGHUP');
    await until('the reload logged', () => s.output().includes('"msg":"TLS certificate reloaded"'), 10_000);
    expect((await httpsRequest(`${s.url}/healthz`, mtls)).peer).toBe(serverB.fingerprint256);
    const done = await inFlight.finish(body.slice(half));
    expect(done).toMatchObject({ status: 202, peer: serverA.fingerprint256 });
    const { id } = JSON.parse(done.body) as { id: string };
    await until(
      'the run admitted before the reload finished',
      async () => (await httpsRequest(`${s.url}/diagnostics/${id}`, { ...mtls, headers: { authorization: `Bearer ${TOKEN}` } })).status === 200,
      15_000,
      100,
    );

    writeFileSync(files.keyFile, 'not a key');
    s.child.kill('SIGHUP');
    await until('the failed reload logged', () => s.output().includes('"msg":"TLS reload failed: keeping the certificate in use"'), 10_000);
    expect(s.output()).toContain(`"key":"server.tls.keyFile","path":"${files.keyFile}"`);
    expect((await httpsRequest(`${s.url}/healthz`, mtls)).peer).toBe(serverB.fingerprint256);
    expect(s.child.exitCode).toBeNull();

    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(s.output()).not.toContain(keyBody(serverA.keyPem));
    expect(s.output()).not.toContain(keyBody(serverB.keyPem));
  });
});
