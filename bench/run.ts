import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { benchIntake } from './intake';
import { benchParallelism } from './parallelism';
import { benchStorm } from './storm';
import { benchPageToMessage } from './page-to-message';
import { machine, table, type Figure } from './report';

/** `npm run bench`: every figure against its goal, each measured against a baseline in the same run. */
async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const parts: Array<[string, () => Promise<Figure[]>]> = [
    ['parallelism', benchParallelism],
    ['intake', benchIntake],
    ['page-to-message', benchPageToMessage],
    ['storm', benchStorm],
  ];
  const figures: Figure[] = [];
  for (const [name, run] of parts) {
    if (only.length > 0 && !only.includes(name)) continue;
    process.stderr.write(`running ${name}...\n`);
    figures.push(...(await run()));
  }
  const out = `Machine: ${machine()}\nDate: ${new Date().toISOString()}\n\n${table(figures)}\n`;
  process.stdout.write(out);
  mkdirSync(join(__dirname, '../../docs'), { recursive: true });
  writeFileSync(join(__dirname, '../../docs/BENCHMARKS.md'), out);
  process.exit(0);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
