/**
 * `npm run demo` as a user runs it: `node .demo-dist/demo/run.js` (built by `npm run build:demo`) as a child process. It must print a
 * diagnostic naming the induced cause and leave no process and no temp dir behind, also when it
 * is interrupted (Ctrl-C) halfway.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { ensureBuilt } from '../support/process';

const ROOT = path.join(__dirname, '..', '..');

beforeAll(() => ensureBuilt('demo'), 120_000);

interface DemoRun {
  code: number | string;
  stdout: string;
  stderr: string;
}

/** Runs the demo; `interruptWhen` sends SIGINT once stderr matches it. */
async function runDemo(args: string[], opts: { env?: Record<string, string>; interruptWhen?: RegExp; timeoutMs?: number } = {}): Promise<DemoRun> {
  const child = spawn(process.execPath, [path.join(ROOT, '.demo-dist/demo/run.js'), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let interrupted = false;
  child.stdout.on('data', (b) => (stdout += b));
  child.stderr.on('data', (b) => {
    stderr += b;
    if (opts.interruptWhen && !interrupted && opts.interruptWhen.test(stderr)) {
      interrupted = true;
      child.kill('SIGINT');
    }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 100_000);
  const [code, signal] = await once(child, 'exit');
  clearTimeout(timer);
  return { code: (code ?? signal) as number | string, stdout, stderr };
}

/** PIDs the demo said it started ("pid N") and its temp dir ("working in DIR"). */
function startedBy(run: DemoRun): { pids: number[]; dir: string } {
  const pids = [...run.stderr.matchAll(/\bpid (\d+)/g)].map((m) => Number(m[1]));
  const dir = run.stderr.match(/working in (\S+)/)?.[1] ?? '';
  return { pids: [...new Set(pids)], dir };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('--scenario leak prints the diagnostic naming connection_leak first, then stops everything it started', async () => {
  const run = await runDemo(['--scenario', 'leak']);
  expect({ code: run.code, stderr: run.stderr }).toMatchObject({ code: 0 });
  expect(run.stdout).toMatch(/^Most likely: Connection leak/m);
  expect(run.stdout).toMatch(/^ {2}1\. Connection leak \[connection_leak\]/m);
  expect(run.stdout).toMatch(/SELECT pg_terminate_backend\(\d+\);/);
  const { pids, dir } = startedBy(run);
  expect(pids.length).toBeGreaterThanOrEqual(2); // PostgreSQL and the backend at least
  expect(pids.filter(alive)).toEqual([]);
  expect(dir).toMatch(/pagefirst-demo-/);
  expect(fs.existsSync(dir)).toBe(false);
  expect(run.stderr).toMatch(/stopped everything it started/);
}, 120_000);

test('Ctrl-C halfway stops everything it started and exits 130', async () => {
  const run = await runDemo(['--scenario', 'lock', '--no-monitoring'], { interruptWhen: /demo backend on / });
  expect(run.code).toBe(130);
  const { pids, dir } = startedBy(run);
  expect(pids.length).toBeGreaterThanOrEqual(2);
  expect(pids.filter(alive)).toEqual([]);
  expect(fs.existsSync(dir)).toBe(false);
}, 60_000);

test('a bad flag is named with the usage', async () => {
  const run = await runDemo(['--scenario', 'bogus']);
  expect(run.code).toBe(2);
  expect(run.stderr).toContain('--scenario must be one of leak, slow, lock, traffic, down');
  expect(run.stderr).toContain('npm run demo --');
}, 30_000);
