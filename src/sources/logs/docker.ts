import http from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import type { LogSource } from '../config';
import { capLine, LogSourceError, MAX_LINE_CHARS, MAX_READ_BYTES, splitLeadingTimestamp, withTimeout, type LogLine, type LogReader } from './types';

/**
 * Container logs from the Docker Engine API over its unix socket (docs/reference/docker.md):
 * `GET /<ver>/containers/{name}/json` for `Config.Tty`, then
 * `GET /<ver>/containers/{name}/logs?tail=N&stdout=1&stderr=1&timestamps=1`, demultiplexed
 * (8-byte frame headers) unless the container has a TTY (raw stream).
 */

type DockerSource = Extract<LogSource, { docker: unknown }>;

/** Largest `/json` body we accept. */
const MAX_INSPECT_BYTES = 4 * 1024 * 1024;

/**
 * Splits Docker's multiplexed stream (frames of `[stream, 0, 0, 0, size u32 BE]` + payload)
 * into lines per stream. Frames may be split anywhere across chunks and need not end on a line
 * boundary; UTF-8 characters split across frames are joined. Throws on a header that is not a
 * frame header (a TTY stream read as multiplexed).
 */
export class FrameDemuxer {
  private buf: Buffer = Buffer.alloc(0);
  private remaining = 0;
  private stream = 1;
  private readonly decoders = new Map<number, StringDecoder>();
  private readonly partial = new Map<number, string>();

  constructor(private readonly onLine: (line: string, stream: 'stdout' | 'stderr') => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      if (this.remaining === 0) {
        if (this.buf.length < 8) return;
        const type = this.buf[0]!;
        if (type > 2 || this.buf[1] !== 0 || this.buf[2] !== 0 || this.buf[3] !== 0)
          throw new LogSourceError('docker log stream is not multiplexed as expected (bad frame header)');
        this.stream = type === 2 ? 2 : 1; // 0 (stdin) is written on stdout
        this.remaining = this.buf.readUInt32BE(4);
        this.buf = this.buf.subarray(8);
        continue;
      }
      if (this.buf.length === 0) return;
      const take = Math.min(this.remaining, this.buf.length);
      this.text(this.stream, this.decoder(this.stream).write(this.buf.subarray(0, take)));
      this.buf = this.buf.subarray(take);
      this.remaining -= take;
    }
  }

  /** Emits what is left of each stream's last line. */
  end(): void {
    for (const [stream, d] of this.decoders) this.text(stream, d.end());
    for (const [stream, rest] of this.partial) if (rest) this.onLine(rest, stream === 2 ? 'stderr' : 'stdout');
    this.partial.clear();
  }

  private decoder(stream: number): StringDecoder {
    let d = this.decoders.get(stream);
    if (!d) this.decoders.set(stream, (d = new StringDecoder('utf8')));
    return d;
  }

  private text(stream: number, s: string): void {
    if (!s) return;
    const parts = ((this.partial.get(stream) ?? '') + s).split('\n');
    // an endless line is cut, not buffered whole
    this.partial.set(stream, parts.pop()!.slice(0, MAX_LINE_CHARS));
    for (const p of parts) this.onLine(p.replace(/\r$/, ''), stream === 2 ? 'stderr' : 'stdout');
  }
}

/** Lines of a raw (TTY) stream, chunk by chunk. */
class RawLines {
  private readonly decoder = new StringDecoder('utf8');
  private rest = '';
  constructor(private readonly onLine: (line: string) => void) {}
  push(chunk: Buffer): void {
    const parts = (this.rest + this.decoder.write(chunk)).split('\n');
    this.rest = parts.pop()!.slice(0, MAX_LINE_CHARS);
    for (const p of parts) this.onLine(p.replace(/\r$/, ''));
  }
  end(): void {
    const last = this.rest + this.decoder.end();
    if (last) this.onLine(last.replace(/\r$/, ''));
  }
}

