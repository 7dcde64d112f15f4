import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configSchema } from '../../src/config/schema';

function unwrap(schema: any): any {
  let d = schema?._zod?.def;
  while (d && ['optional', 'default', 'nullable', 'prefault', 'readonly', 'pipe'].includes(d.type)) d = (d.innerType ?? d.in)?._zod?.def;
  return d;
}

/** The leaf key paths of a zod schema: objects by key, arrays of objects as `[]`, wrappers unwrapped, records not entered. */
function keyPaths(schema: any, prefix: string, out: Set<string>): void {
  const def = schema?._zod?.def;
  if (!def) return;
  switch (def.type) {
    case 'optional':
    case 'default':
    case 'nullable':
    case 'prefault':
    case 'readonly':
      return keyPaths(def.innerType, prefix, out);
    case 'pipe':
      return keyPaths(def.in, prefix, out);
    case 'array':
      return keyPaths(def.element, `${prefix}[]`, out);
    case 'union':
      for (const o of def.options) keyPaths(o, prefix, out);
      return;
    case 'object':
      for (const [k, v] of Object.entries(def.shape)) {
        const p = prefix ? `${prefix}.${k}` : k;
        const d = unwrap(v);
        const container = d?.type === 'object' || d?.type === 'union' || (d?.type === 'array' && ['object', 'union'].includes(unwrap(d.element)?.type));
        if (!container) out.add(p);
        keyPaths(v, p, out);
      }
      return;
    default:
      return;
  }
}

describe('docs/configuration.md', () => {
  test('names every configuration key of the schema', () => {
    const doc = readFileSync(join(__dirname, '../../docs/configuration.md'), 'utf8');
    const paths = new Set<string>();
    keyPaths(configSchema, '', paths);
    // enrichers' common timeoutMs is documented once for all of them
    const missing = [...paths].filter(
      (p) =>
        !doc.includes(`\`${p}\``) &&
        !/^enrichers\.[a-z_]+\.timeoutMs$/.test(p) &&
        !/^enrichers\.pool\.states\./.test(p) &&
        !/matchers\[\]\.|^routes\[\]\.enrichers\[\]\./.test(p),
    );
    expect(paths.size).toBeGreaterThan(80);
    expect(missing).toEqual([]);
  });
});
