import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Store } from '../../src/store/store';
import { firingPayload } from '../support/fixtures';
import { ensureBuilt, runServerToExit } from '../support/process';
import { tempDir } from '../support/processes';
import { toAlertGroup, webhookPayloadSchema } from '../../src/alertmanager/payload';

/**
 * Issue 7, faults: a state file the receiver cannot trust stops the start with a clear error and
 * exit 1, and is left exactly as it was (no silent loss of old data): a directory, a truncated
 * real database, a database written by a newer version, a file the server's user cannot read
 * (as root: the server runs as "nobody"). A corrupt file is in test/server/startup.test.ts.
 */

const dir = tempDir('state-faults');
beforeAll(() => ensureBuilt(), 120_000);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const sha = (p: string) => createHash('sha256').update(fs.readFileSync(p)).digest('hex');

/** A real store with one finished run in it, checkpointed into the main file and closed. */
function realStore(file: string): string {
  const store = new Store(file);
  const [r] = store.admitBatch([
    {
      runId: 'old-run-1',
      idempotencyKey: 'k1',
      keyExpiresAt: Date.now() + 60_000,
      group: toAlertGroup(webhookPayloadSchema(10).parse(firingPayload())),
      alertname: 'db_pool_exhausted',
      trigger: 'webhook',
      notify: true,
      now: Date.now(),
    },
  ]);
  expect(r!.id).toBe('old-run-1');
  store.close();
  const db = new Database(file);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.pragma('journal_mode = DELETE');
  db.close();
  return file;
}

async function startWith(state: string) {
  const cfg = path.join(dir, `${path.basename(state)}.yml`);
  fs.writeFileSync(cfg, `state:\n  path: ${state}\n`);
  return runServerToExit(['--config', cfg], {});
}

test('a directory at the state path: exit 1 naming it, the directory untouched', async () => {
  const state = path.join(dir, 'is-a-dir');
  fs.mkdirSync(state);
  fs.writeFileSync(path.join(state, 'keep.txt'), 'mine');
  const r = await startWith(state);
  expect(r.code).toBe(1);
  expect(r.output).toContain(`cannot open the state store ${state}`);
  expect(r.output).not.toMatch(/"msg":"listening"/);
  expect(fs.readdirSync(state)).toEqual(['keep.txt']);
});

test('a truncated real database: exit 1 with the reason, not one byte changed', async () => {
  const state = realStore(path.join(dir, 'truncated.sqlite'));
  const full = fs.readFileSync(state);
  expect(full.length).toBeGreaterThan(8_192);
  fs.writeFileSync(state, full.subarray(0, Math.floor(full.length / 2)));
  const before = sha(state);
  const r = await startWith(state);
  expect(r.code).toBe(1);
  expect(r.output).toMatch(/cannot open the state store .*truncated\.sqlite: .*(malformed|integrity|corrupt|not a database)/i);
  expect(r.output).toContain('Nothing was changed');
  expect(sha(state)).toBe(before);
  expect(fs.existsSync(`${state}-wal`) ? fs.statSync(`${state}-wal`).size : 0).toBe(0);
});

test('a database written by a newer version: exit 1 saying so, not one byte changed', async () => {
  const state = realStore(path.join(dir, 'newer.sqlite'));
  const db = new Database(state);
  db.pragma('user_version = 99');
  db.close();
  const before = sha(state);
  const r = await startWith(state);
  expect(r.code).toBe(1);
  expect(r.output).toMatch(/cannot open the state store .*newer\.sqlite: it was written by a newer version \(schema 99/);
  expect(sha(state)).toBe(before);
  // and the old data is still there for the newer version
  const check = new Database(state, { readonly: true });
  expect(check.prepare('SELECT id FROM runs').all()).toEqual([{ id: 'old-run-1' }]);
  check.close();
});

test('a state file the server user cannot read: exit 1 naming it, not one byte changed', async () => {
  const nobody = (() => {
    try {
      return {
        uid: Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' })),
        gid: Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' })),
      };
    } catch {
      return undefined;
    }
  })();
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  // As root the file must belong to someone else to be unreadable: run the server as "nobody".
  const state = realStore(path.join(dir, 'unreadable.sqlite'));
  fs.chmodSync(dir, 0o755);
  fs.chmodSync(state, 0o600);
  const before = sha(state);
  const cfg = path.join(dir, 'unreadable.yml');
  fs.writeFileSync(cfg, `state:\n  path: ${state}\n`, { mode: 0o644 });
  if (asRoot && !nobody) throw new Error('running as root without a "nobody" user: cannot make the file unreadable');
  const child = spawn(process.execPath, [path.join(__dirname, '../../dist/server.js'), '--config', cfg], {
    env: { PATH: process.env.PATH ?? '', PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(asRoot ? nobody : {}),
  });
  if (!asRoot) fs.chmodSync(state, 0o000);
  let out = '';
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (out += b));
  const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const [code] = await once(child, 'exit');
  clearTimeout(killer);
  fs.chmodSync(state, 0o600);
  expect(code).toBe(1);
  expect(out).toMatch(/cannot open the state store .*unreadable\.sqlite: .*(unable to open|readonly|permission|not authorized)/i);
  expect(sha(state)).toBe(before);
});

test('the same real database, intact: starts (the checks above can pass)', async () => {
  const state = realStore(path.join(dir, 'intact.sqlite'));
  const cfg = path.join(dir, 'intact.yml');
  fs.writeFileSync(cfg, `state:\n  path: ${state}\n`);
  const { startServer } = await import('../support/process');
  const s = await startServer(['--config', cfg], {});
  // The old queued run is resumed (proof the data was read). Wait for it before SIGTERM: the
  // entry point installs its signal handlers only after announcing "listening" (reported).
  for (let i = 0; i < 200 && !s.output().includes('resuming unfinished runs'); i++) await new Promise((r) => setTimeout(r, 25));
  expect(s.output()).toContain('"runs":1,"msg":"resuming unfinished runs"');
  s.child.kill('SIGTERM');
  const code = await s.exited;
  if (code !== 0) throw new Error(`exit ${code}:\n${s.output()}`);
  const check = new Database(state, { readonly: true });
  expect(check.prepare('SELECT id FROM runs').all()).toEqual([{ id: 'old-run-1' }]);
  check.close();
});
