import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** Every document a comment cites lives in the repository (docs/reference/, docs/contract.md), not in a folder beside it. */
const ROOT = path.resolve(__dirname, '../..');
const files = execFileSync('git', ['ls-files', 'src', 'test', 'demo', 'bench', 'deploy', 'scripts'], { cwd: ROOT, encoding: 'utf8' })
  .split('\n')
  .filter((f) => /\.(ts|mjs|js|ya?ml|sh)$/.test(f) && f !== 'test/lint/cited-docs.test.ts');

describe('documents cited in code', () => {
  it('are not outside the repository (../shared, REFERENCE.md, CONTRACT.md, SETUP.md)', () => {
    const outside = files.flatMap((f) =>
      fs
        .readFileSync(path.join(ROOT, f), 'utf8')
        .split('\n')
        .map((line, i) => [line, i] as const)
        .filter(([line]) => /\.\.\/shared\/|\b(REFERENCE|CONTRACT|SETUP|STYLE)\.md\b/.test(line))
        .map(([, i]) => `${f}:${i + 1}`),
    );
    expect(outside).toEqual([]);
  });

  // Our own docs are docs/*.md and docs/reference/*.md; deeper docs/ paths are upstream repositories' (cited with their name).
  it('exist where a docs/ path is named', () => {
    const cited = new Set(
      files.flatMap((f) => [...fs.readFileSync(path.join(ROOT, f), 'utf8').matchAll(/\bdocs\/(?:reference\/)?[\w-]+\.md\b/g)].map((m) => m[0])),
    );
    expect(cited.size).toBeGreaterThan(5);
    expect([...cited].filter((d) => !fs.existsSync(path.join(ROOT, d)))).toEqual([]);
  });
});
