import type { PoolClient, QueryConfig } from 'pg';
import { Client } from 'pg';
import type { Logger } from 'pino';
import type { BackendConfig, ScenarioName } from './config';
import { errorCode, errorFields, type Database } from './db';
import { hikariLeakWarning } from './leak-warning';
import type { BackendMetrics } from './metrics';

/** What the leak runs before forgetting its transaction (shows in pg_stat_activity as the session's last query). */
export const LEAK_QUERY = 'SELECT id, status FROM orders WHERE customer_id = $1 FOR SHARE';
/** What the slow scenario runs. */
export const SLOW_QUERY = 'SELECT pg_sleep($1::float8) AS slept, count(*) AS orders FROM orders';
/** What the lock holder and its waiters run, on the same row. */
export const LOCK_QUERY = 'UPDATE orders SET status = $1 WHERE id = $2';
/** The row the lock scenario fights over. */
export const LOCK_ROW_ID = 1;
/** How long a reset waits for a scenario's workers before giving up on them. */
export const STOP_TIMEOUT_MS = 10_000;
/** Timeout of one request of the load generator. */
export const LOAD_REQUEST_TIMEOUT_MS = 15_000;
/** Timeout of the side connection that cancels the slow scenario's queries. */
const CANCEL_CONNECT_TIMEOUT_MS = 3_000;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

