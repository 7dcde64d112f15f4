// ESLint flat config: typescript-eslint's type-checked rules on every TypeScript file, and
// eslint-config-prettier last so that formatting is Prettier's alone (`npm run lint` runs both).
// https://typescript-eslint.io/getting-started/typed-linting
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import boundaries from 'eslint-plugin-boundaries';
import comments from '@eslint-community/eslint-plugin-eslint-comments/configs';

// The folders of src/ that are parts of the layering (boundary elements), and the file categories
// below that are parts of their own. `part(name)` selects the files of one part: a category's files,
// or a folder's files that are in no category (isUnknown: no file descriptor matched; src/http/config.ts
// is `settings`, not `http`).
const FOLDERS = ['core', 'config', 'alertmanager', 'sources', 'store', 'diagnosis', 'enrichers', 'notifiers', 'slack', 'pipeline', 'http'];
const part = (name) => (FOLDERS.includes(name) ? { element: { type: name }, file: { isUnknown: true } } : { file: { categories: name } });
const parts = (...names) => names.map(part);

export default tseslint.config(
  { ignores: ['dist/', '.bench-dist/', '.demo-dist/', '.cache/', 'coverage/', 'node_modules/'] },
  eslint.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  // An exception carries its reason on the line (issue 10): every eslint-disable says why after ` -- `.
  comments.recommended,
  { rules: { '@eslint-community/eslint-comments/require-description': ['error', { ignore: ['eslint-enable'] }] } },
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Rejecting with an AbortSignal's reason or a caught value passes on what we were given, as
      // `throw e` does (only-throw-error allows `any` and `unknown` by default): the same here.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
      // `const { omitted: _x, ...rest } = o` is how a key is left out of a copy.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
      // `let x; const f = () => x; x = ...` (a closure that reads x only after the assignment) stays a `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // The layering (docs/ARCHITECTURE.md): what each part of src/ may import. A part is a folder
    // (an element, matched from the project root: partialMatch false), or one of the files named
    // below (a file category), which is then that part and not its folder's.
    files: ['src/**/*.ts'],
    plugins: { boundaries },
    settings: {
      'import/resolver': { node: { extensions: ['.ts', '.js'] } },
      'boundaries/include': ['src/**/*.ts'],
      'boundaries/elements': FOLDERS.map((type) => ({ type, pattern: `src/${type}`, partialMatch: false })),
      'boundaries/files': [
        // Each unit's settings schema: what src/config composes (never a factory).
        {
          category: 'settings',
          pattern: [
            'src/http/config.ts',
            'src/pipeline/config.ts',
            'src/store/config.ts',
            'src/sources/config.ts',
            'src/slack/config.ts',
            'src/notifiers/links.ts',
            'src/notifiers/names.ts',
            'src/enrichers/settings.ts',
            'src/enrichers/*/settings.ts',
            // The pool settings' presets and mapping schema: data and zod, no client.
            'src/enrichers/pool/layouts.ts',
            'src/enrichers/pool/mapping.ts',
          ],
        },
        // The read-only interface enrichers use to ask the run history (the store implements it).
        { category: 'store-history', pattern: 'src/store/history.ts' },
        // Slack's entry points (requests from Slack: signature, button, shortcut, mention); the rest of src/slack is its notifier side.
        {
          category: 'slack-entry',
          pattern: ['src/slack/endpoints.ts', 'src/slack/entry.ts', 'src/slack/recognise.ts', 'src/slack/resolve.ts', 'src/slack/signature.ts'],
        },
        { category: 'shared', pattern: ['src/logger.ts', 'src/metrics.ts'] },
        { category: 'app', pattern: ['src/app.ts', 'src/server.ts'] },
      ],
    },
    rules: {
      'boundaries/dependencies': [
        'error',
        {
          default: 'disallow',
          // Imports inside one folder are checked too: a settings file and its folder's other files are different parts.
          checkInternals: true,
          policies: [
            { from: part('core'), allow: { to: parts('core') } },
            { from: part('settings'), allow: { to: parts('settings', 'core', 'sources') } },
            { from: part('config'), allow: { to: parts('config', 'settings', 'core') } },
            { from: part('alertmanager'), allow: { to: parts('alertmanager', 'core') } },
            { from: part('sources'), allow: { to: parts('sources', 'settings', 'core') } },
            { from: part('store'), allow: { to: parts('store', 'store-history', 'settings', 'core') } },
            { from: part('store-history'), allow: { to: parts('core') } },
            { from: part('diagnosis'), allow: { to: parts('diagnosis', 'core') } },
            { from: part('enrichers'), allow: { to: parts('enrichers', 'settings', 'sources', 'store-history', 'core') } },
            { from: parts('notifiers', 'slack'), allow: { to: parts('notifiers', 'slack', 'settings', 'alertmanager', 'store', 'core') } },
            {
              from: part('slack-entry'),
              allow: { to: parts('slack-entry', 'slack', 'notifiers', 'settings', 'alertmanager', 'sources', 'store', 'core') },
            },
            { from: part('shared'), allow: { to: parts('config', 'settings', 'core') } },
            {
              from: part('pipeline'),
              allow: { to: parts('pipeline', 'config', 'settings', 'enrichers', 'notifiers', 'diagnosis', 'store', 'shared', 'core') },
            },
            { from: part('http'), allow: { to: parts('http', 'pipeline', 'settings', 'alertmanager', 'sources', 'store', 'shared', 'core') } },
            { from: part('app'), allow: { to: { file: { categories: '**' } } } },
            { from: part('app'), allow: { to: { element: { types: '**' } } } },
          ],
        },
      ],
    },
  },
  {
    // Tests only. Their untyped values are HTTP answers (`res.json()`), parsed YAML manifests
    // (test/deploy), the arguments a fake receives and fixtures broken on purpose: the assertion
    // on such a value is the check, and a schema in front of it would restate that assertion.
    files: ['test/**'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off', // reading a field of an untyped answer is what the test asserts on
      '@typescript-eslint/no-unsafe-assignment': 'off', // untyped answers held in a variable before the assertions
      '@typescript-eslint/no-unsafe-argument': 'off', // untyped answers passed to expect() and to the fakes' helpers
      '@typescript-eslint/no-unsafe-call': 'off', // .map/.find on an untyped answer's arrays inside an assertion
      '@typescript-eslint/no-unsafe-return': 'off', // helpers that hand an untyped answer to the test that asserts on it
      '@typescript-eslint/no-explicit-any': 'off', // fixtures typed any so that bad-input tests can break them in any way
      '@typescript-eslint/require-await': 'off', // fakes implement async interfaces (enrich, notify, open) with synchronous bodies; async keeps their throws rejections, as the real ones' are
    },
  },
  {
    // Plain JavaScript (this file, jest.config.js, scripts/*.mjs): no type information.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', module: 'writable', require: 'readonly', __dirname: 'readonly' } },
  },
  prettier,
);
