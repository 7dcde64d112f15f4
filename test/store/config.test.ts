import { parseConfig } from '../../src/config';
import { ConfigError } from '../../src/config';
import { createRedactor, secretsOf } from '../../src/logger';
import { DEFAULT_STATE_PATH } from '../../src/store/config';

/** `state`: the SQLite file by default, a shared PostgreSQL with `state.url`, never both. */
describe('state config', () => {
  test('defaults: the SQLite file, no URL', () => {
    const c = parseConfig({}, {});
    expect(c.state).toMatchObject({ path: DEFAULT_STATE_PATH, retentionDays: 14, poolSize: 5, connectTimeoutMs: 2_000, statementTimeoutMs: 5_000 });
    expect(c.state.url).toBeUndefined();
  });

  test('state.url selects PostgreSQL; its password is a secret the logs redact', () => {
    const c = parseConfig({ state: { url: 'postgres://pagefirst:${STATE_PW}@state-db:5432/pagefirst', poolSize: 3 } }, { STATE_PW: 'st4te-pass' });
    expect(c.state.url).toBe('postgres://pagefirst:st4te-pass@state-db:5432/pagefirst');
    expect(c.state.poolSize).toBe(3);
    expect(createRedactor(secretsOf(c))(`connect ${c.state.url}`)).toBe('connect postgres://pagefirst:[REDACTED]@state-db:5432/pagefirst');
  });

  test('both state.path and state.url: refused, naming state.url', () => {
    let e: unknown;
    try {
      parseConfig({ state: { path: './x.sqlite', url: 'postgres://db/pagefirst' } }, {});
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).toMatch(/state\.url.*set either state\.path .* or state\.url .*not both/);
  });

  test('a URL that is not PostgreSQL, and a pool out of range, are refused', () => {
    expect(() => parseConfig({ state: { url: 'mysql://db/x' } }, {})).toThrow(/state\.url.*postgres:\/\//);
    expect(() => parseConfig({ state: { url: 'postgres://db/x', poolSize: 1 } }, {})).toThrow(/state\.poolSize/);
  });
});
