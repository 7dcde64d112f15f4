import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, configPathFrom, loadConfig, parseConfig } from '../../src/config';

function issuesOf(raw: unknown, env: Record<string, string> = {}): string[] {
  try {
    parseConfig(raw, env);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`);
    throw e;
  }
  return [];
}

describe('parseConfig', () => {
  test('empty config gives the contract defaults', () => {
    const c = parseConfig({}, {});
    expect(c.server.port).toBe(8080);
    expect(c.server.bodyLimitBytes).toBe(1024 * 1024);
    expect(c.server.auth.token).toBeUndefined();
    expect(c.routes).toHaveLength(1);
    expect(c.routes[0]!.match).toEqual({ alertname: 'db_pool_exhausted' });
    expect(c.routes[0]!.enrichers).toEqual(['pool', 'postgres', 'pgbouncer', 'logs', 'traffic', 'related_alerts']);
    expect(c.sources.postgres).toEqual([]);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.server)).toBe(true);
  });

  test.each<[string, unknown, Record<string, string>, string[]]>([
    ['missing url in a postgres source', { sources: { postgres: [{ name: 'main' }] } }, {}, ['sources.postgres.0.url: Required']],
    ['port out of range', { server: { port: 70000 } }, {}, ['server.port: Too big: expected number to be <=65535']],
    ['unknown top-level key', { sever: {} }, {}, ['(root)|: Unrecognized key: "sever"']],
    ['missing env variable', { server: { auth: { token: '${NOPE}' } } }, {}, ['server.auth.token: environment variable NOPE is not set']],
    [
      'unknown enricher in a route',
      { routes: [{ match: { alertname: 'x' }, enrichers: ['pool', 'crystal_ball'] }] },
      {},
      ['routes.0.enrichers.1: unknown enricher "crystal_ball"'],
    ],
    [
      'slack notifier without a token',
      { routes: [{ enrichers: [], notifiers: ['slack'] }] },
      {},
      ['routes.0.notifiers.0: the slack notifier needs slack.token'],
    ],
    ['bad regex matcher', { routes: [{ matchRe: { severity: '(' } }] }, {}, ['routes.0.matchRe.severity: invalid regular expression']],
    [
      'duplicate postgres names',
      {
        sources: {
          postgres: [
            { name: 'a', url: 'postgres://x/y' },
            { name: 'a', url: 'postgres://x/z' },
          ],
        },
      },
      {},
      ['sources.postgres.1.name: duplicate name "a"'],
    ],
    ['a Slack token without a channel', { slack: { token: 'xoxb-1' } }, {}, ['slack: with slack.token, set slack.alertsChannel or slack.incidentChannel']],
    ['bad PORT env', {}, { PORT: 'eighty' }, ['PORT: must be a port number, got "eighty"']],
  ])('%s', (_name, raw, env, expected) => {
    const got = issuesOf(raw, env);
    for (const e of expected) {
      const [path, msg] = e.split(': ');
      expect(got.some((g) => (path === '(root)|' ? g.startsWith(': ') : g.startsWith(`${path}: `)) && g.includes(msg!))).toBe(true);
    }
  });

  test('a config with three mistakes reports all three', () => {
    const got = issuesOf({ server: { port: 'x' }, sources: { postgres: [{ name: 'db' }], prometheus: { url: 'not a url' } } });
    expect(got).toHaveLength(3);
    expect(got).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^server\.port: /),
        'sources.postgres.0.url: Required',
        expect.stringMatching(/^sources\.prometheus\.url: /),
      ]),
    );
  });

  test('${VAR} substitution, defaults and $$ escapes', () => {
    const c = parseConfig(
      {
        server: { auth: { token: '${TOKEN}' } },
        sources: { postgres: [{ name: 'main', url: 'postgres://mon:${PGPASS}@db:5432/app' }] },
        links: { runbook: '${RUNBOOK:-https://runbooks.example.com/db}' },
        state: { path: '/var/lib/$$x' },
      },
      { TOKEN: 'a-very-long-token-value', PGPASS: 's3cret' },
    );
    expect(c.server.auth.token).toBe('a-very-long-token-value');
    expect(c.sources.postgres[0]!.url).toBe('postgres://mon:s3cret@db:5432/app');
    expect(c.links.runbook).toBe('https://runbooks.example.com/db');
    expect(c.state.path).toBe('/var/lib/$x');
  });

  test('PORT and HOST override server.port and server.host', () => {
    const c = parseConfig({ server: { port: 1, host: 'a' } }, { PORT: '9999', HOST: '127.0.0.2' });
    expect(c.server.port).toBe(9999);
    expect(c.server.host).toBe('127.0.0.2');
  });

  test('a route may set enricher options, validated by that enricher', () => {
    const c = parseConfig({ routes: [{ match: { alertname: 'x' }, enrichers: [{ name: 'pool', options: {} }] }] }, {});
    expect(c.routes[0]!.enrichers[0]).toEqual({ name: 'pool', options: {} });
  });
});

describe('loadConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));

  test('reads YAML from a file', () => {
    const f = join(dir, 'ok.yml');
    writeFileSync(f, 'server:\n  port: 9090\nstate:\n  path: ":memory:"\n');
    const c = loadConfig(f, {});
    expect(c.server.port).toBe(9090);
    expect(c.state.path).toBe(':memory:');
  });

  test('YAML syntax errors name the line', () => {
    const f = join(dir, 'bad.yml');
    writeFileSync(f, 'server:\n  port: [1,\n');
    expect(() => loadConfig(f, {})).toThrow(ConfigError);
    try {
      loadConfig(f, {});
    } catch (e) {
      expect((e as ConfigError).issues[0]!.path).toMatch(/bad\.yml:\d+/);
    }
  });

  test('a mapping or sequence used as a key is refused with its line', () => {
    const f = join(dir, 'collection-key.yml');
    writeFileSync(f, 'server:\n  port: 9090\n? [a]\n: b\n');
    let caught: unknown;
    try {
      loadConfig(f, {});
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).issues).toEqual([{ path: `${f}:3`, message: 'a key must be a plain string, not a mapping or sequence' }]);
  });

  test('a missing file is a clear error', () => {
    expect(() => loadConfig(join(dir, 'nope.yml'), {})).toThrow(/cannot read .*nope\.yml: ENOENT/);
  });

  test('no file gives the defaults', () => {
    expect(loadConfig(undefined, {}).server.port).toBe(8080);
  });
});

describe('configPathFrom', () => {
  test.each([
    [['--config', 'a.yml'], {}, 'a.yml'],
    [['--config=b.yml'], { CONFIG_FILE: 'c.yml' }, 'b.yml'],
    [[], { CONFIG_FILE: 'c.yml' }, 'c.yml'],
    [[], {}, undefined],
  ])('%j %j -> %s', (argv, env, expected) => {
    expect(configPathFrom(argv, env)).toBe(expected);
  });
});
