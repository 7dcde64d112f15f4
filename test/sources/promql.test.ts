import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import { createPrometheusClient, type PrometheusClient } from '../../src/sources/prometheus';
import {
  METRIC_NAME_RE,
  anyOf,
  groupingText,
  isValidLabelName,
  labelNameSchema,
  labelNameText,
  matcherText,
  matchersFromAlerts,
  promString,
  regexEscape,
  selector,
} from '../../src/sources/promql';
import { goUnquote } from '../support/go-quote';
import { caught } from '../support/wait';
import { startMetricsTarget, type MetricsTarget } from '../support/metrics-target';
import { startPrometheus, type PrometheusServer } from '../support/prometheus';

/** Label values an alert could carry that would break out of a naively quoted PromQL string. */
const HOSTILE = [
  'a"b',
  'back\\slash',
  'trailing\\',
  '\\"',
  'two\nlines',
  '"}',
  '"} or vector(1)',
  '"} or vector(1) or hostile{v="',
  '\\"} or vector(1) #',
  "single'quote",
  'back`tick',
  'tab\there',
  'ünïcødé ✓ 🚀 日本',
  '.*',
  'a|b',
  '(?i)A',
  '$1 ${x}',
  '',
];
const OTHERS = ['a', 'b', 'A', 'plain', 'vector(1)'];

describe('promString / regexEscape (unit)', () => {
  test('escapes backslash before quote, and control characters', () => {
    expect(promString('a"b')).toBe('"a\\"b"');
    expect(promString('x\\')).toBe('"x\\\\"');
    expect(promString('\\"')).toBe('"\\\\\\""');
    expect(promString('l1\nl2\r\t')).toBe('"l1\\nl2\\r\\t"');
    expect(promString('\u0001\u007f')).toBe('"\\x01\\x7f"');
    expect(promString('ü🚀')).toBe('"ü🚀"');
    expect(promString('\ud800x')).toBe('"\ufffdx"');
  });
  test('regexEscape quotes every RE2 metacharacter', () => {
    expect(regexEscape('a.b*c+d?(e)|[f]{g}^h$\\')).toBe('a\\.b\\*c\\+d\\?\\(e\\)\\|\\[f\\]\\{g\\}\\^h\\$\\\\');
    expect(anyOf('v', ['.*', 'x'])).toEqual({ name: 'v', op: '=~', value: '\\.\\*|x' });
    expect(anyOf('v', ['x', 'x'])).toEqual({ name: 'v', op: '=', value: 'x' });
  });
  test('selector refuses only names that are not names: empty, or not UTF-8 (a lone surrogate); any other name is quoted', () => {
    expect(() => selector('', [])).toThrow(/invalid metric name/);
    expect(() => selector('m', [{ name: '', op: '=', value: 'v' }])).toThrow(/invalid label name/);
    expect(() => selector('m', [{ name: 'a\ud800', op: '=', value: 'v' }])).toThrow(/invalid label name/);
    expect(selector('m', [])).toBe('m');
    expect(selector('bad-name', [])).toBe('{"bad-name"}');
    expect(selector('m', [{ name: 'x"}', op: '=', value: 'v' }])).toBe('m{"x\\"}"="v"}');
    expect(labelNameSchema.safeParse('service.name').success).toBe(true);
    expect(labelNameSchema.safeParse('').success).toBe(false);
    expect(isValidLabelName('\udc00')).toBe(false);
  });
  test('matchersFromAlerts: one value gives =, several an escaped alternation, absent labels are reported', () => {
    const r = matchersFromAlerts(['service', 'namespace', 'pod'], [{ labels: { service: 'a.b', pod: 'p1' } }, { labels: { service: 'a.b', pod: 'p|2' } }]);
    expect(r.matchers).toEqual([
      { name: 'service', op: '=', value: 'a.b' },
      { name: 'pod', op: '=~', value: 'p1|p\\|2' },
    ]);
    expect(r.missing).toEqual(['namespace']);
  });
});

