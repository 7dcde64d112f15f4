/**
 * A fake Docker Engine on a unix socket, speaking the real API for container logs
 * (moby api/swagger.yaml: ContainerInspect, ContainerLogs, "Stream format"):
 * - `GET /v<ver>/containers/{name}/json` → `{Id, Name, Config: {Tty}}`, 404 `{"message":"No such container: x"}`;
 * - `GET /v<ver>/containers/{name}/logs` → the last `tail` entries, `timestamps=1` prefixes
 *   RFC3339Nano; multiplexed 8-byte frames for non-TTY containers, raw bytes for TTY ones;
 *   it rejects what Docker rejects (no stream chosen: 400; an unsupported API version: 400;
 *   an unprefixed path is answered as "page not found" here to force the version prefix);
 * - frames are written in pieces cut at arbitrary byte offsets (inside headers, payloads and
 *   UTF-8 characters), each piece its own HTTP chunk, so clients must reassemble.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

export interface FakeLogEntry {
  /** 1 stdout, 2 stderr */
  stream: 1 | 2;
  /** RFC3339Nano, e.g. 2026-11-27T06:52:26.123456789Z */
  time: string;
  /** The payload; a newline is added unless `partial`. */
  text: string;
  partial?: boolean;
}

export interface FakeContainer {
  tty: boolean;
  entries: FakeLogEntry[];
}

export interface FakeDockerEngine {
  socketPath: string;
  containers: Map<string, FakeContainer>;
  requests: string[];
  /** Bytes per written piece (default: a pattern of small cuts). */
  pieceSizes: number[];
  close(): Promise<void>;
}

const MIN_API = [1, 24];
const MAX_API = [1, 47];

function frame(stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(payload.length, 4);
  return Buffer.concat([h, payload]);
}

export async function startFakeDockerEngine(): Promise<FakeDockerEngine> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pagefirst-docker-'));
  const socketPath = path.join(dir, 'docker.sock');
  const containers = new Map<string, FakeContainer>();
  const requests: string[] = [];
  const fake: FakeDockerEngine = { socketPath, containers, requests, pieceSizes: [3, 1, 7, 2, 13, 5, 64, 1, 9], close: async () => {} };

  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const serve = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    requests.push(req.url ?? '');
    const url = new URL(req.url ?? '/', 'http://docker');
    const m = /^\/v(\d+)\.(\d+)(\/.*)$/.exec(url.pathname);
    if (!m) return json(res, 404, { message: 'page not found' });
    const ver = [Number(m[1]), Number(m[2])];
    const cmp = (a: number[], b: number[]) => a[0]! - b[0]! || a[1]! - b[1]!;
    if (cmp(ver, MAX_API) > 0)
      return json(res, 400, { message: `client version ${m[1]}.${m[2]} is too new. Maximum supported API version is ${MAX_API.join('.')}` });
    if (cmp(ver, MIN_API) < 0)
      return json(res, 400, { message: `client version ${m[1]}.${m[2]} is too old. Minimum supported API version is ${MIN_API.join('.')}` });
    const route = /^\/containers\/([^/]+)\/(json|logs)$/.exec(m[3]!);
    if (!route || req.method !== 'GET') return json(res, 404, { message: 'page not found' });
    const name = decodeURIComponent(route[1]!);
    const c = containers.get(name);
    if (!c) return json(res, 404, { message: `No such container: ${name}` });
    if (route[2] === 'json')
      return json(res, 200, { Id: 'c0ffee'.repeat(10) + 'abcd', Name: `/${name}`, Config: { Tty: c.tty, Image: 'api:latest' }, State: { Running: true } });

    const flag = (k: string) => ['1', 'true'].includes(url.searchParams.get(k) ?? '');
    const wantOut = flag('stdout');
    const wantErr = flag('stderr');
    if (!wantOut && !wantErr) return json(res, 400, { message: 'Bad parameters: you must choose at least one stream' });
    const tailParam = url.searchParams.get('tail') ?? 'all';
    let entries = c.entries.filter((e) => (e.stream === 1 ? wantOut : wantErr));
    if (tailParam !== 'all') {
      const n = Number(tailParam);
      if (Number.isInteger(n) && n >= 0) entries = entries.slice(Math.max(0, entries.length - n));
    }
    const ts = flag('timestamps');
    const payloads = entries.map((e) => ({ stream: e.stream, bytes: Buffer.from(`${ts ? `${e.time} ` : ''}${e.text}${e.partial ? '' : '\n'}`, 'utf8') }));
    // a non-TTY payload may span frames: split the long ones in two frames mid-line
    const body = c.tty
      ? Buffer.concat(payloads.map((p) => p.bytes))
      : Buffer.concat(
          payloads.flatMap((p) =>
            p.bytes.length > 20 ? [frame(p.stream, p.bytes.subarray(0, 11)), frame(p.stream, p.bytes.subarray(11))] : [frame(p.stream, p.bytes)],
          ),
        );
    res.writeHead(200, { 'Content-Type': c.tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream' });
    let off = 0;
    let i = 0;
    while (off < body.length) {
      const size = fake.pieceSizes[i++ % fake.pieceSizes.length]!;
      res.write(body.subarray(off, off + size));
      off += size;
      if (i % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    res.end();
  };
  const server = http.createServer((req, res) => void serve(req, res));
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  fake.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => {
        fs.rmSync(dir, { recursive: true, force: true });
        resolve();
      });
    });
  return fake;
}
