import { spawnSync } from 'node:child_process';
import path from 'node:path';

/**
 * The layering rules bite (docs/ARCHITECTURE.md, eslint.config.mjs): ESLint's Node API lints a
 * small snippet as if it were a file under src/ and must report boundaries/dependencies for a
 * forbidden import, and nothing for an allowed one. ESLint runs in a child process: it loads
 * eslint.config.mjs with a dynamic import, which Jest's CommonJS runtime does not offer.
 */
const ROOT = path.resolve(__dirname, '../..');

const FORBIDDEN: Array<[file: string, code: string, from: string, to: string]> = [
  ['src/core/forbidden.ts', "import { Pipeline } from '../pipeline/pipeline';\nexport type P = Pipeline;\n", 'core', 'pipeline'],
  ['src/notifiers/forbidden.ts', "import { registerEndpoints } from '../http/endpoints';\nexport const r = registerEndpoints;\n", 'notifiers', 'http'],
  ['src/diagnosis/forbidden.ts', "import type { Store } from '../store/store';\nexport type S = Store;\n", 'diagnosis', 'store'],
  [
    'src/config/forbidden.ts',
    "import { createTrafficEnricher } from '../enrichers/traffic/enricher';\nexport const f = createTrafficEnricher;\n",
    'config',
    'enrichers',
  ],
  ['src/sources/forbidden.ts', "import { diagnose } from '../diagnosis';\nexport const d = diagnose;\n", 'sources', 'diagnosis'],
];
const ALLOWED: Array<[file: string, code: string]> = [
  [
    'src/enrichers/allowed.ts',
    "import { selector } from '../sources/promql';\nimport type { Section } from '../core/diagnostic';\nexport const s = selector;\nexport type T = Section;\n",
  ],
  ['src/config/allowed.ts', "import { settingsSchema } from '../enrichers/traffic/settings';\nexport const s = settingsSchema;\n"],
];

/** The boundaries/dependencies messages for each snippet, linted as the file it names (one ESLint process for all). */
function boundaryErrors(snippets: Array<[file: string, code: string]>): string[][] {
  const script = `
    const { ESLint } = require('eslint');
    const tseslint = require('typescript-eslint');
    (async () => {
      // Type information is not needed for import rules, and the snippets are in no tsconfig.
      const eslint = new ESLint({ cwd: process.cwd(), overrideConfig: tseslint.configs.disableTypeChecked });
      const out = [];
      for (const [file, code] of JSON.parse(process.argv[1])) {
        const [r] = await eslint.lintText(code, { filePath: require('node:path').join(process.cwd(), file) });
        out.push(r.messages.filter((m) => m.ruleId === 'boundaries/dependencies').map((m) => m.message));
      }
      process.stdout.write(JSON.stringify(out));
    })().catch((e) => { console.error(e); process.exit(1); });
  `;
  const r = spawnSync(process.execPath, ['-e', script, JSON.stringify(snippets)], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`eslint exited ${String(r.status ?? r.signal)}: ${r.stderr}`);
  stderr = r.stderr;
  return JSON.parse(r.stdout) as string[][];
}

let stderr = '';
let forbidden: string[][];
let allowed: string[][];
beforeAll(() => {
  const all = boundaryErrors([...FORBIDDEN.map(([f, c]): [string, string] => [f, c]), ...ALLOWED]);
  forbidden = all.slice(0, FORBIDDEN.length);
  allowed = all.slice(FORBIDDEN.length);
}, 90_000);

describe('the boundary rules', () => {
  test.each(FORBIDDEN.map((x, i) => [...x, i] as const))('%s: a forbidden import is reported', (_file, _code, from, to, i) => {
    expect(forbidden[i]).toEqual([`There is no policy allowing dependencies from elements of type "${from}" to elements of type "${to}"`]);
  });

  test.each(ALLOWED.map((x, i) => [...x, i] as const))('%s: an allowed import is not', (_file, _code, i) => {
    expect(allowed[i]).toEqual([]);
  });

  test('the config is current: eslint-plugin-boundaries prints no deprecation warning', () => {
    expect(stderr).not.toContain('[boundaries]');
  });
});
