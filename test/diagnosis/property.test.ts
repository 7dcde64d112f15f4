import fc from 'fast-check';
import { CAUSE_IDS, type Enrichment } from '../../src/core/diagnostic';
import { diagnose } from '../../src/diagnosis';
import * as f from './fixtures';

/**
 * Strings without capitals, so that "NaN", "undefined" and "[object Object]" in a line can only
 * come from a formatting bug, never from the generated data.
 */
const safe = fc.stringMatching(/^[a-z0-9 _$.()*=<>-]{0,30}$/);
/** Any JSON-like value (objects, arrays, numbers including NaN and infinities, booleans, null). */
const anyValue = fc.anything({ key: safe, values: [safe, fc.double(), fc.integer(), fc.boolean(), fc.constant(null), fc.constant(undefined)] });
/** A value that is usually of the right shape, sometimes anything at all. */
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 4, arbitrary: arb }, { weight: 1, arbitrary: anyValue });
const n = maybe(fc.oneof(fc.double({ noNaN: false }), fc.integer({ min: -5, max: 200 }), fc.constant(null)));
const s = maybe(fc.oneof(safe, fc.constant(null)));
const pid = maybe(fc.integer({ min: -1, max: 99_999 }));
const partial = <T extends Record<string, fc.Arbitrary<unknown>>>(model: T) => fc.record(model, { requiredKeys: [] });

const session = partial({
  pid,
  user: s,
  application: s,
  state: maybe(fc.constantFrom('active', 'idle', 'idle in transaction', null)),
  waitEventType: maybe(fc.constantFrom('Lock', 'IO', 'LWLock', 'Timeout', 'Client', null)),
  waitEvent: s,
  queryAgeMs: n,
  xactAgeMs: n,
  stateAgeMs: n,
  query: s,
});
const chain = partial({
  blockerPid: pid,
  blockerUser: s,
  blockerApplication: s,
  blockerState: s,
  blockerQuery: s,
  blockerAgeMs: n,
  waitingPids: maybe(fc.array(pid, { maxLength: 12 })),
  longestWaitMs: n,
});
const database = partial({
  name: s,
  reachable: maybe(fc.boolean()),
  failure: maybe(
    fc.oneof(
      fc.constant(null),
      partial({ kind: maybe(fc.constantFrom('too_many_clients', 'auth', 'unreachable', 'timeout', 'circuit_open', 'error')), message: s, sqlstate: s }),
    ),
  ),
  maxConnections: n,
  reservedConnections: n,
  connections: n,
  byState: maybe(fc.dictionary(fc.constantFrom('active', 'idle', 'idle in transaction'), n)),
  idleSettled: n,
  byApplication: maybe(fc.dictionary(safe, n)),
  longRunning: maybe(fc.array(session, { maxLength: 12 })),
  oldestTransactions: maybe(fc.array(session, { maxLength: 3 })),
  idleInTransaction: maybe(fc.array(session, { maxLength: 12 })),
  blockingChains: maybe(fc.array(chain, { maxLength: 4 })),
  topStatements: maybe(fc.oneof(fc.constant(null), fc.array(partial({ query: s, calls: n, meanMs: n, totalMs: n }), { maxLength: 3 }))),
});
const evidenceOf: Record<string, fc.Arbitrary<unknown>> = {
  pool: partial({
    active: n,
    idle: n,
    total: n,
    available: n,
    utilization: n,
    perInstance: maybe(fc.array(partial({ instance: s, active: n, idle: n, total: n, available: n, utilization: n }), { maxLength: 3 })),
    windowMinutes: n,
    saturatedSince: s,
    activeSlopePerMinute: n,
    activeTrend: maybe(fc.constantFrom('climbing', 'flat', 'falling', 'unknown')),
    meanHoldSeconds: n,
    waitingClients: n,
  }),
  traffic: partial({
    verdict: maybe(fc.constantFrom('spike', 'normal', 'drop', 'unknown')),
    totalNow: n,
    totalHourAgo: n,
    totalDayAgo: n,
    ratio: n,
    baseline: maybe(fc.constantFrom('hour', 'day', null)),
    endpoints: maybe(fc.array(partial({ endpoint: s, now: n, hourAgo: n, dayAgo: n, ratio: n }), { maxLength: 4 })),
    topMovers: maybe(fc.array(s, { maxLength: 3 })),
  }),
  postgres: partial({ databases: maybe(fc.array(database, { maxLength: 3 })) }),
  logs: partial({
    matched: n,
    groups: maybe(
      fc.array(
        partial({
          shape: s,
          count: n,
          firstSeen: s,
          lastSeen: s,
          signal: maybe(fc.constantFrom('too_many_clients', 'pool_timeout', 'connection_refused', 'connection_error', 'other')),
        }),
        { maxLength: 3 },
      ),
    ),
    signals: maybe(fc.dictionary(fc.constantFrom('too_many_clients', 'pool_timeout', 'connection_refused', 'connection_error', 'other'), n)),
  }),
  related_alerts: partial({
    related: maybe(
      fc.array(partial({ alertname: maybe(fc.constantFrom('p99_latency_high', 'error_rate_high', 'x')), state: s, labels: anyValue }), { maxLength: 3 }),
    ),
  }),
};

