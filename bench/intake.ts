import Fastify from 'fastify';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { fork } from 'node:child_process';
import { buildApp } from '../src/app';
import { parseConfig } from '../src/config';
import { createLogger, createRedactor } from '../src/logger';
import type { Figure } from './report';
import { loadResultSchema, type LoadResult } from './load-result';
import { tempDir } from '../test/support/processes';
import { firingWebhook } from '../test/support/fixtures';

export const TOKEN = 'bench-token-0123456789abcdef';
const DURATION_S = 8;
/** Throughput is measured in this many alternating rounds of ROUND_S seconds, bare then ours. */
const ROUNDS = 3;
const ROUND_S = 5;

function template(): string {
  const p = firingWebhook();
  // 100 groups, every request a new notification (its own fingerprint): a durable write each
  p.groupKey = '{}:{alertname="db_pool_exhausted",group="__G__"}';
  p.alerts[0]!.fingerprint = 'abc__N__';
  return JSON.stringify(p);
}

/** Runs autocannon in a child process against `url`, every request a new notification (`offset` keeps two generators' apart). */
export function load(url: string, opts: { rate?: number; duration?: number; connections?: number; offset?: number } = {}): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const args = {
      url,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      template: template()
        .split('abc__N__')
        .join(`abc${opts.offset ?? 0}f__N__`),
      duration: opts.duration ?? DURATION_S,
      connections: opts.connections ?? 20,
      rate: opts.rate,
    };
    const child = fork(join(__dirname, 'load-worker.js'), [JSON.stringify(args)], { stdio: 'inherit' });
    child.once('message', (m) => {
      const r = loadResultSchema.safeParse(m);
      if (r.success) resolve(r.data);
      else reject(new Error(`load generator answered ${JSON.stringify(m)}: ${r.error.message}`));
    });
    child.once('error', reject);
    child.once('exit', (code) => code !== 0 && reject(new Error(`load generator exited with ${code}`)));
  });
}

/**
 * Intake: POST /webhook (validation, durable SQLite write, 202) against a bare Fastify route in
 * the same process that answers 202 with no work; then both at a fixed 1,000 requests/s for p99.
 */
export async function benchIntake(): Promise<Figure[]> {
  const dir = tempDir('bench-intake');
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const config = parseConfig(
    {
      state: { path: `${dir}/state.sqlite` },
      server: { auth: { token: TOKEN } },
      log: { level: 'warn' },
      routes: [{ enrichers: [] }],
      pipeline: { cooldownMs: 60_000 },
    },
    {},
  );
  const redact = createRedactor([TOKEN]);
  const service = await buildApp(config, { logger: createLogger('warn', redact, { write: () => true }), redact, out: sink });
  const ours = await service.app.listen({ host: '127.0.0.1', port: 0 });
  const bare = Fastify({ bodyLimit: 1024 * 1024 });
  bare.post('/webhook', async (_req, reply) => reply.code(202).send({ id: 'x', duplicate: false }));
  const bareUrl = await bare.listen({ host: '127.0.0.1', port: 0 });

  // Both get the same load (the same bodies, each a new fingerprint, from the same generator); warm up both.
  await load(`${bareUrl}/webhook`, { duration: 1 });
  await load(`${ours}/webhook`, { duration: 1 });

  // Alternating rounds: a machine whose load drifts moves both sides of each round's ratio alike.
  const rounds: Array<{ bare: LoadResult; ours: LoadResult; ratio: number }> = [];
  for (let i = 0; i < ROUNDS; i++) {
    const b = await load(`${bareUrl}/webhook`, { duration: ROUND_S });
    const o = await load(`${ours}/webhook`, { duration: ROUND_S });
    rounds.push({ bare: b, ours: o, ratio: o.requests.average / b.requests.average });
  }
  const median = [...rounds].sort((a, b) => a.ratio - b.ratio)[Math.floor(ROUNDS / 2)]!;
  const { bare: bareMax, ours: oursMax, ratio } = median;
  const ratios = rounds.map((r) => `${(r.ratio * 100).toFixed(0)}%`).join(', ');
  const bareFixed = await load(`${bareUrl}/webhook`, { rate: 1000 });
  const oursFixed = await load(`${ours}/webhook`, { rate: 1000 });

  await bare.close();
  await service.app.close();
  const non2xx = rounds.reduce((n, r) => n + r.ours.non2xx, 0) + oursFixed.non2xx;
  return [
    {
      name: 'intake throughput (ours / bare route)',
      value: `${oursMax.requests.average.toFixed(0)} / ${bareMax.requests.average.toFixed(0)} req/s = ${(ratio * 100).toFixed(0)}%`,
      goal: '>= 70%',
      pass: ratio >= 0.7,
      note: `median of ${ROUNDS} alternating rounds (${ratios}); ${non2xx} non-2xx`,
    },
    {
      name: 'intake p50 / p99 at max load (ours)',
      value: `${oursMax.latency.p50} / ${oursMax.latency.p99} ms`,
      goal: 'report',
      pass: true,
      note: `bare ${bareMax.latency.p50} / ${bareMax.latency.p99} ms`,
    },
    {
      name: 'intake p99 at 1,000 req/s (ours)',
      value: `${oursFixed.latency.p99} ms (p50 ${oursFixed.latency.p50} ms)`,
      goal: '< 10 ms',
      pass: oursFixed.latency.p99 < 10,
      note: `bare p99 ${bareFixed.latency.p99} ms; ${oursFixed.requests.average.toFixed(0)} req/s achieved`,
    },
  ];
}
