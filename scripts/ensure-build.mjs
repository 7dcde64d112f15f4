// Builds dist/ when it is missing or older than src/, so `npm start` works right after `npm ci`.
// With --demo, builds .demo-dist/ (the demo, outside the service's dist/) when older than demo/ or src/.
// With --force, builds whatever the age. The output folder is emptied first: tsc never deletes the
// output of a source file that moved, and a stale dist/core/evidence.js would shadow the
// dist/core/evidence/ folder that replaced it.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}
const demo = process.argv.includes('--demo');
const force = process.argv.includes('--force');
const outDir = demo ? '.demo-dist' : 'dist';
const out = demo ? '.demo-dist/demo/run.js' : 'dist/server.js';
const sources = demo ? Math.max(newest('src'), newest('demo')) : newest('src');
if (force || !existsSync(out) || statSync(out).mtimeMs < sources) {
  rmSync(outDir, { recursive: true, force: true });
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', demo ? 'tsconfig.demo.json' : 'tsconfig.build.json'], { stdio: 'inherit' });
}
