import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const EXEC_TIMEOUT_MS = 20_000;

/** The Prometheus/Alertmanager tools (promtool, amtool): CI installs them (.ci/run); a missing one fails the test, never skips it. */
export function tool(name: string): string {
  const p = path.join('/usr/bin', name);
  if (!fs.existsSync(p)) throw new Error(`${p} is missing: install prometheus and prometheus-alertmanager (Debian packages; .ci/run does)`);
  return p;
}

/** Runs a tool; resolves to its stdout and stderr together (or stdout alone), throws with both on a non-zero exit. */
export async function check(cmd: string, args: string[], stdoutOnly = false): Promise<string> {
  try {
    const r = await run(tool(cmd), args, { timeout: EXEC_TIMEOUT_MS });
    return stdoutOnly ? r.stdout : `${r.stdout}${r.stderr}`;
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed:\n${x.stdout ?? ''}${x.stderr ?? ''}${x.message}`, { cause: e });
  }
}
