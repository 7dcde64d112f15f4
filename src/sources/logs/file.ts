import fs from 'node:fs/promises';
import type { LogSource } from '../config';
import { parseLeadingTimestamp } from './time';
import { capLine, LogSourceError, MAX_READ_BYTES, splitLeadingTimestamp, withTimeout, type LogLine, type LogReader } from './types';

/**
 * The last lines of a plain log file, read backwards in blocks from the end: never the whole
 * file, never more than `maxBytes`.
 */

type FileSource = Extract<LogSource, { file: unknown }>;

/** Block size of the backwards read. */
export const TAIL_BLOCK_BYTES = 64 * 1024;

/**
 * Reads the last `n` complete lines of `path` (a last line without a newline counts), going
 * backwards block by block until it has seen the newline before them, reaches the start, or has read
 * `maxBytes` (then the oldest, partial line is dropped). Returns the lines oldest first and the
 * bytes read. Throws the fs error (ENOENT, EACCES, EISDIR...).
 */
export async function readLastLines(
  path: string,
  n: number,
  opts: { signal?: AbortSignal; maxBytes?: number } = {},
): Promise<{ lines: string[]; bytesRead: number }> {
  const maxBytes = opts.maxBytes ?? MAX_READ_BYTES;
  const fh = await fs.open(path, 'r');
  try {
    const { size } = await fh.stat();
    const blocks: Buffer[] = [];
    let pos = size;
    let newlines = 0;
    let bytesRead = 0;
    let skipTrailing = -1; // a final "\n" ends the last line, it does not start a new one
    while (pos > 0 && bytesRead < maxBytes) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      const len = Math.min(TAIL_BLOCK_BYTES, pos, maxBytes - bytesRead);
      pos -= len;
      const buf = Buffer.alloc(len);
      const { bytesRead: got } = await fh.read(buf, 0, len, pos);
      bytesRead += got;
      const block = buf.subarray(0, got);
      blocks.unshift(block);
      if (skipTrailing < 0) skipTrailing = pos + got === size && block[got - 1] === 0x0a ? 1 : 0;
      for (let i = 0; i < got; i++) if (block[i] === 0x0a) newlines++;
      if (newlines - skipTrailing >= n) break;
    }
    let text = Buffer.concat(blocks).toString('utf8');
    if (text.endsWith('\n')) text = text.slice(0, -1);
    if (text === '') return { lines: [], bytesRead };
    let lines = text.split('\n');
    // the first piece is a whole line only when we reached the start of the file
    if (pos > 0) lines = lines.slice(1);
    return { lines: lines.slice(-n).map((l) => l.replace(/\r$/, '')), bytesRead };
  } finally {
    await fh.close();
  }
}

/**
 * Parses a time from a line: a leading ISO-8601 timestamp (then cut from the text, as Docker's
 * are), or a JSON line's time/timestamp/ts/@timestamp (epoch seconds or milliseconds, or ISO).
 * A time written without a zone is a wall-clock time in `zone`; `zoneless` says so.
 */
export function lineTime(line: string, zone = 'UTC'): { time: string | null; text: string; zoneless: boolean } {
  const lead = splitLeadingTimestamp(line, zone);
  if (lead.time) return { time: lead.time, text: lead.rest, zoneless: lead.zoneless };
  if (line.startsWith('{')) {
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      for (const k of ['time', 'timestamp', 'ts', '@timestamp']) {
        const v = o[k];
        if (typeof v === 'number' && Number.isFinite(v)) return { time: new Date(v < 1e12 ? v * 1000 : v).toISOString(), text: line, zoneless: false };
        if (typeof v === 'string') {
          const t = parseLeadingTimestamp(v, zone);
          if (t) return { time: new Date(t.ms).toISOString(), text: line, zoneless: !t.zoned };
          const other = Date.parse(v); // RFC 2822 and the like, as Date.parse reads them
          if (!Number.isNaN(other)) return { time: new Date(other).toISOString(), text: line, zoneless: false };
        }
      }
    } catch {
      // not JSON
    }
  }
  return { time: null, text: line, zoneless: false };
}

/** Creates the reader for a `file:` log source. Errors: "file not found", not readable. */
export function createFileLogReader(source: FileSource): LogReader {
  return {
    name: source.name,
    kind: 'file',
    async read(opts) {
      const { signal, timedOut } = withTimeout(opts.signal, source.timeoutMs);
      try {
        const { lines, bytesRead } = await readLastLines(source.file.path, source.tail, { signal });
        let zoneless = 0;
        const out: LogLine[] = lines.map((raw) => {
          const line = capLine(raw);
          const l = lineTime(line, source.timezone);
          if (l.zoneless) zoneless++;
          return l.text === line ? { time: l.time, text: l.text } : { time: l.time, text: l.text, raw: line };
        });
        return { lines: out, scanned: out.length, bytesRead, zoneless };
      } catch (e) {
        if (timedOut()) throw new LogSourceError(`reading the log file took longer than ${source.timeoutMs} ms`, true);
        if (opts.signal.aborted) throw opts.signal.reason;
        const code = (e as { code?: string }).code;
        if (code === 'ENOENT') throw new LogSourceError(`file not found: ${source.file.path}`);
        throw new LogSourceError(`cannot read ${source.file.path}: ${code ?? (e as Error).message}`);
      }
    },
  };
}
