import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startPostgres } from '../test/support/postgres';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { ROOT } from '../test/support/process';
import { freePort, tempDir } from '../test/support/processes';
import { until } from '../test/support/wait';
import { load, TOKEN } from './intake';
import type { LoadResult } from './load-result';
import type { Figure } from './report';

const ROUND_S = 5;
const FIXED_RATE = 500;

/**
 * Intake on the shared store: receivers as child processes (the same build), each 202 after a
 * durable write, every request a new notification for one of 100 groups; the SQLite file, one
 * replica on PostgreSQL (`state.url`) and two replicas on it (the load split between them, as a
 * load balancer would), in the same run. Throughput at max load (20 connections in all) and p99
 * at a fixed 500 requests/s in all.
 */
export async function benchReplicas(): Promise<Figure[]> {
  const dir = tempDir('bench-replicas');
  const pg = await startPostgres({ statStatements: false });
  const figures: Figure[] = [];
  const setups: Array<{ name: string; replicas: number; state: (i: number) => Promise<string> }> = [
    { name: 'SQLite, 1 process', replicas: 1, state: () => Promise.resolve(`state: { path: "${join(dir, 'state.sqlite')}" }`) },
    { name: 'PostgreSQL, 1 replica', replicas: 1, state: async () => `state: { url: "${await database('one')}" }` },
    { name: 'PostgreSQL, 2 replicas', replicas: 2, state: async () => `state: { url: "${await database('two')}" }` },
  ];
  const made = new Map<string, string>();
  async function database(name: string): Promise<string> {
    if (!made.has(name)) {
      const c = await pg.connect();
      await c.query(`CREATE DATABASE state_${name}`);
      await c.end();
      made.set(name, pg.url({ database: `state_${name}` }));
    }
    return made.get(name)!;
  }
  let base: number | undefined;
  try {
    for (const setup of setups) {
      const servers: Array<{ url: string; child: ChildProcess }> = [];
      for (let i = 0; i < setup.replicas; i++) {
        const config = join(dir, `${setup.name.replace(/\W+/g, '-')}-${i}.yml`);
        writeFileSync(
          config,
          [
            `server: { host: 127.0.0.1, port: ${await freePort()}, auth: { token: "${TOKEN}" } }`,
            // warnings only, as in the in-process intake figure: a line per request would measure the logger
            'log: { level: warn }',
            await setup.state(i),
            'routes: [ { enrichers: [] } ]',
            'pipeline: { cooldownMs: 60000 }',
          ].join('\n'),
        );
        servers.push(await startQuiet(config));
      }
      try {
        const split = (opts: { duration: number; rate?: number }) =>
          Promise.all(
            servers.map((s, i) =>
              load(`${s.url}/webhook`, { ...opts, connections: 20 / servers.length, offset: i, ...(opts.rate ? { rate: opts.rate / servers.length } : {}) }),
            ),
          );
        await split({ duration: 1 }); // warm up
        const max = await split({ duration: ROUND_S });
        const fixed = await split({ duration: ROUND_S, rate: FIXED_RATE });
        const rps = max.reduce((n, r) => n + r.requests.average, 0);
        const baseline = (base ??= rps);
        const worst = (rs: LoadResult[], q: 'p50' | 'p99') => Math.max(...rs.map((r) => r.latency[q]));
        const non2xx = [...max, ...fixed].reduce((n, r) => n + r.non2xx + r.errors, 0);
        figures.push({
          name: `intake, ${setup.name}: throughput, p50 / p99 at max load`,
          value: `${rps.toFixed(0)} req/s (${((rps / baseline) * 100).toFixed(0)}% of SQLite); ${worst(max, 'p50')} / ${worst(max, 'p99')} ms`,
          goal: 'report',
          pass: non2xx === 0,
          note: `${non2xx} non-2xx or errors (${JSON.stringify(Object.assign({}, ...max.map((r) => r.statusCodeStats ?? {})))})`,
        });
        figures.push({
          name: `intake, ${setup.name}: p99 at ${FIXED_RATE} req/s`,
          value: `${worst(fixed, 'p99')} ms (p50 ${worst(fixed, 'p50')} ms)`,
          goal: 'report',
          pass: true,
          note: `${fixed.reduce((n, r) => n + r.requests.average, 0).toFixed(0)} req/s achieved`,
        });
      } finally {
        await Promise.all(servers.map((s) => (s.child.kill('SIGTERM'), once(s.child, 'exit'))));
      }
    }
  } finally {
    await pg.stop();
  }
  return figures;
}

/** Starts the built receiver with `config` (its port in it), logs discarded; resolves once /healthz answers. */
async function startQuiet(config: string): Promise<{ url: string; child: ChildProcess }> {
  const port = /port: (\d+)/.exec(readFileSync(config, 'utf8'))![1];
  const child = spawn(process.execPath, [join(ROOT, 'dist/server.js'), '--config', config], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  try {
    await until('the receiver to answer /healthz', async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.status === 200, 20_000, 100);
  } catch (e) {
    child.kill('SIGKILL'); // never leave a receiver behind
    throw e;
  }
  return { url, child };
}
