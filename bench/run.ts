import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchIntake } from './intake';
import { benchParallelism } from './parallelism';
import { benchStorm } from './storm';
import { benchPageToMessage } from './page-to-message';
import { benchReplicas } from './replicas';
import { machine, table, type Figure } from './report';

/** `npm run bench`: every figure against its goal, each measured against a baseline in the same run. */
async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const parts: Array<[string, () => Promise<Figure[]>]> = [
    ['parallelism', benchParallelism],
    ['intake', benchIntake],
    ['page-to-message', benchPageToMessage],
    ['storm', () => benchStorm()],
    ['replicas', benchReplicas],
    ['storm-replicas', () => benchStorm({ replicas: 2 })],
  ];
  const figures: Figure[] = [];
  for (const [name, run] of parts) {
    if (only.length > 0 && !only.includes(name)) continue;
    process.stderr.write(`running ${name}...\n`);
    figures.push(...(await run()));
  }
  const out = `Machine: ${machine()}\nDate: ${new Date().toISOString()}\n\n${table(figures)}\n`;
  process.stdout.write(out);
  if (only.length === 0) {
    // the whole run replaces the results between the markers; the analysis around them stays
    const file = join(__dirname, '../../docs/BENCHMARKS.md');
    const [begin, end] = ['<!-- results:begin -->', '<!-- results:end -->'];
    const doc = existsSync(file) ? readFileSync(file, 'utf8') : `# Benchmarks\n\n${begin}\n${end}\n`;
    const i = doc.indexOf(begin);
    const j = doc.indexOf(end);
    writeFileSync(file, i >= 0 && j > i ? `${doc.slice(0, i + begin.length)}\n${out}${doc.slice(j)}` : `${doc}\n${begin}\n${out}${end}\n`);
  }
  process.exit(0);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