/** UTF-8 label and metric names (Alertmanager 0.27+, Prometheus 3, OpenTelemetry's dotted names) and nastier ones. */
const UTF8_NAMES = [
  'service.name',
  'k8s.pod.name',
  'db.client.connection.state',
  'has space',
  'a"b',
  'back\\slash',
  '}',
  'x,y=z',
  'ünïcødé',
  '日本',
  'tab\there',
  'line\nbreak',
  '0starts_with_digit',
  'a:b',
];

describe('UTF-8 names against Prometheus’ own PromQL grammar (@prometheus-io/lezer-promql, the grammar of Prometheus’ UI)', () => {
  // Prometheus 2.42 here predates UTF-8 names, so the quoting is checked against the grammar Prometheus 3
  // itself publishes (web/ui/module/lezer-promql/src/promql.grammar: QuotedLabelName, QuotedLabelMatcher,
  // GroupingLabels), parsing strictly: any syntax error throws.
  const strict = promqlParser.configure({ strict: true });
  /** The StringLiteral texts under each node named `node` in the parse of `expr`. */
  const literalsUnder = (expr: string, node: string): string[] => {
    const out: string[] = [];
    strict.parse(expr).iterate({
      enter: (n) => {
        if (n.name !== node) return;
        const lit = n.node.getChild('StringLiteral');
        if (lit) out.push(expr.slice(lit.from, lit.to));
      },
    });
    return out;
  };

  test('classic names stay bare (what Prometheus 2 accepts), every other name is quoted', () => {
    expect(labelNameText('service')).toBe('service');
    expect(labelNameText('_a1')).toBe('_a1');
    expect(labelNameText('service.name')).toBe('"service.name"');
    expect(labelNameText('a:b')).toBe('"a:b"');
    expect(labelNameText('0x')).toBe('"0x"');
    expect(matcherText({ name: 'service.name', op: '=', value: 'checkout' })).toBe('"service.name"="checkout"');
    expect(selector('db.client.connection.count', [{ name: 'db.client.connection.state', op: '=', value: 'used' }])).toBe(
      '{"db.client.connection.count","db.client.connection.state"="used"}',
    );
    expect(selector('db_connection_pool_size', [{ name: 'service', op: '=', value: 'x' }])).toBe('db_connection_pool_size{service="x"}');
    expect(groupingText(['pool', 'service.name'])).toBe('pool, "service.name"');
  });

  test.each(UTF8_NAMES.map((n) => [JSON.stringify(n), n]))(
    'label name %s: a matcher, a grouping and a metric name parse and read back as the name',
    (_, name) => {
      const expr = `sum by (${groupingText(['pool', name])}) (${selector(name, [
        { name, op: '=~', value: 'v.*' },
        { name: 'job', op: '!=', value: '' },
      ])})`;
      // a colon is classic in a metric name (only there), so `a:b` stays bare as the metric
      expect(literalsUnder(expr, 'QuotedLabelName').map(goUnquote)).toEqual(METRIC_NAME_RE.test(name) ? [name, name] : [name, name, name]);
      // the matcher pairs the quoted name with its own value
      expect(literalsUnder(expr, 'QuotedLabelMatcher').map(goUnquote)).toEqual(['v.*']);
      // and the classic spelling of the same query still parses with nothing quoted
      expect(literalsUnder(`sum by (${groupingText(['pool'])}) (${selector('m', [{ name: 'job', op: '=', value: 'a' }])})`, 'QuotedLabelName')).toEqual([]);
    },
  );

  test('the grammar really rejects an unquoted UTF-8 name (the check can fail)', () => {
    expect(() => strict.parse('m{service.name="checkout"}')).toThrow();
    expect(() => strict.parse('sum by (service.name) (m)')).toThrow();
  });
});

