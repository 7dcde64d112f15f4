// Builds dist/ when it is missing or older than src/, so `npm start` works right after `npm ci`.
// With --demo, builds .demo-dist/ (the demo, outside the service's dist/) when older than demo/ or src/.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
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
const out = demo ? '.demo-dist/demo/run.js' : 'dist/server.js';
const sources = demo ? Math.max(newest('src'), newest('demo')) : newest('src');
if (!existsSync(out) || statSync(out).mtimeMs < sources) {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', demo ? 'tsconfig.demo.json' : 'tsconfig.build.json'], { stdio: 'inherit' });
}
