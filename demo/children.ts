import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** After SIGTERM, a child gets this long before SIGKILL. */
export const CHILD_STOP_GRACE_MS = 10_000;
/** Polling interval while waiting for a child to become ready. */
const READY_POLL_MS = 100;

/** A process `npm run demo` started: stopped by its PID, never by name. */
export interface DemoChild {
  name: string;
  pid: number;
  /** Its stdout and stderr so far (also appended to `logFile` when given). */
  output(): string;
  /** Resolves when it has exited. */
  readonly exited: Promise<void>;
  /** SIGTERM, then SIGKILL after CHILD_STOP_GRACE_MS; resolves once it has exited. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Spawns `bin args` with its output captured (and appended to `logFile`). The child is killed
 * (SIGKILL) if this process exits without stopping it. Throws when it cannot be spawned.
 */
export function spawnChild(name: string, bin: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; logFile?: string } = {}): DemoChild {
  const child: ChildProcess = spawn(bin, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const log = opts.logFile ? fs.openSync(opts.logFile, 'a') : undefined;
  const onData = (b: Buffer) => {
    out = (out + b.toString()).slice(-64_000);
    if (log !== undefined) fs.writeSync(log, b);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (e) => {
      out += `\n${name}: ${e.message}\n`;
      resolve();
    });
  });
  void exited.then(() => log !== undefined && fs.closeSync(log));
  const killOnExit = () => {
    if (child.pid && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  };
  process.once('exit', killOnExit);
  let stopping: Promise<void> | undefined;
  return {
    name,
    pid: child.pid ?? -1,
    output: () => out,
    exited,
    stop: () =>
      (stopping ??= (async () => {
        process.removeListener('exit', killOnExit);
        if (!child.pid || child.exitCode !== null || child.signalCode !== null) return;
        try {
          process.kill(child.pid, 'SIGTERM');
        } catch {
          return;
        }
        const t = setTimeout(() => child.pid && child.exitCode === null && child.kill('SIGKILL'), CHILD_STOP_GRACE_MS);
        await exited;
        clearTimeout(t);
      })()),
  };
}

/** Resolves once `probe` returns a value; throws with the child's output tail when it exits first or `timeoutMs` passes. */
export async function waitFor<T>(child: DemoChild, what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let gone = false;
  void child.exited.then(() => (gone = true));
  while (Date.now() < deadline) {
    const v = await probe();
    if (v !== undefined) return v;
    if (gone) break;
    await new Promise((r) => setTimeout(r, READY_POLL_MS));
  }
  const tail = child.output().split('\n').slice(-15).join('\n');
  throw new Error(`${child.name} ${gone ? 'exited before it was' : 'was not'} ${what} within ${timeoutMs} ms:\n${tail}`);
}

/** GET `url` answers 200 (one second per attempt), else undefined. */
export async function answers200(url: string): Promise<true | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    await res.arrayBuffer();
    return res.status === 200 ? true : undefined;
  } catch {
    return undefined;
  }
}

/** The first of `names` that is an executable file: absolute paths as given, others looked up in PATH. */
export function findExecutable(names: Array<string | undefined>): string | undefined {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const n of names) {
    if (!n) continue;
    const candidates = path.isAbsolute(n) ? [n] : dirs.map((d) => path.join(d, n));
    for (const c of candidates) {
      try {
        fs.accessSync(c, fs.constants.X_OK);
        if (fs.statSync(c).isFile()) return c;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}