const enrichmentArb = (name: string): fc.Arbitrary<Enrichment | undefined> =>
  fc.option(
    fc
      .record({
        status: fc.constantFrom('ok', 'ok', 'ok', 'error', 'timeout', 'skipped'),
        evidence: fc.oneof({ weight: 5, arbitrary: evidenceOf[name]! }, { weight: 1, arbitrary: anyValue }),
      })
      .map(({ status, evidence }) => ({ enricher: name, status, durationMs: 1, summary: '', sections: [], evidence }) as Enrichment),
    { nil: undefined },
  );

const enrichmentsArb = fc.tuple(...Object.keys(evidenceOf).map(enrichmentArb)).map((xs) => xs.filter((x): x is Enrichment => x !== undefined));

/** A scenario fixture with random fields knocked out or replaced. */
const mutatedScenarioArb = fc
  .tuple(
    fc.constantFrom(f.leak, f.slow, f.lock, f.spike, f.down, f.connectionLimit, f.undersized, f.ioBound, f.healthy),
    fc.array(fc.tuple(fc.nat(4), safe, anyValue), { maxLength: 6 }),
  )
  .map(([build, edits]) => {
    const es = build();
    for (const [i, key, value] of edits) {
      const ev = es[i % es.length]!.evidence;
      const keys = Object.keys(ev);
      ev[keys.length > 0 && key.length % 2 === 0 ? keys[key.length % keys.length]! : key] = value;
    }
    return es;
  });

describe('diagnose on arbitrary and partial evidence', () => {
  const check = (es: Enrichment[]) => {
    const causes = diagnose(es, f.group);
    for (const c of causes) {
      expect(CAUSE_IDS).toContain(c.id);
      expect(c.confidence).toBeGreaterThan(0);
      expect(c.confidence).toBeLessThanOrEqual(1);
      expect(Array.isArray(c.evidence) && c.evidence.every((x) => typeof x === 'string')).toBe(true);
      expect(Array.isArray(c.actions) && c.actions.every((x) => typeof x === 'string')).toBe(true);
      for (const line of [...c.evidence, ...c.actions, ...(c.against ?? [])]) expect(line).not.toMatch(/NaN|undefined|\[object Object\]/);
    }
    for (let i = 1; i < causes.length; i++) expect(causes[i - 1]!.confidence).toBeGreaterThanOrEqual(causes[i]!.confidence);
    expect(new Set(causes.map((c) => c.id)).size).toBe(causes.length);
  };

  test('never throws; causes sorted, confidences in (0, 1], ids from CAUSE_IDS', () => {
    fc.assert(
      fc.property(enrichmentsArb, (es) => check(es)),
      { numRuns: 400 },
    );
  });

  test('the same holds for real scenarios with fields knocked out', () => {
    fc.assert(
      fc.property(mutatedScenarioArb, (es) => check(es)),
      { numRuns: 300 },
    );
  });
});
