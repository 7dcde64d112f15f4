import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** The checkout: the nearest folder above this file with a package.json (also from the compiled bench). */
export const ROOT = (() => {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json')) || existsSync(join(dir, 'tsconfig.bench.json')) === false) dir = dirname(dir);
  return dir;
})();

/** Builds dist/ (or with 'demo', .demo-dist/) if it is missing or stale: the child-process tests run the built code. */
export function ensureBuilt(what: 'service' | 'demo' = 'service'): void {
  execFileSync(process.execPath, [join(ROOT, 'scripts/ensure-build.mjs'), ...(what === 'demo' ? ['--demo'] : [])], { cwd: ROOT, stdio: 'inherit' });
}

export interface ServerProcess {
  child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** The base URL once it logs "listening". */
  url: string;
  /** Resolves with the exit code (or signal) when it exits. */
  exited: Promise<number | string>;
}

/**
 * Starts `node dist/server.js` with `args` and `env` (PORT=0 unless given) and waits for its
 * "listening" log line. Rejects with its output if it exits first or does not listen in time.
 */
export async function startServer(args: string[], env: Record<string, string>, timeoutMs = 15_000, cwd = ROOT): Promise<ServerProcess> {
  const child = spawn(process.execPath, [join(ROOT, 'dist/server.js'), ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (out += b));
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not listen within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const onData = () => {
      const m = out.match(/"address":"(https?:\/\/[^"]+)"[^\n]*"msg":"listening"/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout.on('data', onData);
    void exited.then((c) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${c}) before listening:\n${out}`));
    });
  });
  return { child, output: () => out, url, exited };
}

/** Runs `node dist/server.js` expecting it to exit; returns its code and output. */
export async function runServerToExit(args: string[], env: Record<string, string>): Promise<{ code: number | string; output: string }> {
  const child = spawn(process.execPath, [join(ROOT, 'dist/server.js'), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (out += b));
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const [code, signal] = await once(child, 'exit');
  clearTimeout(timer);
  return { code: (code ?? signal) as number | string, output: out };
}

/**
 * A receiver config file in a fresh temp dir: a bearer token, 127.0.0.1, state in that dir, then
 * `lines` (YAML flow lines). Returns the dir, the state file and the config file.
 */
export function receiverConfig(prefix: string, token: string, lines: string[]): { dir: string; state: string; config: string } {
  const dir = mkdtempSync(join(tmpdir(), `pagefirst-${prefix}-`));
  const state = join(dir, 'state.sqlite');
  const config = join(dir, 'config.yml');
  writeFileSync(config, [`server: { auth: { token: "${token}" }, host: 127.0.0.1 }`, `state: { path: "${state}" }`, ...lines].join('\n'));
  return { dir, state, config };
}
