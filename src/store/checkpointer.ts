import { Worker } from 'node:worker_threads';

/** What the checkpointer reports after each checkpoint (frames as in `PRAGMA wal_checkpoint`). */
export interface CheckpointReport {
  ok: boolean;
  /** Frames in the WAL, and of those copied into the database file; -1 when it could not run. */
  log: number;
  checkpointed: number;
  message?: string;
}

export interface CheckpointerOptions {
  /** Pause between two checkpoints when the last one found nothing left to copy. */
  idleMs: number;
  /** Pause after a checkpoint that copied frames (writes are arriving). */
  busyMs: number;
  /** Called after each checkpoint that found new frames in the WAL, and after each failed one. */
  onReport?: (r: CheckpointReport) => void;
  /** Called once when the worker dies; the store then checkpoints on its own writes again. */
  onExit?: (error: Error | undefined) => void;
}

/** The worker's inputs, as the constructor below sends them. */
interface CheckpointerWorkerData {
  path: string;
  /** better-sqlite3's resolved entry point (the worker, run from source text, has no module to resolve from). */
  driver: string;
  done: SharedArrayBuffer;
  idleMs: number;
  busyMs: number;
}

/** The worker's body: self-contained (it is run from its source text), with its inputs in workerData. */
function checkpointLoop(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- run from its source text (eval), this body has no module scope to import into
  const threads = require('node:worker_threads') as typeof import('node:worker_threads');
  const workerData = threads.workerData as CheckpointerWorkerData; // sent by the constructor below, typed there
  const parentPort = threads.parentPort;
  if (!parentPort) throw new Error('the checkpointer runs only in a worker thread');
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- as above, and the driver is loaded by its resolved path
  const Database = require(workerData.driver) as typeof import('better-sqlite3');
  const done = new Int32Array(workerData.done);
  let db: { pragma(sql: string): unknown; close(): void };
  try {
    db = new Database(workerData.path, { fileMustExist: true, timeout: 0 });
  } catch (e) {
    // eslint-disable-next-line preserve-caught-error -- better-sqlite3's errors lose their message on the way to the parent thread, so it is copied into a plain Error rather than attached as the cause
    throw new Error(`the checkpointer cannot open ${workerData.path}: ${(e as Error).message}`);
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  let lastLog = 0;
  const step = () => {
    let pause = workerData.idleMs;
    try {
      const [r] = db.pragma('wal_checkpoint(PASSIVE)') as [{ busy: number; log: number; checkpointed: number }];
      // A WAL of the same length as last time holds nothing new (until a writer restarts it from the top).
      if (r.log !== lastLog) {
        lastLog = r.log;
        if (r.log > 0) parentPort.postMessage({ ok: true, log: r.log, checkpointed: r.checkpointed });
        pause = workerData.busyMs;
      }
    } catch (e) {
      parentPort.postMessage({ ok: false, log: -1, checkpointed: -1, message: (e as Error).message });
    }
    timer = setTimeout(step, pause);
  };
  parentPort.on('message', (m: string) => {
    if (m !== 'stop') return;
    clearTimeout(timer);
    db.close();
    Atomics.store(done, 0, 1);
    Atomics.notify(done, 0);
    parentPort.close();
  });
  timer = setTimeout(step, workerData.busyMs);
}

/**
 * Copies the write-ahead log of the SQLite file at `path` into the database from a worker thread
 * with its own connection (PASSIVE checkpoints: it never blocks the store's writes). The store
 * then need not checkpoint inside its own commits, where the copy and its fsync would stall every
 * request waiting on that commit. `stop()` closes the worker's connection before it returns.
 */
export class Checkpointer {
  private readonly worker: Worker;
  private readonly done = new SharedArrayBuffer(4);
  private stopped = false;
  private exited = false;

  constructor(path: string, options: CheckpointerOptions) {
    this.worker = new Worker(`(${checkpointLoop.toString()})()`, {
      eval: true,
      workerData: {
        path,
        driver: require.resolve('better-sqlite3'),
        done: this.done,
        idleMs: options.idleMs,
        busyMs: options.busyMs,
      } satisfies CheckpointerWorkerData,
    });
    this.worker.on('message', (r: CheckpointReport) => options.onReport?.(r));
    let failure: Error | undefined;
    this.worker.on('error', (e: Error) => (failure = e));
    this.worker.on('exit', () => {
      this.exited = true;
      if (!this.stopped) options.onExit?.(failure ?? new Error('the checkpoint worker exited'));
    });
    // After the listeners: adding a message listener refs the worker's port again.
    this.worker.unref();
  }

  /** Stops the worker and waits (at most `timeoutMs`) until its connection is closed; true when it is. */
  stop(timeoutMs = 2_000): boolean {
    if (this.stopped) return true;
    this.stopped = true;
    if (this.exited) return true; // its thread is gone, and its connection with it
    const done = new Int32Array(this.done);
    this.worker.postMessage('stop');
    const closed = Atomics.wait(done, 0, 0, timeoutMs) !== 'timed-out';
    void this.worker.terminate();
    return closed;
  }
}
