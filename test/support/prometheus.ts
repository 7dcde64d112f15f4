import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { escapeLabelValue, formatValue, valueAt, type MetricsTarget, type TargetSeries } from './metrics-target';
import { startServerProcess, tempDir, type ServerProcess } from './processes';

/**
 * The real Prometheus (Debian's /usr/bin/prometheus 2.42) for tests: scrapes an in-process
 * `MetricsTarget` every second (job "app", honor_labels) and can be started on a TSDB backfilled
 * with hours of history from the target's own value functions (promtool
 * `tsdb create-blocks-from openmetrics`), so `offset 1h` / `offset 1d` and a 30-minute trend have
 * data at once. Ready in well under a second; the first live scrape comes about 5 s after start
 * (Prometheus' target discovery tick), so use `waitForData` before asserting on live values.
 */

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';
export const PROMTOOL_BIN = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool';
/** The scrape job name; live and backfilled series carry `job="app"` unless they set `job`. */
export const SCRAPE_JOB = 'app';

/** Sample the series' value functions every `stepMs` over [from, to] (unix ms). */
export interface BackfillRange {
  from: number;
  to: number;
  stepMs: number;
}

export interface StartPrometheusOptions {
  /** Scraped every second as job "app" with honor_labels (its own `job`/`instance` labels win). */
  target?: MetricsTarget;
  /** History written before start, sampled from the target's series (and `extraSeries`). `to` is capped at now. */
  backfill?: BackfillRange[];
  /** Series only backfilled, not served live (e.g. an endpoint that existed yesterday). */
  extraSeries?: TargetSeries[];
  /** A rule file (YAML, `groups: [...]`), evaluated every second. */
  rules?: string;
  /** Alertmanager base URLs (`http://127.0.0.1:PORT`) that firing alerts are sent to. */
  alertmanagers?: string[];
}

/** A vector sample as Prometheus' API returns it. */
export interface RawSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusServer extends ServerProcess {
  /** The labels Prometheus adds to the target's series (job, instance), for building expectations. */
  readonly targetLabels: Record<string, string>;
  /** Instant query through plain fetch (not our client); throws on an API error. */
  query(expr: string, time?: Date): Promise<RawSample[]>;
  /** Polls `expr` until it returns at least one sample that `accept` likes; throws after `timeoutMs` (default 15 s). */
  waitForData(expr: string, opts?: { timeoutMs?: number; accept?: (samples: RawSample[]) => boolean }): Promise<RawSample[]>;
}

/** OpenMetrics text of `series` sampled over `ranges` (each series' samples in time order, families contiguous), ending in `# EOF`. */
export function openMetricsBackfill(series: TargetSeries[], ranges: BackfillRange[], extraLabels: Record<string, string>): string {
  const lines: string[] = [];
  const sorted = [...series].sort((a, b) => a.name.localeCompare(b.name));
  const times = ranges
    .flatMap((r) => {
      const out: number[] = [];
      for (let t = r.from; t <= r.to; t += r.stepMs) out.push(Math.round(t));
      return out;
    })
    .sort((a, b) => a - b)
    .filter((t, i, a) => i === 0 || t !== a[i - 1]);
  for (const s of sorted) {
    const labels = { ...extraLabels, ...s.labels };
    const keys = Object.keys(labels).sort();
    const head = `${s.name}{${keys.map((k) => `${k}="${escapeLabelValue(labels[k]!)}"`).join(',')}}`;
    for (const t of times) {
      const v = valueAt(s.value, t);
      if (v !== null) lines.push(`${head} ${formatValue(v)} ${(t / 1000).toFixed(3)}`);
    }
  }
  lines.push('# EOF');
  return `${lines.join('\n')}\n`;
}

/** Starts Prometheus on a free port in a temp dir (backfilled first when asked). Stop it with `stop()` in afterAll. */
export async function startPrometheus(opts: StartPrometheusOptions = {}): Promise<PrometheusServer> {
  const dir = tempDir('prometheus');
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  const targetLabels: Record<string, string> = opts.target ? { job: SCRAPE_JOB, instance: opts.target.address } : {};
  if (opts.backfill?.length) {
    const now = Date.now() - 1;
    const ranges = opts.backfill.map((r) => ({ ...r, to: Math.min(r.to, now) })).filter((r) => r.from <= r.to);
    const series = [...(opts.target?.series() ?? []), ...(opts.extraSeries ?? [])];
    const file = join(dir, 'backfill.om');
    writeFileSync(file, openMetricsBackfill(series, ranges, targetLabels));
    execFileSync(PROMTOOL_BIN, ['tsdb', 'create-blocks-from', 'openmetrics', file, dataDir], { stdio: 'pipe', timeout: 30_000 });
  }
  const scrape = opts.target
    ? `scrape_configs:\n  - job_name: ${SCRAPE_JOB}\n    honor_labels: true\n    scrape_interval: 1s\n    scrape_timeout: 1s\n    static_configs:\n      - targets: ['${opts.target.address}']\n`
    : '';
  let extra = '';
  if (opts.rules) {
    writeFileSync(join(dir, 'rules.yml'), opts.rules);
    extra += `rule_files:\n  - ${join(dir, 'rules.yml')}\n`;
  }
  if (opts.alertmanagers?.length) {
    const hosts = opts.alertmanagers.map((u) => `'${new URL(u).host}'`).join(', ');
    extra += `alerting:\n  alertmanagers:\n    - api_version: v2\n      static_configs:\n        - targets: [${hosts}]\n`;
  }
  writeFileSync(join(dir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n${scrape}${extra}`);
  const proc = await startServerProcess({
    name: 'prometheus',
    bin: PROMETHEUS_BIN,
    dir,
    readyPath: '/-/ready',
    args: (port) => [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${dataDir}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=7d',
      // Alerts are sent once at firing, before Alertmanager discovery (5 s) is done; resend each second.
      '--rules.alert.resend-delay=1s',
      '--log.level=warn',
    ],
  });

  const query = async (expr: string, time?: Date): Promise<RawSample[]> => {
    const body = new URLSearchParams({ query: expr });
    if (time) body.set('time', (time.getTime() / 1000).toFixed(3));
    const res = await fetch(`${proc.url}/api/v1/query`, { method: 'POST', body, signal: AbortSignal.timeout(5_000) });
    const json = (await res.json()) as { status: string; error?: string; data: { resultType: string; result: unknown } };
    if (json.status !== 'success') throw new Error(`prometheus: ${json.error}`);
    if (json.data.resultType === 'scalar') return [{ metric: {}, value: json.data.result as [number, string] }];
    return json.data.result as RawSample[];
  };

  return {
    ...proc,
    targetLabels,
    query,
    async waitForData(expr, o = {}) {
      const deadline = Date.now() + (o.timeoutMs ?? 15_000);
      let last: RawSample[] = [];
      while (Date.now() < deadline) {
        last = await query(expr);
        if (last.length > 0 && (o.accept ? o.accept(last) : true)) return last;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`no data for ${expr} within ${o.timeoutMs ?? 15_000} ms (last: ${JSON.stringify(last)})`);
    },
  };
}
