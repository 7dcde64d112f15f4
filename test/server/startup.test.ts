import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, ROOT, runServerToExit, startServer } from '../support/process';
import { until } from '../support/wait';
import { firingPayload } from '../support/fixtures';

const dir = mkdtempSync(join(tmpdir(), 'startup-'));
beforeAll(() => ensureBuilt(), 120_000);

describe('the server process', () => {
  test('a config with three mistakes exits 1 and reports all three with their paths', async () => {
    const f = join(dir, 'bad.yml');
    writeFileSync(f, 'pipeline:\n  budgetMs: -5\nsources:\n  postgres:\n    - name: main\n  prometheus:\n    url: "${PROM_URL}"\n');
    const r = await runServerToExit(['--config', f], {});
    expect(r.code).toBe(1);
    expect(r.output).toContain('pipeline.budgetMs: Too small');
    expect(r.output.match(/^ {2}\S+: /gm)).toHaveLength(3);
    expect(r.output).toContain('sources.postgres.0.url: Required');
    expect(r.output).toContain('sources.prometheus.url: environment variable PROM_URL is not set');
  });

  test('a corrupt state file stops the start with a clear error and is not overwritten', async () => {
    const state = join(dir, 'corrupt.sqlite');
    writeFileSync(state, 'garbage'.repeat(1000));
    const f = join(dir, 'c.yml');
    writeFileSync(f, `state:\n  path: ${state}\n`);
    const r = await runServerToExit(['--config', f], {});
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/cannot open the state store .*corrupt\.sqlite/);
  });

  test('without a token it binds 127.0.0.1 only and warns once; SIGTERM exits 0', async () => {
    const f = join(dir, 'open.yml');
    writeFileSync(f, `state:\n  path: ${join(dir, 'open.sqlite')}\nserver:\n  host: 0.0.0.0\n`);
    const s = await startServer(['--config', f], {});
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(s.output().match(/no server\.auth\.token configured/g)).toHaveLength(1);
    const res = await fetch(`${s.url}/webhook`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(firingPayload()) });
    expect(res.status).toBe(202);
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(s.output()).toContain('"msg":"pipeline drained"');
  });

  test('the README walkthrough: examples/receiver.yml, the fixture with the token, the diagnostic on stdout and by id, then a duplicate', async () => {
    const token = 'readme-token-0123456789abcdef';
    const s = await startServer(['--config', join(ROOT, 'examples/receiver.yml')], { PAGEFIRST_TOKEN: token, HOST: '127.0.0.1' }, 15_000, dir);
    const post = () =>
      fetch(`${s.url}/webhook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(firingPayload()),
      });
    const first = await post();
    expect(first.status).toBe(202);
    const { id, duplicate } = (await first.json()) as { id: string; duplicate: boolean };
    expect(duplicate).toBe(false);
    let diagnostic: any;
    for (let i = 0; i < 100 && !diagnostic; i++) {
      const r = await fetch(`${s.url}/diagnostics/${id}`, { headers: { authorization: `Bearer ${token}` } });
      if (r.status === 200) diagnostic = await r.json();
      else await new Promise((res) => setTimeout(res, 50));
    }
    expect(diagnostic).toMatchObject({ id, alertname: 'db_pool_exhausted', status: 'firing', trigger: 'webhook' });
    // stdout comes through its own pipe: it may trail the HTTP answer
    await until('the console diagnostic on stdout', () => s.output().includes('FIRING db_pool_exhausted'), 10_000);
    expect(await (await post()).json()).toEqual({ id, duplicate: true });
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(existsSync(join(dir, 'state.sqlite'))).toBe(true);
  });

  test('the token never appears in the logs', async () => {
    const token = 'tok-very-secret-value-123456';
    const f = join(dir, 'tok.yml');
    writeFileSync(f, `state:\n  path: ${join(dir, 'tok.sqlite')}\nserver:\n  auth:\n    token: \${TOKEN}\n`);
    const s = await startServer(['--config', f], { TOKEN: token, HOST: '127.0.0.1' });
    await fetch(`${s.url}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(firingPayload()),
    });
    await fetch(`${s.url}/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}-wrong` }, body: '{}' });
    s.child.kill('SIGTERM');
    await s.exited;
    expect(s.output()).toContain('notification admitted');
    expect(s.output()).not.toContain(token);
  });
});