interface Get {
  status: number;
  body: Buffer;
  bytes: number;
}

function dockerGet(socketPath: string, path: string, signal: AbortSignal, onChunk?: (c: Buffer) => void, maxBytes = MAX_INSPECT_BYTES): Promise<Get> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path, method: 'GET', headers: { Host: 'docker' }, signal }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      const ok = res.statusCode === 200;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (bytes > maxBytes) {
          // enough: keep what we have
          res.destroy();
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), bytes });
          return;
        }
        try {
          if (ok && onChunk) onChunk(c);
          else chunks.push(c);
        } catch (e) {
          res.destroy();
          reject(e);
        }
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function dockerMessage(body: Buffer): string {
  try {
    const m = (JSON.parse(body.toString('utf8')) as { message?: unknown }).message;
    if (typeof m === 'string') return m.slice(0, 300);
  } catch {
    // not JSON
  }
  return body.toString('utf8').split('\n')[0]!.slice(0, 300);
}

/** Creates the reader for a `docker:` log source. Errors: "container not found", socket unavailable, HTTP status. */
export function createDockerLogReader(source: DockerSource): LogReader {
  const { socket, container, apiVersion } = source.docker;
  const ver = apiVersion.startsWith('v') ? apiVersion : `v${apiVersion}`;
  const base = `/${ver}/containers/${encodeURIComponent(container)}`;
  return {
    name: source.name,
    kind: 'docker',
    async read(opts) {
      const { signal, timedOut } = withTimeout(opts.signal, source.timeoutMs);
      const fail = (e: unknown): never => {
        if (e instanceof LogSourceError) throw e;
        if (timedOut()) throw new LogSourceError(`docker did not answer within ${source.timeoutMs} ms`, true);
        if (opts.signal.aborted) throw opts.signal.reason;
        const code = (e as { code?: string }).code;
        if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES') throw new LogSourceError(`docker socket ${socket} not available (${code})`);
        throw new LogSourceError(`docker request failed: ${code ?? (e as Error).message}`);
      };
      const notOk = (what: string, r: Get): never => {
        if (r.status === 404) throw new LogSourceError(`container not found: ${container}`);
        throw new LogSourceError(`docker ${what} answered HTTP ${r.status}: ${dockerMessage(r.body)}`);
      };
      let tty: boolean;
      try {
        const r = await dockerGet(socket, `${base}/json`, signal);
        if (r.status !== 200) notOk('inspect', r);
        tty = (JSON.parse(r.body.toString('utf8')) as { Config?: { Tty?: boolean } }).Config?.Tty === true;
      } catch (e) {
        return fail(e);
      }
      // the newest lines matter: past MAX_READ_BYTES of text, the oldest are dropped
      let lines: LogLine[] = [];
      let chars = 0;
      let dropped = 0;
      let droppedTotal = 0;
      const add = (raw: string) => {
        const { time, rest } = splitLeadingTimestamp(raw);
        const text = capLine(rest);
        lines.push({ time, text });
        chars += text.length;
        while (chars > MAX_READ_BYTES && dropped < lines.length) {
          chars -= lines[dropped++]!.text.length;
          droppedTotal++;
        }
        if (dropped > 1024) {
          lines = lines.slice(dropped);
          dropped = 0;
        }
      };
      const parser = tty ? new RawLines(add) : new FrameDemuxer((l) => add(l));
      const q = new URLSearchParams({ stdout: '1', stderr: '1', timestamps: '1', tail: String(source.tail) });
      try {
        const r = await dockerGet(socket, `${base}/logs?${q.toString()}`, signal, (c) => parser.push(c), Number.POSITIVE_INFINITY);
        if (r.status !== 200) notOk('logs', r);
        parser.end();
        const kept = lines.slice(dropped);
        return { lines: kept, scanned: kept.length + droppedTotal, bytesRead: r.bytes };
      } catch (e) {
        return fail(e);
      }
    },
  };
}
