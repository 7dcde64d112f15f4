import { EVIDENCE_SCHEMAS, type EvidenceName } from '../../src/core/evidence';
import type { Enrichment } from '../../src/core/diagnostic';
import { diagnose } from '../../src/diagnosis';
import * as f from './fixtures';

/** The evidence contract once (src/core/evidence/): the rules read evidence through its zod schemas. */

const SCENARIOS = {
  healthy: f.healthy,
  leak: f.leak,
  slow: f.slow,
  lock: f.lock,
  spike: f.spike,
  down: f.down,
  connectionLimit: f.connectionLimit,
  undersized: f.undersized,
  ioBound: f.ioBound,
  poolerFull: f.poolerFull,
};

describe('the evidence schemas', () => {
  it.each(Object.entries(SCENARIOS))('accept every enrichment of the %s scenario', (_, scenario) => {
    for (const e of scenario()) {
      const schema = EVIDENCE_SCHEMAS[e.enricher as EvidenceName];
      expect(schema).toBeDefined();
      expect(schema.safeParse(e.evidence).error?.issues).toBeUndefined();
    }
  });
});

describe('evidence that does not match its schema', () => {
  const without = (es: Enrichment[], name: string) => es.filter((e) => e.enricher !== name);
  /** An older pool enricher's evidence: no activeTrend. */
  const olderPool = (es: Enrichment[]) =>
    es.map((e) => {
      if (e.enricher !== 'pool') return e;
      const { activeTrend: _dropped, ...rest } = e.evidence;
      return { ...e, evidence: rest };
    });

  it('counts as missing: the same causes and confidences as without that enrichment', () => {
    const ids = (es: Enrichment[]) => diagnose(es, f.group).map((c) => [c.id, c.confidence]);
    for (const scenario of [f.leak, f.spike, f.undersized]) {
      expect(ids(olderPool(scenario()))).toEqual(ids(without(scenario(), 'pool')));
    }
  });

  it('is said in each cause found', () => {
    const causes = diagnose(olderPool(f.slow()), f.group);
    expect(causes.length).toBeGreaterThan(0);
    for (const c of causes)
      expect(c.against).toContain(
        'the pool evidence does not match its schema (activeTrend: Invalid option: expected one of "climbing"|"flat"|"falling"|"unknown"): read as missing',
      );
    for (const c of diagnose(f.slow(), f.group)) expect((c.against ?? []).join('\n')).not.toContain('does not match its schema');
  });
});
