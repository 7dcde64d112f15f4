// ESLint flat config: typescript-eslint's type-checked rules on every TypeScript file, and
// eslint-config-prettier last so that formatting is Prettier's alone (`npm run lint` runs both).
// https://typescript-eslint.io/getting-started/typed-linting
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import boundaries from 'eslint-plugin-boundaries';
import comments from '@eslint-community/eslint-plugin-eslint-comments/configs';

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
    // The layering (docs/ARCHITECTURE.md): what each folder of src/ may import. Matched in order,
    // first match wins, so each unit's settings schema is its own element before its folder's.
    files: ['src/**/*.ts'],
    plugins: { boundaries },
    settings: {
      'import/resolver': { node: { extensions: ['.ts', '.js'] } },
      'boundaries/include': ['src/**/*.ts'],
      'boundaries/elements': [
        { type: 'core', pattern: 'src/core/**', mode: 'full' },
        // Each unit's settings schema: what src/config composes (never a factory).
        {
          type: 'settings',
          mode: 'full',
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
        { type: 'config', pattern: 'src/config/**', mode: 'full' },
        { type: 'alertmanager', pattern: 'src/alertmanager/**', mode: 'full' },
        { type: 'sources', pattern: 'src/sources/**', mode: 'full' },
        // The read-only interface enrichers use to ask the run history (the store implements it).
        { type: 'store-history', pattern: 'src/store/history.ts', mode: 'full' },
        { type: 'store', pattern: 'src/store/**', mode: 'full' },
        { type: 'diagnosis', pattern: 'src/diagnosis/**', mode: 'full' },
        { type: 'enrichers', pattern: 'src/enrichers/**', mode: 'full' },
        { type: 'notifiers', pattern: 'src/notifiers/**', mode: 'full' },
        // Slack's entry points (requests from Slack: signature, button, shortcut, mention) and its notifier side.
        {
          type: 'slack-entry',
          pattern: ['src/slack/endpoints.ts', 'src/slack/entry.ts', 'src/slack/recognise.ts', 'src/slack/resolve.ts', 'src/slack/signature.ts'],
          mode: 'full',
        },
        { type: 'slack', pattern: 'src/slack/**', mode: 'full' },
        { type: 'pipeline', pattern: 'src/pipeline/**', mode: 'full' },
        { type: 'http', pattern: 'src/http/**', mode: 'full' },
        { type: 'shared', pattern: ['src/logger.ts', 'src/metrics.ts'], mode: 'full' },
        { type: 'app', pattern: ['src/app.ts', 'src/server.ts'], mode: 'full' },
      ],
    },
    rules: {
      'boundaries/dependencies': [
        'error',
        {
          default: 'disallow',
          policies: [
            { from: { element: { type: 'core' } }, allow: { to: { element: { type: 'core' } } } },
            { from: { element: { type: 'settings' } }, allow: { to: { element: { types: { anyOf: ['settings', 'core', 'sources'] } } } } },
            { from: { element: { type: 'config' } }, allow: { to: { element: { types: { anyOf: ['config', 'settings', 'core'] } } } } },
            { from: { element: { type: 'alertmanager' } }, allow: { to: { element: { types: { anyOf: ['alertmanager', 'core'] } } } } },
            { from: { element: { type: 'sources' } }, allow: { to: { element: { types: { anyOf: ['sources', 'settings', 'core'] } } } } },
            { from: { element: { type: 'store' } }, allow: { to: { element: { types: { anyOf: ['store', 'store-history', 'settings', 'core'] } } } } },
            { from: { element: { type: 'store-history' } }, allow: { to: { element: { type: 'core' } } } },
            { from: { element: { type: 'diagnosis' } }, allow: { to: { element: { types: { anyOf: ['diagnosis', 'core'] } } } } },
            {
              from: { element: { type: 'enrichers' } },
              allow: { to: { element: { types: { anyOf: ['enrichers', 'settings', 'sources', 'store-history', 'core'] } } } },
            },
            {
              from: { element: { types: { anyOf: ['notifiers', 'slack'] } } },
              allow: { to: { element: { types: { anyOf: ['notifiers', 'slack', 'settings', 'alertmanager', 'store', 'core'] } } } },
            },
            {
              from: { element: { type: 'slack-entry' } },
              allow: { to: { element: { types: { anyOf: ['slack-entry', 'slack', 'notifiers', 'settings', 'alertmanager', 'sources', 'store', 'core'] } } } },
            },
            { from: { element: { type: 'shared' } }, allow: { to: { element: { types: { anyOf: ['config', 'settings', 'core'] } } } } },
            {
              from: { element: { type: 'pipeline' } },
              allow: {
                to: { element: { types: { anyOf: ['pipeline', 'config', 'settings', 'enrichers', 'notifiers', 'diagnosis', 'store', 'shared', 'core'] } } },
              },
            },
            {
              from: { element: { type: 'http' } },
              allow: { to: { element: { types: { anyOf: ['http', 'pipeline', 'settings', 'alertmanager', 'sources', 'store', 'shared', 'core'] } } } },
            },
            { from: { element: { type: 'app' } }, allow: { to: { element: { types: { anyOf: ['*'] } } } } },
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
