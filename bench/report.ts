import { cpus, totalmem } from 'node:os';

/** One measured figure against its goal. */
export interface Figure {
  name: string;
  value: string;
  goal: string;
  pass: boolean;
  note?: string;
}

/** The machine the benchmark ran on, for the record. */
export function machine(): string {
  const c = cpus();
  return `${c.length} x ${c[0]?.model ?? 'unknown cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}/${process.arch}`;
}

/** The figures as a Markdown table. */
export function table(figures: Figure[]): string {
  const rows = figures.map((f) => `| ${f.name} | ${f.value} | ${f.goal} | ${f.pass ? 'yes' : '**no**'} | ${f.note ?? ''} |`);
  return ['| figure | measured | goal | met | note |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}

/** The q-quantile (0..1) of `values` (nearest rank). */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}
