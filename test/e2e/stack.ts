/**
 * The whole loop for one end-to-end scenario, every part real except Slack:
 *   a private PostgreSQL (test/support/postgres.ts) with a monitoring role (pg_monitor);
 *   the demo backend from dist/ as a child process (pool max 10, steady background traffic,
 *   pino JSON to a log file);
 *   Prometheus (deploy/prometheus.yml and the runbook's rules, `for:` 2 s, scrape 1 s) scraping it,
 *   its TSDB backfilled with three hours of `http_requests_total` at the background rate, so
 *   `offset 1h` sees normal traffic;
 *   Alertmanager (deploy/alertmanager.yml, short timers) routing db_pool_exhausted to our /webhook
 *   with a bearer token from a file;
 *   our receiver, `node dist/server.js --config FILE`, enriching from all of them and posting to
 *   the fake Slack (test/fakes/slack.ts).
 * A fresh stack per test file: no receiver state (cool-down) leaks from one scenario into the next.
 *
 * The page Alertmanager's own Slack receiver would post is seeded in the alerts channel when the
 * scenario is induced; our diagnostic must land in its thread.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import type { Client } from 'pg';
import type { Diagnostic } from '../../src/core/diagnostic';
import { FakeSlack, type FakeMessage } from '../fakes/slack';
import { ALERTMANAGER_BIN, startAlertmanager, type AlertmanagerServer } from '../support/alertmanager';
import { counterAt, type TargetSeries } from '../support/metrics-target';
import { DEPLOY_DIR, writeAlertmanagerConfig, writePrometheusConfig } from '../support/monitoring-config';
import { startServer, ensureBuilt, type ServerProcess as ReceiverProcess } from '../support/process';
import { freePort, startServerProcess, tempDir, type ServerProcess } from '../support/processes';
import { openMetricsBackfill, PROMETHEUS_BIN, PROMTOOL_BIN } from '../support/prometheus';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { childPids } from '../../demo/postgres';
import { until } from '../support/wait';

const ROOT = path.join(__dirname, '..', '..');
/** The fake Slack's channels: pages (and our diagnostics in their threads), incident summaries. */
export const ALERTS_CHANNEL = 'C0ALERTS';
export const INCIDENT_CHANNEL = 'C0INCIDENT';
/** The background traffic of the demo backend (requests per second) and its hour-ago baseline. */
export const BACKGROUND_RPS = 8;
/** How the backend's background loop splits its requests (every 4th is a summary). */
const BASELINE = [
  { endpoint: '/api/orders', rps: (BACKGROUND_RPS * 3) / 4 },
  { endpoint: '/api/customers/:id/summary', rps: BACKGROUND_RPS / 4 },
];
/** The backend's HikariCP-style leak detection: a connection the leak scenario holds this long gets a leak warning in its log, well before the alert fires. */
export const LEAK_DETECTION_MS = 2_000;
/** The backend's pool acquire timeout: requests give up on a full pool after this (and log it). */
const ACQUIRE_TIMEOUT_MS = 2_000;

/** Throws a clear error (never skips) when Prometheus, promtool or Alertmanager is missing. */
export function requireMonitoringBinaries(): void {
  const missing = [PROMETHEUS_BIN, PROMTOOL_BIN, ALERTMANAGER_BIN].filter((b) => !fs.existsSync(b));
  if (missing.length > 0) {
    throw new Error(
      `the end-to-end tests need the real Prometheus and Alertmanager; missing: ${missing.join(', ')}. ` +
        'Install them with `apt-get install -y prometheus prometheus-alertmanager` (.ci/run does), or point PROMETHEUS_BIN, PROMTOOL_BIN and ALERTMANAGER_BIN at them.',
    );
  }
}

/** The demo backend child process. */
export interface BackendProcess {
  child: ChildProcess;
  pid: number;
  url: string;
  /** host:port, the Prometheus target. */
  address: string;
  logFile: string;
  output(): string;
  stop(): Promise<void>;
}

