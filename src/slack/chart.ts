/**
 * The pool chart: active, idle and total connections over the alert window, as a PNG. The spec
 * is vega-lite, compiled to vega, rendered headless to SVG and rasterised by @resvg/resvg-js (no
 * native canvas). It runs in a worker thread: rendering is CPU work that must not stall the
 * event loop, vega ships as ES modules only, and a stuck render is ended by terminating the
 * worker at the timeout.
 */
import { Worker } from 'node:worker_threads';
import type { SeriesSection } from '../core/diagnostic';

/** Points kept per series (evenly thinned above it): more adds nothing at 900 px. */
export const MAX_CHART_POINTS = 600;
/** Series drawn at most. */
export const MAX_CHART_SERIES = 6;
/** Width of the PNG in pixels. */
export const CHART_WIDTH_PX = 900;
const SERIES_COLOURS: Record<string, string> = { active: '#d62728', idle: '#2ca02c', total: '#7f7f7f' };
const PALETTE = ['#1f77b4', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
/** The worker's heap cap. */
const WORKER_HEAP_MB = 256;

/** Series of the pool section that the chart draws: active/idle/total where present, else all (capped). */
function pickSeries(section: SeriesSection): SeriesSection['series'] {
  const preferred = section.series.filter((s) => /^(active|idle|total)$/i.test(s.name));
  return (preferred.length > 0 ? preferred : section.series).slice(0, MAX_CHART_SERIES);
}

function thin(points: Array<[number, number]>): Array<[number, number]> {
  const ok = points.filter(([t, v]) => Number.isFinite(t) && Number.isFinite(v));
  if (ok.length <= MAX_CHART_POINTS) return ok;
  const step = ok.length / MAX_CHART_POINTS;
  const out: Array<[number, number]> = [];
  for (let i = 0; i < MAX_CHART_POINTS; i++) out.push(ok[Math.floor(i * step)]!);
  out.push(ok[ok.length - 1]!);
  return out;
}

/** The vega-lite spec of the chart (pure). Times are drawn in UTC. */
export function poolChartSpec(section: SeriesSection, opts: { title: string; alertStart?: number }): Record<string, unknown> {
  const picked = pickSeries(section);
  const values = picked.flatMap((s) => thin(s.points).map(([t, v]) => ({ t, v, series: s.name })));
  const names = picked.map((s) => s.name);
  const line = {
    mark: { type: 'line', strokeWidth: 2 },
    encoding: {
      x: { field: 't', type: 'temporal', scale: { type: 'utc' }, title: 'time (UTC)', axis: { format: '%H:%M' } },
      y: { field: 'v', type: 'quantitative', title: section.unit ?? 'connections' },
      color: {
        field: 'series',
        type: 'nominal',
        title: null,
        scale: { domain: names, range: names.map((n, i) => SERIES_COLOURS[n.toLowerCase()] ?? PALETTE[i % PALETTE.length]) },
      },
    },
  };
  const layers: unknown[] = [line];
  if (opts.alertStart !== undefined && Number.isFinite(opts.alertStart)) {
    layers.push({
      data: { values: [{ t: opts.alertStart }] },
      mark: { type: 'rule', strokeDash: [4, 4], color: '#444444' },
      encoding: { x: { field: 't', type: 'temporal' } },
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: opts.title,
    width: CHART_WIDTH_PX - 160,
    height: 260,
    background: 'white',
    padding: 12,
    config: { font: 'DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif' },
    data: { values },
    layer: layers,
  };
}

/** Runs inside the worker: vega-lite → vega → SVG → PNG. Kept as plain JS: the worker is not compiled by our toolchain. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { pathToFileURL } = require('node:url');
(async () => {
  const vl = await import(pathToFileURL(workerData.paths.vegaLite).href);
  const vega = await import(pathToFileURL(workerData.paths.vega).href);
  const { Resvg } = require(workerData.paths.resvg);
  const quiet = { level() { return this; }, error() { return this; }, warn() { return this; }, info() { return this; }, debug() { return this; } };
  const spec = vl.compile(workerData.spec, { logger: quiet }).spec;
  const view = new vega.View(vega.parse(spec), { renderer: 'none', logLevel: vega.None });
  const svg = await view.toSVG();
  view.finalize();
  const png = new Resvg(svg, {
    fitTo: { mode: 'width', value: workerData.width },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
    background: 'white',
  }).render().asPng();
  parentPort.postMessage({ png });
})().catch((e) => parentPort.postMessage({ error: String((e && e.message) || e) }));
`;

let modulePaths: { vega: string; vegaLite: string; resvg: string } | undefined;
function paths() {
  modulePaths ??= { vega: require.resolve('vega'), vegaLite: require.resolve('vega-lite'), resvg: require.resolve('@resvg/resvg-js') };
  return modulePaths;
}

/**
 * Renders the pool series to a PNG within `timeoutMs`. Rejects (Error) when the section has no
 * points, rendering fails, the timeout passes or `signal` aborts; the caller sends its message
 * without the chart.
 */
export async function renderPoolChart(
  section: SeriesSection,
  opts: { title: string; alertStart?: number; timeoutMs: number; signal?: AbortSignal },
): Promise<Buffer> {
  if (!section.series.some((s) => s.points.length > 0)) throw new Error('no points to chart');
  const spec = poolChartSpec(section, opts);
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { spec, paths: paths(), width: CHART_WIDTH_PX },
    resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
  });
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`chart rendering timed out after ${opts.timeoutMs} ms`)), opts.timeoutMs);
      onAbort = () => reject(new Error('chart rendering aborted'));
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      worker.once('message', (m: { png?: Uint8Array; error?: string }) =>
        m.png ? resolve(Buffer.from(m.png)) : reject(new Error(`chart rendering failed: ${m.error ?? 'no output'}`)),
      );
      worker.once('error', (e: Error) => reject(new Error(`chart rendering failed: ${e.message}`)));
      worker.once('exit', (code) => reject(new Error(`chart worker exited with code ${code}`)));
    });
  } finally {
    clearTimeout(timer);
    if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
    void worker.terminate();
  }
}