/** Waits for `p` (its outcome ignored), at most `ms`; leaves no timer behind. */
async function bounded(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      p.then(
        () => undefined,
        () => undefined,
      ),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A running scenario: `stop` gives back every connection it holds. */
interface Running {
  name: ScenarioName;
  since: string;
  stop(): Promise<void>;
  /** Connections it holds or tries to hold now. */
  holding(): number;
}

export interface ScenarioDeps {
  db: Database;
  config: BackendConfig;
  logger: Logger;
  metrics: BackendMetrics;
  /** The backend's own base URL (http://127.0.0.1:PORT) for the load generator. */
  selfUrl: () => string;
  /** Resolves when the schema exists (scenarios need the orders table). */
  ready: () => Promise<void>;
  /** Writes text to the log as it is (the leak warning's lines); absent: no leak warnings. */
  rawLog?: (text: string) => void;
}

/** The state a GET /scenario shows. */
export interface ScenarioState {
  scenario: ScenarioName | null;
  since: string | null;
  holding: number;
}

/**
 * Induces one scenario at a time on the backend's own pool, each driving available connections
 * below 2 within seconds: `leak` (idle in transaction, never released), `slow` (pg_sleep),
 * `lock` (one transaction holds a row lock, the rest wait on it), `traffic` (a load generator at
 * its own API). Starting one resets the previous; `reset` gives every connection back.
 */
export class ScenarioController {
  private running: Running | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: ScenarioDeps) {}

  /** The scenario now induced. */
  state(): ScenarioState {
    return { scenario: this.running?.name ?? null, since: this.running?.since ?? null, holding: this.running?.holding() ?? 0 };
  }

  /** Stops the current scenario and starts `name`; resolves once it is under way. Throws when the database is not ready. */
  start(name: ScenarioName): Promise<ScenarioState> {
    return this.serial(async () => {
      await this.stopCurrent();
      await this.deps.ready();
      const run = this.create(name);
      this.running = run;
      this.deps.metrics.scenario.set({ scenario: name }, 1);
      this.deps.logger.warn({ scenario: name, connections: this.deps.config.scenarioConnections }, 'scenario started');
      return this.state();
    });
  }

  /** Stops the current scenario, giving back its connections. */
  reset(): Promise<ScenarioState> {
    return this.serial(async () => {
      await this.stopCurrent();
      return this.state();
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async stopCurrent(): Promise<void> {
    const r = this.running;
    if (!r) return;
    this.running = undefined;
    await r.stop();
    this.deps.metrics.scenario.set({ scenario: r.name }, 0);
    this.deps.logger.warn({ scenario: r.name }, 'scenario reset');
  }

  private create(name: ScenarioName): Running {
    switch (name) {
      case 'leak':
        return this.leak();
      case 'slow':
        return this.slow();
      case 'lock':
        return this.lock();
      case 'traffic':
        return this.traffic();
    }
  }

  /**
   * Checks out connections one every leakIntervalMs, runs BEGIN and a SELECT on each, never
   * releases them; with leakDetectionMs, writes HikariCP's leak warning for each one held that long.
   */
  private leak(): Running {
    const { db, config, logger, rawLog } = this.deps;
    const held: PoolClient[] = [];
    const abort = new AbortController();
    const detectors: NodeJS.Timeout[] = [];
    const detect = (c: PoolClient, i: number) => {
      if (!rawLog || config.leakDetectionMs <= 0) return;
      const pid = (c as unknown as { processID?: number }).processID ?? 0;
      const t = setTimeout(
        () =>
          rawLog(
            hikariLeakWarning({
              at: new Date(),
              pid: process.pid,
              connection: `org.postgresql.jdbc.PgConnection@${pid.toString(16)}`,
              thread: `leak-scenario-${i + 1}`,
            }),
          ),
        config.leakDetectionMs,
      );
      t.unref();
      detectors.push(t);
    };
    const loop = (async () => {
      for (let i = 0; i < config.scenarioConnections && !abort.signal.aborted; i++) {
        try {
          const c = await db.checkout({ scenario: 'leak' }); // LEAK_CHECKOUT_FRAME's line (leak-warning.ts)
          detect(c, i);
          held.push(c);
          await c.query('BEGIN');
          await c.query(LEAK_QUERY, [1 + (i % 1000)]);
          // The missing c.release(): the bug this scenario demonstrates.
        } catch (e) {
          logger.warn({ scenario: 'leak', error: errorFields(e) }, 'leak step failed');
        }
        await sleep(config.leakIntervalMs, abort.signal);
      }
    })();
    return {
      name: 'leak',
      since: new Date().toISOString(),
      holding: () => held.length,
      stop: async () => {
        abort.abort();
        for (const t of detectors) clearTimeout(t);
        await bounded(loop, STOP_TIMEOUT_MS);
        await Promise.all(
          held.map(async (c) => {
            try {
              await c.query('ROLLBACK');
              c.release();
            } catch (e) {
              c.release(e as Error); // terminated meanwhile (pg_terminate_backend): destroy it
            }
          }),
        );
      },
    };
  }

  /** scenarioConnections workers, each running a query that sleeps slowSeconds, again and again. */
  private slow(): Running {
    const { db, config, logger } = this.deps;
    const abort = new AbortController();
    const pids = new Set<number>();
    let busy = 0;
    const worker = async () => {
      while (!abort.signal.aborted) {
        try {
          await db.withClient(
            async (c) => {
              if (abort.signal.aborted) return; // got a connection only after the reset
              const pid = (c as unknown as { processID?: number }).processID;
              if (pid) pids.add(pid);
              busy++;
              try {
                await c.query(SLOW_QUERY, [config.slowSeconds]);
              } catch (e) {
                if (!(abort.signal.aborted && errorCode(e) === '57014')) throw e; // cancelled by reset: expected
              } finally {
                busy--;
                if (pid) pids.delete(pid);
              }
            },
            { scenario: 'slow' },
          );
        } catch {
          await sleep(500, abort.signal); // recorded and logged by withClient
        }
      }
    };
    const workers = Array.from({ length: config.scenarioConnections }, worker);
    return {
      name: 'slow',
      since: new Date().toISOString(),
      holding: () => busy,
      stop: async () => {
        abort.abort();
        await this.cancel([...pids]).catch((e) => logger.warn({ error: errorFields(e) }, 'could not cancel the slow queries; waiting for them'));
        await bounded(Promise.all(workers), Math.max(STOP_TIMEOUT_MS, config.slowSeconds * 1000 + 1000));
      },
    };
  }

  /** One transaction updates a row and stays open (idle in transaction); the other connections update the same row and wait. */
  private lock(): Running {
    const { db, config, logger } = this.deps;
    const abort = new AbortController();
    let holder: PoolClient | undefined;
    let waiting = 0;
    const started = (async () => {
      const c = await db.checkout({ scenario: 'lock' });
      holder = c;
      await c.query('BEGIN');
      await c.query(LOCK_QUERY, ['processing', LOCK_ROW_ID]);
    })();
    const waiter = async () => {
      await started.catch(() => undefined);
      while (!abort.signal.aborted) {
        try {
          waiting++;
          await db.withClient((c) => c.query(LOCK_QUERY, ['shipped', LOCK_ROW_ID]), { scenario: 'lock' });
        } catch {
          await sleep(500, abort.signal);
        } finally {
          waiting--;
        }
      }
    };
    const waiters = Array.from({ length: Math.max(0, config.scenarioConnections - 1) }, waiter);
    started.catch((e) => logger.warn({ scenario: 'lock', error: errorFields(e) }, 'could not take the row lock'));
    return {
      name: 'lock',
      since: new Date().toISOString(),
      holding: () => (holder ? 1 : 0) + waiting,
      stop: async () => {
        abort.abort();
        await bounded(started, STOP_TIMEOUT_MS);
        if (holder) {
          try {
            await holder.query('ROLLBACK');
            holder.release();
          } catch (e) {
            holder.release(e as Error);
          }
        }
        await bounded(Promise.all(waiters), STOP_TIMEOUT_MS);
      },
    };
  }

  /** trafficConcurrency loops requesting its own API as fast as it answers. */
  private traffic(): Running {
    const { config } = this.deps;
    const abort = new AbortController();
    let inFlight = 0;
    const loop = async (n: number) => {
      let i = n;
      while (!abort.signal.aborted) {
        i++;
        const path = i % 5 === 0 ? `/api/orders/${1 + (i % 5000)}` : `/api/orders?customer=${1 + (i % 1000)}`;
        inFlight++;
        try {
          const res = await fetch(`${this.deps.selfUrl()}${path}`, { signal: AbortSignal.any([abort.signal, AbortSignal.timeout(LOAD_REQUEST_TIMEOUT_MS)]) });
          await res.arrayBuffer();
        } catch {
          await sleep(100, abort.signal);
        } finally {
          inFlight--;
        }
      }
    };
    const loops = Array.from({ length: config.trafficConcurrency }, (_, n) => loop(n * 7919));
    return {
      name: 'traffic',
      since: new Date().toISOString(),
      holding: () => Math.min(inFlight, config.poolMax),
      stop: async () => {
        abort.abort();
        await bounded(Promise.all(loops), STOP_TIMEOUT_MS);
      },
    };
  }

  /** Cancels the queries of `pids` from a side connection (the pool may be full). */
  private async cancel(pids: number[]): Promise<void> {
    if (pids.length === 0) return;
    const c = new Client({
      connectionString: this.deps.config.databaseUrl,
      connectionTimeoutMillis: CANCEL_CONNECT_TIMEOUT_MS,
      application_name: `${this.deps.config.applicationName}-reset`,
    });
    c.on('error', () => undefined);
    try {
      await c.connect();
      // A per-query `query_timeout` is read by node-postgres (brianc/node-postgres packages/pg/lib/client.js,
      // `config.query_timeout || this.connectionParameters.query_timeout`) but absent from @types/pg's QueryConfig.
      const cancel: QueryConfig & { query_timeout: number } = {
        text: 'SELECT pg_cancel_backend(pid) FROM unnest($1::int[]) AS pid',
        values: [pids],
        query_timeout: CANCEL_CONNECT_TIMEOUT_MS,
      };
      await c.query(cancel);
    } finally {
      await c.end().catch(() => undefined);
    }
  }
}