/** Starts `node .demo-dist/demo/backend/main.js` (`npm run build:demo`) on a free port; resolves once it serves /healthz. */
async function startBackend(databaseUrl: string, logFile: string, poolMetrics: string): Promise<BackendProcess> {
  const args = [
    path.join(ROOT, '.demo-dist/demo/backend/main.js'),
    '--port',
    '0',
    '--log-file',
    logFile,
    '--background-rps',
    String(BACKGROUND_RPS),
    '--query-cost-ms',
    '20',
    '--leak-interval-ms',
    '50',
    '--leak-detection-ms',
    String(LEAK_DETECTION_MS),
    '--slow-seconds',
    '300',
    '--acquire-timeout-ms',
    String(ACQUIRE_TIMEOUT_MS),
    '--pool-metrics',
    poolMetrics,
  ];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (out += b));
  const exited = once(child, 'exit');
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo backend did not start within 15 s:\n${out}`)), 15_000);
    child.stdout.on('data', () => {
      const m = out.match(/demo backend on (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then(([code]) => {
      clearTimeout(timer);
      reject(new Error(`demo backend exited (${code}) before listening:\n${out}`));
    });
  });
  let stopped: Promise<void> | undefined;
  return {
    child,
    pid: child.pid!,
    url,
    address: new URL(url).host,
    logFile,
    output: () => out,
    stop: () =>
      (stopped ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 12_000);
        await exited;
        clearTimeout(t);
      })()),
  };
}

/** Stops a receiver child by PID (SIGTERM, SIGKILL after 10 s). */
async function stopReceiver(r: ReceiverProcess): Promise<void> {
  if (r.child.exitCode !== null || r.child.signalCode !== null) return;
  r.child.kill('SIGTERM');
  const t = setTimeout(() => r.child.kill('SIGKILL'), 10_000);
  await r.exited;
  clearTimeout(t);
}

/** What reached Slack for the page. */
export interface DiagnosticInThread {
  page: FakeMessage;
  /** Our diagnostic messages in the page's thread (a `pf_header` block first). */
  diagnostics: FakeMessage[];
  /** Diagnostic messages anywhere else (our own thread parent, another thread): none expected. */
  elsewhere: FakeMessage[];
  /** The stored Diagnostic behind the first one (GET /diagnostics/:id). */
  diagnostic: Diagnostic;
  /** Every text of that message (blocks' text and fields). */
  text: string;
}

/** The running loop of one scenario file (see the top of this file). */
export interface Stack {
  pg: TestPostgres;
  admin: Client;
  slack: FakeSlack;
  backend: BackendProcess;
  alertmanager: AlertmanagerServer;
  prometheus: ServerProcess;
  receiver: ReceiverProcess;
  token: string;
  /** The seeded page, once `induce` ran. */
  page?: FakeMessage;
  /** POST /scenario/<name> to the backend (throws unless 200) and seeds the page. */
  induce(name: 'leak' | 'slow' | 'lock' | 'traffic' | 'reset'): Promise<void>;
  /** Seeds the page Alertmanager's Slack receiver posts for db_pool_exhausted. */
  seedPage(): FakeMessage;
  /** Waits (default 45 s) for our diagnostic in the page's thread, then `settleMs` more to catch a second one. */
  waitForDiagnostic(opts?: { timeoutMs?: number; settleMs?: number }): Promise<DiagnosticInThread>;
  /** The backend's sessions in pg_stat_activity. */
  sessions(): Promise<
    Array<{ pid: number; state: string | null; wait_event_type: string | null; wait_event: string | null; query: string; blockers: number[] }>
  >;
  /** SIGSTOPs the postmaster and every backend of the PostgreSQL: it accepts TCP but never answers. Returns the PIDs. */
  freezeDatabase(): number[];
  /** SIGCONTs what freezeDatabase stopped (stop() does it too). */
  thawDatabase(): void;
  /** Stops everything it started (each by PID) and removes the temp dirs. */
  stop(): Promise<void>;
}

/** Every text in a Slack message's blocks (section text and fields, context elements, header). */
export function messageText(m: FakeMessage): string {
  const parts: string[] = [m.text ?? ''];
  for (const b of (m.blocks ?? []) as Array<Record<string, any>>) {
    if (b.text?.text) parts.push(b.text.text);
    for (const f of b.fields ?? []) parts.push(f.text ?? '');
    for (const e of b.elements ?? []) if (typeof e.text === 'string') parts.push(e.text);
  }
  return parts.join('\n');
}

const isDiagnostic = (m: FakeMessage) => ((m.blocks ?? []) as Array<{ block_id?: string }>)[0]?.block_id?.startsWith('pf_header') === true;

/**
 * Starts the whole loop (see the top of this file). `poolMetrics`: the layout the backend exports
 * its pool in (demo/backend/pool-metrics.ts; default the runbook's). On failure, stops what it started and throws.
 */
export async function startStack(opts: { chart?: boolean; poolMetrics?: 'runbook' | 'hikaricp' | 'otel' | 'go-sql' | 'pgbouncer' } = {}): Promise<Stack> {
  requireMonitoringBinaries();
  ensureBuilt();
  ensureBuilt('demo');
  const dir = tempDir('e2e');
  const stops: Array<() => Promise<unknown>> = [];
  let thaw = () => {};
  const stopAll = async () => {
    thaw(); // a frozen PostgreSQL would hang every stop after it
    for (const s of stops.reverse()) await s().catch(() => undefined);
    stops.length = 0;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const slack = await FakeSlack.start();
    stops.push(() => slack.close());
    // A private server even where PG_TEST_URL names a shared one: scenarios exhaust it, or freeze it.
    const pg = await startPostgres({ settings: {} });
    stops.push(() => pg.stop());
    const monitorUrl = await pg.createRole('pagefirst_monitor', 'monitor-secret-e2e', { monitor: true });
    const admin = await pg.connect({ applicationName: 'e2e-admin' });

    const backend = await startBackend(pg.adminUrl, path.join(dir, 'backend.log'), opts.poolMetrics ?? 'runbook');
    stops.push(() => backend.stop());

    const token = 'e2e-webhook-token-0123456789';
    const receiverPort = await freePort();
    const am = writeAlertmanagerConfig({ dir, webhookUrl: `http://127.0.0.1:${receiverPort}/webhook`, token });
    const alertmanager = await startAlertmanager({ config: fs.readFileSync(am.configFile, 'utf8') });
    stops.push(() => alertmanager.stop());

    // Three hours of the backend's request counters at the background rate, up to now: the live
    // counters (which start at 0) continue the series after a counter reset, so rate() over the
    // last minute is the real rate and `offset 1h` the baseline.
    const promDir = tempDir('e2e-prometheus');
    stops.push(async () => fs.rmSync(promDir, { recursive: true, force: true }));
    const prom = writePrometheusConfig({ dir: promDir, targets: { backend: backend.address }, alertmanager: new URL(alertmanager.url).host });
    const dataDir = path.join(promDir, 'data');
    fs.mkdirSync(dataDir);
    const now = Date.now();
    const from = now - 3 * 3_600_000;
    const series: TargetSeries[] = BASELINE.map((b) => ({
      name: 'http_requests_total',
      labels: { endpoint: b.endpoint, method: 'GET', status: '200' },
      value: counterAt(0, b.rps, from),
    }));
    const backfill = path.join(promDir, 'backfill.om');
    fs.writeFileSync(backfill, openMetricsBackfill(series, [{ from, to: now, stepMs: 15_000 }], { job: 'backend', instance: backend.address }));
    execFileSync(PROMTOOL_BIN, ['tsdb', 'create-blocks-from', 'openmetrics', backfill, dataDir], { stdio: 'pipe', timeout: 30_000 });
    const prometheus = await startServerProcess({
      name: 'prometheus',
      bin: PROMETHEUS_BIN,
      dir: promDir,
      readyPath: '/-/ready',
      args: (port) => [
        `--config.file=${prom.configFile}`,
        `--storage.tsdb.path=${dataDir}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--storage.tsdb.retention.time=7d',
        '--rules.alert.resend-delay=1s',
        '--log.level=warn',
      ],
    });
    stops.push(() => prometheus.stop());

    // The receiver: deploy/pagefirst.yml's enricher settings, local sources, the fake Slack.
    const deployed = parse(fs.readFileSync(path.join(DEPLOY_DIR, 'pagefirst.yml'), 'utf8')) as { enrichers: unknown };
    const config = {
      server: { host: '127.0.0.1', auth: { token } },
      state: { path: path.join(dir, 'state.sqlite') },
      sources: {
        prometheus: { url: prometheus.url },
        alertmanager: { url: alertmanager.url },
        postgres: [{ name: 'app', url: monitorUrl, timeoutMs: 2_000 }],
        logs: [{ name: 'backend', file: { path: backend.logFile } }],
      },
      // deploy's pool queries; the traffic rate over 1m instead of 5m, so a spike that began
      // seconds before the page already shows (the timings of the whole loop are shortened too).
      enrichers: { ...(deployed.enrichers as object), traffic: { rateWindow: '1m' } },
      slack: {
        token: slack.token,
        apiUrl: slack.url,
        alertsChannel: ALERTS_CHANNEL,
        incidentChannel: INCIDENT_CHANNEL,
        threadSearchWaitMs: 5_000,
        threadSearchPollMs: 250,
        channelIntervalMs: 100,
        chart: opts.chart ?? false,
      },
      links: { prometheus: prometheus.url, alertmanager: alertmanager.url },
    };
    const configFile = path.join(dir, 'pagefirst.yml');
    fs.writeFileSync(configFile, stringify(config));
    const receiver = await startServer(['--config', configFile], { PORT: String(receiverPort) });
    stops.push(() => stopReceiver(receiver));

    let frozen: number[] = [];
    thaw = () => {
      for (const pid of frozen)
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          /* gone */
        }
      frozen = [];
    };
    const stack: Stack = {
      pg,
      admin,
      slack,
      backend,
      alertmanager,
      prometheus,
      receiver,
      token,
      seedPage() {
        stack.page = slack.seedAlertmanagerPage(ALERTS_CHANNEL, {
          groupLabels: { alertname: 'db_pool_exhausted' },
          labels: { alertname: 'db_pool_exhausted', severity: 'critical' },
          summary: 'Database connection pool exhausted',
        });
        return stack.page;
      },
      async induce(name) {
        const res = await fetch(`${backend.url}/scenario/${name}`, { method: 'POST', signal: AbortSignal.timeout(15_000) });
        if (res.status !== 200) throw new Error(`POST /scenario/${name}: HTTP ${res.status} ${await res.text()}`);
        if (name !== 'reset') stack.seedPage();
      },
      async waitForDiagnostic(opts = {}) {
        const page = stack.page;
        if (!page) throw new Error('no page seeded: induce a scenario first');
        const deadline = Date.now() + (opts.timeoutMs ?? 45_000);
        let found: FakeMessage[] = [];
        while (Date.now() < deadline) {
          found = slack.replies(ALERTS_CHANNEL, page.ts).filter(isDiagnostic);
          if (found.length > 0) break;
          await new Promise((r) => setTimeout(r, 250));
        }
        if (found.length === 0) {
          const alerts = await alertmanager.alerts().catch((e) => `unavailable: ${(e as Error).message}`);
          throw new Error(
            `no diagnostic in the page's thread within ${opts.timeoutMs ?? 45_000} ms.\nSlack calls: ${JSON.stringify(slack.calls.map((c) => [c.method, c.error]))}\n` +
              `Alertmanager alerts: ${JSON.stringify(alerts).slice(0, 1500)}\nreceiver output:\n${receiver.output().split('\n').slice(-30).join('\n')}`,
          );
        }
        await new Promise((r) => setTimeout(r, opts.settleMs ?? 3_000));
        const diagnostics = slack.replies(ALERTS_CHANNEL, page.ts).filter(isDiagnostic);
        const elsewhere = slack.messages.filter((m) => isDiagnostic(m) && !(m.channel === ALERTS_CHANNEL && m.thread_ts === page.ts));
        const text = messageText(diagnostics[0]!);
        const runId = text.match(/Run `([^`]+)`/)?.[1];
        if (!runId) throw new Error(`no run id in the diagnostic message:\n${text}`);
        // the run is done once its last step (the chart, the incident summary) is: 202 until then
        let res: Response;
        for (;;) {
          res = await fetch(`${receiver.url}/diagnostics/${encodeURIComponent(runId)}`, {
            headers: { authorization: `Bearer ${token}` },
            signal: AbortSignal.timeout(5_000),
          });
          if (res.status !== 202 || Date.now() > deadline) break;
          await new Promise((r) => setTimeout(r, 250));
        }
        if (res.status !== 200) throw new Error(`GET /diagnostics/${runId}: HTTP ${res.status}`);
        return { page, diagnostics, elsewhere, diagnostic: (await res.json()) as Diagnostic, text };
      },
      async sessions() {
        return (
          await admin.query(
            "SELECT pid, state, wait_event_type, wait_event, query, pg_blocking_pids(pid) AS blockers FROM pg_stat_activity WHERE application_name = 'demo-backend'",
          )
        ).rows;
      },
      freezeDatabase() {
        if (!pg.pid) throw new Error('freezeDatabase needs a private PostgreSQL (unset PG_TEST_URL)');
        process.kill(pg.pid, 'SIGSTOP');
        frozen.push(pg.pid);
        for (const pid of childPids(pg.pid)) {
          try {
            process.kill(pid, 'SIGSTOP');
            frozen.push(pid);
          } catch {
            // exited meanwhile
          }
        }
        return [...frozen];
      },
      thawDatabase: thaw,
      stop: stopAll,
    };
    stops.push(() => Promise.race([admin.end(), new Promise((r) => setTimeout(r, 5_000).unref())]));
    return stack;
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/** A readable summary of a diagnostic's causes for failure messages. */
export function causesText(d: Diagnostic): string {
  return (
    d.causes.map((c) => `${c.id} ${c.confidence.toFixed(2)}\n  ${c.evidence.join('\n  ')}`).join('\n') +
    `\nenrichments: ${d.enrichments.map((e) => `${e.enricher}=${e.status}${e.error ? `(${e.error})` : ''}`).join(', ')}`
  );
}

/**
 * What every scenario asserts first: exactly one diagnostic, in the page's thread and nowhere
 * else, from the webhook, with `top` as its first cause. Returns that Diagnostic.
 * With E2E_DEBUG set, the causes are printed.
 */
export function expectOneDiagnostic(got: DiagnosticInThread, top: string): Diagnostic {
  const d = got.diagnostic;
  if (process.env.E2E_DEBUG) process.stderr.write(`${causesText(d)}\n`);
  expect(got.diagnostics).toHaveLength(1);
  expect(got.elsewhere).toEqual([]);
  expect(d.trigger).toBe('webhook');
  expect({ top: d.causes[0]?.id, causes: causesText(d) }).toMatchObject({ top });
  return d;
}

/** Waits (15 s) for files shared into the page's thread (the pool chart) and returns them. */
export function chartsInThread(stack: Stack, got: DiagnosticInThread): Promise<NonNullable<FakeMessage['files']>> {
  return until(
    'the chart in the thread',
    () => {
      const f = stack.slack.replies(ALERTS_CHANNEL, got.page.ts).flatMap((m) => m.files ?? []);
      return f.length > 0 && f;
    },
    15_000,
  );
}
