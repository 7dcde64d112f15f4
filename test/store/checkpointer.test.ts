import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Checkpointer, type CheckpointReport } from '../../src/store/checkpointer';
import { Store } from '../../src/store/store';
import { fixtureGroup } from '../support/pipeline';
import { ensureBuilt, ROOT } from '../support/process';
import { until } from '../support/wait';

const dir = mkdtempSync(join(tmpdir(), 'checkpointer-'));

/** A WAL database whose own commits never checkpoint, with `rows` rows written. */
function walDatabase(name: string, rows: number): { path: string; db: Database.Database } {
  const path = join(dir, name);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('wal_autocheckpoint = 0');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
  const put = db.prepare('INSERT INTO t (v) VALUES (?)');
  for (let i = 0; i < rows; i++) put.run('x'.repeat(200));
  return { path, db };
}

/**
 * Rows of `table` in the database file alone, without its WAL: what checkpoints have copied there.
 * -1 when the copy caught a checkpoint half-way (a torn copy cannot be read).
 */
function rowsInMainFile(path: string, name: string, table = 't'): number {
  const copy = join(dir, `${name}.main-only`);
  copyFileSync(path, copy);
  let db: Database.Database | undefined;
  try {
    db = new Database(copy, { readonly: true });
    if (!db.prepare('SELECT 1 FROM sqlite_master WHERE name = ?').get(table)) return 0;
    return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  } catch {
    return -1;
  } finally {
    db?.close();
  }
}

describe('Checkpointer', () => {
  test('copies the WAL into the database file from its own thread while the writer keeps writing', async () => {
    const { path, db } = walDatabase('copies.sqlite', 2_000);
    expect(rowsInMainFile(path, 'copies-before')).toBe(0); // everything is still in the WAL
    const reports: CheckpointReport[] = [];
    const c = new Checkpointer(path, { idleMs: 1_000, busyMs: 20, onReport: (r) => reports.push(r) });
    try {
      await until('a complete checkpoint', () => reports.some((r) => r.ok && r.log > 0 && r.checkpointed === r.log));
      expect(rowsInMainFile(path, 'copies-after')).toBe(2_000);
      // the writer was never blocked: it writes while the worker holds its own connection
      db.prepare('INSERT INTO t (v) VALUES (?)').run('after');
      await until('the new row checkpointed too', () => rowsInMainFile(path, 'copies-later') === 2_001);
    } finally {
      expect(c.stop()).toBe(true);
      db.close();
    }
    // the worker's connection was closed before stop() returned: ours was the last, so the WAL is gone
    expect(existsSync(`${path}-wal`)).toBe(false);
  });

  test('idle when nothing new is written: one checkpoint of a quiet WAL, not one every busyMs', async () => {
    const { path, db } = walDatabase('quiet.sqlite', 100);
    const reports: CheckpointReport[] = [];
    const c = new Checkpointer(path, { idleMs: 5_000, busyMs: 20, onReport: (r) => reports.push(r) });
    try {
      await until('the first checkpoint', () => reports.length > 0);
      await new Promise((r) => setTimeout(r, 500)); // 25 busy periods
      expect(reports).toHaveLength(1);
    } finally {
      c.stop();
      db.close();
    }
  });

  test('a worker that cannot open the file reports its exit, once', async () => {
    const exits: Array<Error | undefined> = [];
    const c = new Checkpointer(join(dir, 'no-such-file.sqlite'), { idleMs: 1_000, busyMs: 20, onExit: (e) => exits.push(e) });
    await until('the worker to exit', () => exits.length === 1);
    expect(exits[0]!.message).toMatch(/^the checkpointer cannot open .*no-such-file\.sqlite: unable to open database file$/);
    const t0 = Date.now();
    expect(c.stop()).toBe(true);
    expect(Date.now() - t0).toBeLessThan(1_000); // no wait for a thread that is already gone
    expect(exits).toHaveLength(1);
  });

  test('a checkpointer left running does not keep the process alive', () => {
    ensureBuilt();
    const { path, db } = walDatabase('left-running.sqlite', 10);
    db.close();
    const script = `const { Checkpointer } = require(${JSON.stringify(join(ROOT, 'dist/store/checkpointer.js'))});
new Checkpointer(${JSON.stringify(path)}, { idleMs: 50, busyMs: 50, onReport: () => {} });
setTimeout(() => process.stdout.write('main done'), 200);`;
    const r = spawnSync(process.execPath, ['-e', script], { timeout: 10_000, encoding: 'utf8' });
    expect(r.error).toBeUndefined(); // not killed by the timeout
    expect([r.status, r.stdout]).toEqual([0, 'main done']);
  });

  test('stop() right after start still closes the connection', () => {
    const { path, db } = walDatabase('quick.sqlite', 10);
    const c = new Checkpointer(path, { idleMs: 1_000, busyMs: 1_000 });
    expect(c.stop()).toBe(true);
    db.close();
    expect(existsSync(`${path}-wal`)).toBe(false);
  });
});

describe('Store with its checkpointer', () => {
  test('commits checkpoint only as a backstop while the worker runs, and as SQLite does by default once it dies', async () => {
    const s = new Store(join(dir, 'fallback.sqlite'));
    const internals = s as unknown as { db: Database.Database; checkpointer: { worker: { terminate(): Promise<number> } } };
    const pages = () => internals.db.pragma('wal_autocheckpoint', { simple: true });
    try {
      expect(pages()).toBe(10_000);
      await internals.checkpointer.worker.terminate(); // the worker dies under the store
      await until('the store to take checkpoints back', () => pages() === 1_000);
    } finally {
      s.close();
    }
  });

  test('runs admitted reach the database file through the checkpointer; close leaves no WAL behind', async () => {
    const path = join(dir, 'store.sqlite');
    const s = new Store(path);
    const now = Date.now();
    for (let i = 0; i < 300; i++) {
      s.admitBatch([
        {
          runId: `r${i}`,
          idempotencyKey: `k${i}`,
          keyExpiresAt: now + 60_000,
          group: fixtureGroup((p) => (p.groupKey = `g${i}`)),
          alertname: 'db_pool_exhausted',
          trigger: 'webhook',
          notify: true,
          now,
        },
      ]);
    }
    await until('the runs in the database file', () => rowsInMainFile(path, 'store', 'runs') === 300, 5_000);
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(0);
    s.close();
    expect(existsSync(`${path}-wal`)).toBe(false);
    const again = new Store(path);
    expect(again.unfinishedRunIds()).toHaveLength(300);
    again.close();
  });
});
