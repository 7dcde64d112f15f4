import type { Enricher } from '../../src/core/enricher';
import { SkipEnrichment } from '../../src/core/enricher';
import { runEnrichers } from '../../src/pipeline/enrich';
import { capturingLogger } from '../support/capture';
import { fixtureGroup } from '../support/pipeline';

const ctx = () => ({ group: fixtureGroup(), logger: capturingLogger().logger, now: new Date() });
const ok = (name: string, ms = 0): Enricher => ({
  name,
  async enrich() {
    await new Promise((r) => setTimeout(r, ms));
    return { summary: `${name} fine`, sections: [{ type: 'text', text: 'x' }], evidence: { n: 1 } };
  },
});

describe('runEnrichers', () => {
  test('records ok, error, timeout and skipped, each with its duration, and runs in parallel', async () => {
    let sawAbort = false;
    const enrichers: Enricher[] = [
      ok('fast', 20),
      {
        name: 'thrower',
        async enrich() {
          throw new Error('boom: source said no');
        },
      },
      {
        name: 'hangs-but-listens',
        timeoutMs: 100,
        enrich: ({ signal }) =>
          new Promise((_, reject) =>
            signal.addEventListener('abort', () => {
              sawAbort = true;
              reject(signal.reason);
            }),
          ),
      },
      { name: 'ignores-signal', timeoutMs: 150, enrich: () => new Promise(() => {}) },
      {
        name: 'skipper',
        async enrich() {
          throw new SkipEnrichment('sources.prometheus is not configured');
        },
      },
      {
        name: 'sync-thrower',
        enrich() {
          throw new TypeError('not even async');
        },
      },
    ];
    const out = await runEnrichers(enrichers, ctx(), { budgetMs: 5_000, defaultTimeoutMs: 1_000 });
    expect(out.map((e) => [e.enricher, e.status])).toEqual([
      ['fast', 'ok'],
      ['thrower', 'error'],
      ['hangs-but-listens', 'timeout'],
      ['ignores-signal', 'timeout'],
      ['skipper', 'skipped'],
      ['sync-thrower', 'error'],
    ]);
    expect(out[0]).toMatchObject({ summary: 'fast fine', evidence: { n: 1 } });
    expect(out[0]!.error).toBeUndefined();
    expect(out[1]!.error).toBe('boom: source said no');
    expect(out[2]!.error).toBe('timeout after 100 ms');
    expect(out[3]!.error).toBe('timeout after 150 ms');
    expect(out[3]!.durationMs).toBeGreaterThanOrEqual(140);
    expect(out[4]!.error).toBe('sources.prometheus is not configured');
    expect(out[5]!.error).toBe('not even async');
    expect(sawAbort).toBe(true);
  });

  test('runs enrichers concurrently: each waits until all have started', async () => {
    let started = 0;
    let release!: () => void;
    const all = new Promise<void>((r) => (release = r));
    const barrier = (name: string): Enricher => ({
      name,
      timeoutMs: 2_000,
      async enrich() {
        if (++started === 3) release();
        await all;
        return { summary: name, sections: [], evidence: {} };
      },
    });
    const out = await runEnrichers([barrier('a'), barrier('b'), barrier('c')], ctx(), { budgetMs: 2_000, defaultTimeoutMs: 2_000 });
    expect(out.map((e) => e.status)).toEqual(['ok', 'ok', 'ok']);
  });

  test('the overall budget caps every enricher and says so', async () => {
    const out = await runEnrichers([{ name: 'slow', timeoutMs: 10_000, enrich: () => new Promise(() => {}) }, ok('quick')], ctx(), {
      budgetMs: 80,
      defaultTimeoutMs: 10_000,
    });
    expect(out[0]).toMatchObject({ status: 'timeout', error: 'timeout after 80 ms (run budget)' });
    expect(out[1]!.status).toBe('ok');
  });

  test('the signal given to an enricher is aborted at its deadline', async () => {
    let signal: AbortSignal | undefined;
    await runEnrichers(
      [
        {
          name: 'x',
          timeoutMs: 30,
          enrich: (c) => {
            signal = c.signal;
            return new Promise(() => {});
          },
        },
      ],
      ctx(),
      { budgetMs: 1000, defaultTimeoutMs: 1000 },
    );
    expect(signal!.aborted).toBe(true);
    expect((signal!.reason as Error).message).toBe('timeout after 30 ms');
  });

  test('a parent abort (shutdown) stops enrichers as errors, not timeouts', async () => {
    const parent = new AbortController();
    setTimeout(() => parent.abort(new Error('shutting down')), 20);
    const out = await runEnrichers([{ name: 'x', enrich: () => new Promise(() => {}) }], ctx(), {
      budgetMs: 5000,
      defaultTimeoutMs: 5000,
      signal: parent.signal,
    });
    expect(out[0]).toMatchObject({ status: 'error', error: 'shutting down' });
  });

  test('reports each outcome', async () => {
    const seen: string[] = [];
    await runEnrichers(
      [
        ok('a'),
        {
          name: 'b',
          async enrich() {
            throw new Error('x');
          },
        },
      ],
      ctx(),
      { budgetMs: 1000, defaultTimeoutMs: 1000, onOutcome: (n, s) => seen.push(`${n}:${s}`) },
    );
    expect(seen.sort()).toEqual(['a:ok', 'b:error']);
  });
});
