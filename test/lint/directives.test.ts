import { execFileSync } from 'node:child_process';
import path from 'node:path';

/**
 * An exception to a lint rule carries its reason on the line (issue 10): ESLint with the project's
 * config reports an eslint-disable directive without ` -- reason`, and nothing for one with it.
 * ESLint runs in a child process, as in boundaries.test.ts (it loads eslint.config.mjs by import()).
 */
const ROOT = path.resolve(__dirname, '../..');

function directiveErrors(snippets: string[]): string[][] {
  const script = `
    const { ESLint } = require('eslint');
    const tseslint = require('typescript-eslint');
    (async () => {
      const eslint = new ESLint({ cwd: process.cwd(), overrideConfig: tseslint.configs.disableTypeChecked });
      const out = [];
      for (const code of JSON.parse(process.argv[1])) {
        const [r] = await eslint.lintText(code, { filePath: require('node:path').join(process.cwd(), 'src/core/directive.ts') });
        out.push(r.messages.filter((m) => m.ruleId === '@eslint-community/eslint-comments/require-description').map((m) => m.message));
      }
      process.stdout.write(JSON.stringify(out));
    })().catch((e) => { console.error(e); process.exit(1); });
  `;
  const out = execFileSync(process.execPath, ['-e', script, JSON.stringify(snippets)], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(out) as string[][];
}

test('an eslint-disable without a reason is reported; with one after " -- " it is not', () => {
  const [bare, described] = directiveErrors([
    '// eslint-disable-next-line no-control-regex\nexport const esc = /\\x1b/;\n',
    '// eslint-disable-next-line no-control-regex -- ESC starts the sequence\nexport const esc = /\\x1b/;\n',
  ]);
  expect(bare).toEqual([expect.stringContaining('undescribed directive comment')]);
  expect(described).toEqual([]);
}, 90_000);