describe('hostile label values against the real Prometheus', () => {
  let target: MetricsTarget;
  let prom: PrometheusServer;
  let client: PrometheusClient;
  const signal = () => AbortSignal.timeout(5_000);

  beforeAll(async () => {
    target = await startMetricsTarget();
    [...HOSTILE.filter((v) => v !== ''), ...OTHERS].forEach((v, i) => target.set('hostile_test', { v }, i + 1));
    target.set('hostile_test', { other: 'no v label' }, 999);
    target.set('hostile_secret', { v: 'x' }, 42);
    const now = Date.now();
    // Backfilled for the last two minutes, so queries have data before the first live scrape.
    prom = await startPrometheus({ target, backfill: [{ from: now - 120_000, to: now, stepMs: 15_000 }] });
    client = createPrometheusClient({ url: prom.url, timeoutMs: 5_000 });
  });
  afterAll(async () => {
    await prom?.stop();
    await target?.close();
  });

  test('the data is there (every hostile value is a series)', async () => {
    const all = await client.query('hostile_test', { signal: signal() });
    const vs = all.samples.map((s) => s.metric.v ?? null);
    for (const v of HOSTILE.filter((x) => x !== '')) expect(vs).toContain(v);
  });

  test.each(HOSTILE.map((v) => [JSON.stringify(v), v]))('= %s parses and selects exactly its own series', async (_, value) => {
    const q = selector('hostile_test', [{ name: 'v', op: '=', value }]);
    const r = await client.query(q, { signal: signal() });
    if (value === '') {
      // `v=""` matches series without the label: the only such series here.
      expect(r.samples.map((s) => s.metric)).toEqual([expect.objectContaining({ other: 'no v label' })]);
    } else {
      expect(r.samples).toHaveLength(1);
      expect(r.samples[0]!.metric.__name__).toBe('hostile_test');
      expect(r.samples[0]!.metric.v).toBe(value);
    }
  });

  test('!= selects everything else, nothing more', async () => {
    const all = (await client.query('hostile_test', { signal: signal() })).samples.length;
    for (const value of HOSTILE.filter((v) => v !== '')) {
      const r = await client.query(selector('hostile_test', [{ name: 'v', op: '!=', value }]), { signal: signal() });
      expect(r.samples).toHaveLength(all - 1);
      expect(r.samples.map((s) => s.metric.v)).not.toContain(value);
    }
  });

  test('an escaped alternation of hostile values selects exactly those series', async () => {
    const values = HOSTILE.filter((v) => v !== '');
    const m = anyOf('v', values);
    const r = await client.query(selector('hostile_test', [m]), { signal: signal() });
    expect(r.samples.map((s) => s.metric.v).sort()).toEqual([...values].sort());
    // `.*`, `a|b` and `(?i)A` are literal: `a`, `b`, `A`, `plain` are not selected.
    const lit = await client.query(selector('hostile_test', [anyOf('v', ['.*', 'a|b', '(?i)A'])]), { signal: signal() });
    expect(lit.samples.map((s) => s.metric.v).sort()).toEqual(['(?i)A', '.*', 'a|b']);
    const neg = await client.query(selector('hostile_test', [{ ...anyOf('v', values), op: '!~' }]), { signal: signal() });
    expect(neg.samples.map((s) => s.metric.v ?? '(none)').sort()).toEqual(['(none)', ...OTHERS].sort());
  });

  test('a quoted UTF-8 name is a parse error (bad_data) for this Prometheus 2.42: those queries need Prometheus 3', async () => {
    const e = await caught(client.query(selector('hostile_test', [{ name: 'service.name', op: '=', value: 'x' }]), { signal: signal() }));
    expect([e.errorType, e.status]).toEqual(['bad_data', 400]);
  });

  test('inside an aggregation the injected `or vector(1)` stays data: the result is the one series value', async () => {
    const q = `sum(${selector('hostile_test', [{ name: 'v', op: '=', value: '"} or vector(1) or hostile{v="' }])})`;
    const r = await client.query(q, { signal: signal() });
    expect(r.samples).toHaveLength(1);
    expect(r.samples[0]!.value).toBe(HOSTILE.indexOf('"} or vector(1) or hostile{v="') + 1);
    // Control: the naive, unescaped form really would break out (Prometheus rejects or misreads it).
    const naive = `sum(hostile_test{v="${'"} or vector(1) or hostile_secret{v="x'}"})`;
    await expect(client.query(naive, { signal: signal() })).resolves.toEqual(
      expect.objectContaining({ samples: [expect.objectContaining({ value: 999 + 1 + 42 })] }),
    );
  });
});
