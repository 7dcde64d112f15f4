import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A scrape target inside the test process: an HTTP server on 127.0.0.1 (a free port) serving
 * settable series in the Prometheus text format at `/metrics`. A series' value is a number or a
 * function of time (unix ms), so counters can grow at a set rate and the same function can be
 * backfilled into Prometheus for the hours before the test (see `startPrometheus`).
 */

/** A value now, or a function of the scrape time (unix ms) where null means "no sample then" (the series is absent). */
export type SeriesValue = number | ((tMs: number) => number | null);

export interface TargetSeries {
  name: string;
  labels: Record<string, string>;
  value: SeriesValue;
}

export interface MetricsTarget {
  /** `127.0.0.1:PORT`, as a Prometheus static target. */
  readonly address: string;
  /** `http://127.0.0.1:PORT/metrics` */
  readonly url: string;
  /** Sets (or replaces) the series `name{labels}`. */
  set(name: string, labels: Record<string, string>, value: SeriesValue): void;
  /** Removes the series `name{labels}`; true if it existed. */
  remove(name: string, labels: Record<string, string>): boolean;
  /** Removes every series. */
  clear(): void;
  /** The series currently served. */
  series(): TargetSeries[];
  /**
   * Serves `render(tMs)` as the scrape's text instead of the default rendering (a library's own
   * exposition, comment lines and all); `series()`, which backfill reads, stays as set. null: back to the default.
   */
  serveText(render: ((tMs: number) => string) | null): void;
  /** How many times /metrics was fetched. */
  readonly scrapes: number;
  close(): Promise<void>;
}

/** A counter growing at `perSecond` from `start` at time `sinceMs` (flat before it). */
export function counterAt(start: number, perSecond: number, sinceMs: number): (tMs: number) => number {
  return (t) => start + Math.max(0, (t - sinceMs) / 1000) * perSecond;
}

/** Escapes a label value for the text exposition format and OpenMetrics (`\\`, `\"`, `\n`). */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** `name{a="b",...}` in the exposition format (labels sorted, escaped). */
export function seriesText(name: string, labels: Record<string, string>): string {
  const keys = Object.keys(labels).sort();
  return keys.length ? `${name}{${keys.map((k) => `${k}="${escapeLabelValue(labels[k]!)}"`).join(',')}}` : name;
}

/** Formats a sample value for the exposition formats (NaN, +Inf, -Inf spelled as Prometheus spells them). */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** The value at `tMs`, or null where the series is absent then. */
export function valueAt(v: SeriesValue, tMs: number): number | null {
  return typeof v === 'function' ? v(tMs) : v;
}

/** Renders every series at time `tMs` in the text format, grouped by metric name. */
export function renderExposition(series: TargetSeries[], tMs: number): string {
  const byName = new Map<string, TargetSeries[]>();
  for (const s of series) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
  let out = '';
  for (const [name, list] of [...byName].sort(([a], [b]) => a.localeCompare(b))) {
    out += `# TYPE ${name} untyped\n`;
    for (const s of list) {
      const v = valueAt(s.value, tMs);
      if (v !== null) out += `${seriesText(name, s.labels)} ${formatValue(v)}\n`;
    }
  }
  return out;
}

/** Starts the target on 127.0.0.1 on a free port. */
export async function startMetricsTarget(): Promise<MetricsTarget> {
  const table = new Map<string, TargetSeries>();
  let scrapes = 0;
  let custom: ((tMs: number) => string) | null = null;
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || !req.url?.startsWith('/metrics')) {
      res.writeHead(404).end();
      return;
    }
    scrapes++;
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
    res.end(custom ? custom(Date.now()) : renderExposition([...table.values()], Date.now()));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const key = (name: string, labels: Record<string, string>) => seriesText(name, labels);
  return {
    address: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}/metrics`,
    set(name, labels, value) {
      table.set(key(name, labels), { name, labels: { ...labels }, value });
    },
    remove(name, labels) {
      return table.delete(key(name, labels));
    },
    clear() {
      table.clear();
    },
    series() {
      return [...table.values()];
    },
    serveText(render) {
      custom = render;
    },
    get scrapes() {
      return scrapes;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
