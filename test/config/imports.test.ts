import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { ENRICHERS } from '../../src/enrichers';
import { ENRICHER_SETTINGS } from '../../src/enrichers/settings';

/**
 * Loading the config must not load the clients (issue 10): src/config imports each unit's
 * settings schema, never a factory. A child Node process compiles our TypeScript with @swc/core
 * (the compiler Jest uses here), requires the config module, and prints what is in require.cache;
 * Jest's own module registry cannot say which modules a real `require` loaded.
 */
function modulesLoadedBy(entry: string): string[] {
  const root = path.resolve(__dirname, '../..');
  const script = `
    const swc = require('@swc/core');
    require.extensions['.ts'] = (m, file) => {
      const { code } = swc.transformFileSync(file, { jsc: { target: 'es2023', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } });
      m._compile(code, file);
    };
    const before = new Set(Object.keys(require.cache));
    require(${JSON.stringify(entry)});
    process.stdout.write(JSON.stringify(Object.keys(require.cache).filter((k) => !before.has(k))));
  `;
  const out = execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', timeout: 30_000 });
  // Our files relative to the root; a package by its path from its node_modules (which may be a link elsewhere).
  return (JSON.parse(out) as string[]).map((f) => (f.includes('/node_modules/') ? f.slice(f.lastIndexOf('/node_modules/') + 1) : path.relative(root, f)));
}

const pkg = (loaded: string[], name: string) => loaded.filter((f) => f.startsWith(`node_modules/${name}/`));

describe('loading the config', () => {
  const loaded = modulesLoadedBy('./src/config');

  it('requires the config module and its schemas (the check sees what it loads)', () => {
    expect(loaded).toContain('src/config/schema.ts');
    expect(loaded).toContain('src/enrichers/postgres/settings.ts');
    expect(pkg(loaded, 'zod').length).toBeGreaterThan(0);
  });

  it('loads neither pg nor axios, nor any enricher factory', () => {
    expect(pkg(loaded, 'pg')).toEqual([]);
    expect(pkg(loaded, 'axios')).toEqual([]);
    expect(loaded.filter((f) => /^src\/enrichers\/[^/]+\/enricher\.ts$/.test(f))).toEqual([]);
    expect(
      loaded.filter(
        (f) => f.startsWith('src/sources/') && f !== 'src/sources/promql.ts' && f !== 'src/sources/config.ts' && !f.startsWith('src/sources/logs/time'),
      ),
    ).toEqual([]);
  });

  it('the factory side does load them (so the check above can fail)', () => {
    const factories = modulesLoadedBy('./src/enrichers');
    expect(pkg(factories, 'pg').length).toBeGreaterThan(0);
  });
});

describe('the enricher registry and the settings list', () => {
  it('name the same enrichers with the same settings schemas', () => {
    expect(ENRICHERS.map((m) => m.name).sort()).toEqual(Object.keys(ENRICHER_SETTINGS).sort());
    for (const m of ENRICHERS) expect(m.settingsSchema).toBe(ENRICHER_SETTINGS[m.name as keyof typeof ENRICHER_SETTINGS]);
  });
});
