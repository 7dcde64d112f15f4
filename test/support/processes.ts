import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Real server binaries for tests: a free port, a temp dir, a log file, readiness polling, and
 * stop by PID (SIGTERM, then SIGKILL). Every child still running when the test process exits is
 * killed by its PID.
 */

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running)
    if (c.pid && c.exitCode === null)
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
});

/** A TCP port free on 127.0.0.1 right now (bind to 0, read it, release it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A fresh temp dir under the OS temp dir. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `pagefirst-${prefix}-`));
}

export interface ServerProcess {
  readonly pid: number;
  readonly url: string;
  readonly dir: string;
  /** The process' combined stdout/stderr so far. */
  logs(): string;
  /** SIGTERM by PID, SIGKILL after `graceMs`, then removes its temp dir. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Spawns `bin` with `args(port)` on a free port and waits until `GET url + readyPath` answers 200
 * (or throws with the log tail when the process exits or `timeoutMs` passes). Retries a few
 * times when another process took the port first.
 */
export async function startServerProcess(opts: {
  name: string;
  bin: string;
  dir: string;
  args: (port: number) => string[];
  readyPath: string;
  timeoutMs?: number;
}): Promise<ServerProcess> {
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const logPath = join(opts.dir, `${opts.name}-${attempt}.log`);
    const fd = openSync(logPath, 'w');
    const child = spawn(opts.bin, opts.args(port), { stdio: ['ignore', fd, fd], cwd: opts.dir });
    closeSync(fd);
    running.add(child);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.once('exit', () => running.delete(child));
    const url = `http://127.0.0.1:${port}`;
    const logs = () => {
      try {
        return readFileSync(logPath, 'utf8');
      } catch {
        return '';
      }
    };
    let stopped = false;
    const stop = async (graceMs = 5_000) => {
      if (!stopped) {
        stopped = true;
        if (child.exitCode === null && child.signalCode === null && child.pid) {
          try {
            process.kill(child.pid, 'SIGTERM');
          } catch {
            /* already gone */
          }
          const t = setTimeout(() => {
            try {
              process.kill(child.pid!, 'SIGKILL');
            } catch {
              /* gone */
            }
          }, graceMs);
          await exited;
          clearTimeout(t);
        }
      }
      rmSync(opts.dir, { recursive: true, force: true });
    };
    const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
    let ready = false;
    while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
      try {
        const res = await fetch(url + opts.readyPath, { signal: AbortSignal.timeout(1_000) });
        if (res.status === 200) {
          ready = true;
          break;
        }
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (ready) return { pid: child.pid!, url, dir: opts.dir, logs, stop };
    const tail = logs().split('\n').slice(-15).join('\n');
    if (child.exitCode === null && child.pid) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      await exited;
    }
    lastError = new Error(`${opts.name} did not become ready on port ${port}:\n${tail}`);
    if (!/address already in use/i.test(tail)) break;
  }
  rmSync(opts.dir, { recursive: true, force: true });
  throw lastError!;
}
