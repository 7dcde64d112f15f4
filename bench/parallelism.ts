import type { Enricher } from '../src/core/enricher';
import { runEnrichers } from '../src/pipeline/enrich';
import { createLogger, createRedactor } from '../src/logger';
import { fixtureGroup } from '../test/support/pipeline';
import type { Figure } from './report';
import { quantile } from './report';

const sleeper = (name: string, ms: number): Enricher => ({
  name,
  enrich: ({ signal }) =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => resolve({ summary: name, sections: [], evidence: {} }), ms);
      signal.addEventListener('abort', () => {
        clearTimeout(t);
        reject(signal.reason);
      });
    }),
});

/** Parallelism: enrichers of 100, 200 and 300 ms; the run's wall time over the slowest one (measured, not assumed). */
export async function benchParallelism(): Promise<Figure[]> {
  const logger = createLogger('silent', createRedactor([]));
  const ratios: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    const out = await runEnrichers(
      [sleeper('a', 100), sleeper('b', 200), sleeper('c', 300)],
      { group: fixtureGroup(), logger, now: new Date() },
      { budgetMs: 5_000, defaultTimeoutMs: 5_000 },
    );
    const wall = performance.now() - t0;
    const slowest = Math.max(...out.map((e) => e.durationMs));
    ratios.push(wall / slowest);
  }
  const p50 = quantile(ratios, 0.5);
  const worst = Math.max(...ratios);
  return [
    {
      name: 'parallelism: run wall time / slowest enricher',
      value: `p50 ${p50.toFixed(3)}, worst ${worst.toFixed(3)} (20 runs)`,
      goal: '<= 1.05',
      pass: worst <= 1.05,
    },
  ];
}
