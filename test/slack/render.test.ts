import fc from 'fast-check';
import type { Cause, Diagnostic, Enrichment, Section } from '../../src/core/diagnostic';
import { buildMessageModel, TOP_CAUSES } from '../../src/notifiers/message';
import { MAX_BLOCKS, MAX_BLOCKS_JSON, MAX_FALLBACK_TEXT, type SlackMessage } from '../../src/slack/blocks';
import { TRUNCATED, codeBlock, cutText, escapeMrkdwn, safeSlice } from '../../src/slack/mrkdwn';
import { RERUN_ACTION_ID, renderChangeReply, renderDiagnostic, renderIncidentSummary, renderParent, renderResolveReply } from '../../src/slack/render';
import { checkMessage, mrkdwnTexts } from '../fakes/slack';
import { sampleDiagnostic } from '../notifiers/sample';

const HOSTILE = [
  '<!channel>',
  '<@U123>',
  '<!here|here>',
  '<!subteam^S123>',
  '<#C123>',
  '&amp;',
  '&lt;!channel&gt;',
  '```',
  '*bold* _it_ ~s~',
  '🔥💥🧯',
  'مرحبا بالعالم',
  'שלום עולם',
  '\u202Eevil\u202C',
  'a|b>c<d',
  '\n\n',
  '',
];

const hostile = fc.oneof(
  fc.constantFrom(...HOSTILE),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.array(fc.constantFrom(...HOSTILE), { maxLength: 6 }).map((a) => a.join(' ')),
);
const bigText = fc.oneof(
  { weight: 4, arbitrary: hostile },
  {
    weight: 1,
    arbitrary: fc
      .tuple(hostile, fc.integer({ min: 1, max: 500 }))
      .map(([s, n]) => Array.from({ length: n }, (_, i) => `${i} ERROR pool timeout ${s}`).join('\n')),
  },
  { weight: 1, arbitrary: fc.tuple(hostile, fc.integer({ min: 100, max: 20_000 })).map(([s, n]) => `SELECT ${'x, '.repeat(n)}${s} FROM t`) },
);
const labels = fc.dictionary(fc.oneof(fc.constantFrom('alertname', 'severity', 'instance', 'team'), fc.string({ minLength: 1, maxLength: 12 })), hostile, {
  maxKeys: 8,
});

const section: fc.Arbitrary<Section> = fc.oneof(
  fc.record({ type: fc.constant('text' as const), title: fc.option(hostile, { nil: undefined }), text: bigText }),
  fc.record({ type: fc.constant('code' as const), title: fc.option(hostile, { nil: undefined }), code: bigText }),
  fc.record({
    type: fc.constant('fields' as const),
    title: fc.option(hostile, { nil: undefined }),
    fields: fc.array(fc.record({ label: hostile, value: bigText }), { maxLength: 30 }),
  }),
  fc.record({
    type: fc.constant('table' as const),
    title: fc.option(hostile, { nil: undefined }),
    columns: fc.array(hostile, { minLength: 1, maxLength: 5 }),
    rows: fc.array(fc.array(hostile, { maxLength: 5 }), { maxLength: 120 }),
  }),
  fc.record({
    type: fc.constant('series' as const),
    title: fc.option(hostile, { nil: undefined }),
    series: fc.array(
      fc.record({
        name: hostile,
        points: fc.array(fc.tuple(fc.integer({ min: 0, max: 2e12 }), fc.double({ noNaN: true, min: -1e6, max: 1e6 })), { maxLength: 20 }),
      }),
      { maxLength: 3 },
    ),
  }),
);

const enrichment: fc.Arbitrary<Enrichment> = fc.record({
  enricher: fc.oneof(fc.constantFrom('pool', 'postgres', 'logs', 'traffic', 'related_alerts'), hostile),
  status: fc.constantFrom('ok', 'ok', 'error', 'timeout', 'skipped'),
  durationMs: fc.nat(100_000),
  error: fc.option(bigText, { nil: undefined }),
  summary: bigText,
  sections: fc.array(section, { maxLength: 6 }),
  evidence: fc.constant({}),
  queries: fc.option(fc.array(fc.record({ source: fc.constantFrom('prometheus', 'loki', 'postgres'), query: bigText }), { maxLength: 6 }), { nil: undefined }),
});

const cause: fc.Arbitrary<Cause> = fc.record({
  id: fc.constantFrom('connection_leak', 'traffic_spike', 'slow_queries', 'lock_contention', 'pool_misconfigured', 'database_connection_limit'),
  title: bigText,
  confidence: fc.double({ min: 0, max: 1, noNaN: true }),
  evidence: fc.array(bigText, { maxLength: 6 }),
  actions: fc.array(bigText, { maxLength: 4 }),
});

const diagnostic: fc.Arbitrary<Diagnostic> = fc
  .record({
    alertname: bigText,
    status: fc.constantFrom('firing', 'resolved'),
    startsAt: fc.oneof(fc.constant('2026-11-27T06:25:16.301Z'), bigText),
    runId: fc.oneof(fc.uuid(), bigText),
    groupKey: fc.oneof(hostile, fc.string({ maxLength: 3000 })),
    enrichments: fc.array(enrichment, { maxLength: 10 }),
    causes: fc.array(cause, { maxLength: 8 }),
    labels,
    annotations: fc.dictionary(fc.constantFrom('summary', 'description', 'runbook_url'), bigText, { maxKeys: 3 }),
  })
  .map(({ alertname, status, startsAt, runId, groupKey, enrichments, causes, labels, annotations }) =>
    sampleDiagnostic({
      id: runId,
      alertname,
      status: status,
      groupKey,
      enrichments,
      causes: [...causes].sort((a, b) => b.confidence - a.confidence),
      alert: {
        labels: { ...labels, alertname },
        annotations,
        startsAt,
        endsAt: startsAt,
        externalURL: 'http://am.example:9093',
        generatorURL: 'http://prom.example:9090/graph?g0.expr=up',
      },
    }),
  );

/** Our own links `<http(s)://…|label>` are the only `<…>` allowed; every `&` starts an entity. */
function assertEscaped(msg: SlackMessage): void {
  for (const t of mrkdwnTexts(msg)) {
    const rest = t.replace(/<https?:\/\/[^|<>\s]+\|[^<>]*>/g, '');
    expect(rest).not.toMatch(/[<>]/);
    expect(rest.replace(/&(amp|lt|gt);/g, '')).not.toContain('&');
  }
}

function assertWithinLimits(msg: SlackMessage): void {
  expect(checkMessage(msg)).toBeUndefined();
  expect(msg.blocks.length).toBeLessThanOrEqual(MAX_BLOCKS);
  expect(JSON.stringify(msg.blocks).length).toBeLessThanOrEqual(MAX_BLOCKS_JSON);
  expect(msg.text.length).toBeGreaterThan(0);
  expect(msg.text.length).toBeLessThanOrEqual(MAX_FALLBACK_TEXT);
}

describe('Slack rendering (property-based)', () => {
  it('keeps every message within every limit, escaped, with every cause', () => {
    fc.assert(
      fc.property(diagnostic, fc.array(hostile, { maxLength: 30 }), (d, changes) => {
        const m = buildMessageModel(d, { grafana: 'http://grafana.example', grafanaDashboard: 'd/db/database-health', prometheus: 'http://prom.example:9090' });
        const all = [
          renderDiagnostic(m),
          renderParent(m),
          renderParent(m, { endedAfterMs: 65_000 }),
          renderIncidentSummary(m, 'http://slack.example/archives/C1/p1'),
          renderChangeReply(m, changes),
          renderResolveReply(m, 90_000),
        ];
        for (const msg of all) {
          assertWithinLimits(msg);
          assertEscaped(msg);
        }
        const diag = all[0]!;
        const text = mrkdwnTexts(diag).join('\n');
        for (const c of m.causes) expect(text).toContain(escapeMrkdwn(safeSlice(c.title.replace(/\n/g, ' '), 15)));
        for (const c of m.causes.slice(0, TOP_CAUSES)) expect(text).toContain(c.confidenceText);
        const omitted = /more finding\(s\) in the stored diagnostic/.test(text);
        for (const p of m.parts) expect(omitted || text.includes(escapeMrkdwn(safeSlice(p.enricher, 15)))).toBe(true);
        const button = diag.blocks.find((b) => b.type === 'actions');
        if (JSON.stringify({ runId: d.id }).length > 1000) return expect(button).toBeUndefined();
        expect(button && button.type === 'actions' && button.elements[0]!.action_id).toBe(RERUN_ACTION_ID);
        const value = JSON.parse((button as { elements: Array<{ value: string }> }).elements[0]!.value) as { runId: string; groupKey?: string };
        expect(value.runId).toBe(d.id);
        if (value.groupKey !== undefined) expect(value.groupKey).toBe(d.groupKey);
      }),
      { numRuns: 200, endOnFailure: true }, // no shrinking: shrinking megabyte strings takes minutes
    );
  });

  it('reports a cut wherever text did not fit, with a visible marker', () => {
    fc.assert(
      fc.property(fc.integer({ min: 3_100, max: 60_000 }), hostile, (n, s) => {
        const d = sampleDiagnostic();
        d.enrichments[2] = { ...d.enrichments[2]!, sections: [{ type: 'code', code: `${s}\n${'y'.repeat(n)}\nlast` }] };
        const msg = renderDiagnostic(buildMessageModel(d));
        assertWithinLimits(msg);
        expect(msg.cuts.length).toBeGreaterThan(0);
        expect(JSON.stringify(msg.blocks)).toContain(TRUNCATED);
      }),
      { numRuns: 30 },
    );
  });
});

describe('Slack rendering (examples)', () => {
  it('renders the sample: header, headline, causes, actions, every enricher, links and the re-run button', () => {
    const msg = renderDiagnostic(
      buildMessageModel(sampleDiagnostic(), { grafana: 'http://grafana:3000', grafanaDashboard: 'd/db/database-health', prometheus: 'http://prom:9090' }),
    );
    assertWithinLimits(msg);
    expect(msg.cuts).toEqual([]);
    const text = mrkdwnTexts(msg).join('\n');
    expect(msg.blocks[0]).toMatchObject({ type: 'header', text: { type: 'plain_text', text: ':rotating_light: FIRING db_pool_exhausted (critical)' } });
    expect(text).toContain('*Most likely: Connection leak (82% confidence)*\n*Do first:* Restart the leaking instance\nDB connection pool nearly exhausted');
    expect(text).toContain('4242  api          6m 10s    UPDATE orders SET status = $1 WHERE id = $2\n');
    expect(text).toContain('*2. Slow queries* · 31% confidence');
    expect(text).toContain('• Restart the leaking instance');
    for (const e of ['pool', 'postgres', 'logs']) expect(text).toContain(`*${e}*`);
    expect(text).toMatch(/:warning: \*traffic\* timed out after 3000 ms/);
    expect(text).toMatch(/:warning: \*related_alerts\* skipped: alertmanager not configured/);
    expect(text).toContain('<https://runbooks.example.com/db-pool|Runbook>');
    expect(text).toMatch(/<http:\/\/grafana:3000\/d\/db\/database-health\?from=\d+&amp;to=\d+\|Grafana dashboard>/);
    expect(text).toMatch(/<http:\/\/prom:9090\/graph\?g0\.expr=sum%28db_connection_pool_size%7Bstate%3D%22active%22%7D%29/);
    expect(text).toContain(
      '<http://vm:19093/#/silences/new?filter=%7Balertname%3D%22db_pool_exhausted%22%2Cseverity%3D%22critical%22%2Cteam%3D%22backend%22%7D|Silence in Alertmanager>',
    );
    expect(msg.text).toBe('FIRING db_pool_exhausted (critical) · Most likely: Connection leak (82% confidence) · First step: Restart the leaking instance');
  });

  it('escapes mentions in labels, annotations, queries and log lines, and neutralises code fences', () => {
    const d = sampleDiagnostic();
    d.alert!.labels.instance = '<!channel> <@U123>';
    d.alert!.annotations.summary = 'pool <!here> & more';
    d.enrichments[2] = { ...d.enrichments[2]!, sections: [{ type: 'code', code: 'line <!everyone>\n```\nescape attempt' }] };
    d.causes[0]!.title = 'Leak <@U999>';
    const m = buildMessageModel(d);
    for (const msg of [renderDiagnostic(m), renderParent(m), renderIncidentSummary(m, undefined)]) {
      assertEscaped(msg);
      const json = JSON.stringify(msg);
      expect(json).not.toContain('<!channel>');
      expect(json).not.toContain('<@U123>');
    }
    const text = mrkdwnTexts(renderDiagnostic(m)).join('\n');
    expect(text).toContain('pool &lt;!here&gt; &amp; more');
    expect(text).toContain('line &lt;!everyone&gt;');
    expect(text).toContain('`\u200b`\u200b`');
    expect(mrkdwnTexts(renderParent(m)).join('\n')).toContain('&lt;!channel&gt; &lt;@U123&gt;');
  });

  it('one oversized part (500 log lines, a 50k query) is cut and the others still show', () => {
    const d = sampleDiagnostic();
    d.enrichments[2] = {
      ...d.enrichments[2]!,
      sections: [{ type: 'code', code: Array.from({ length: 500 }, (_, i) => `2026-11-27T06:25:${i} ERROR pool timeout id=${i}`).join('\n') }],
    };
    d.enrichments[1] = { ...d.enrichments[1]!, sections: [{ type: 'code', code: `SELECT ${'a, '.repeat(17_000)}1` }] };
    const msg = renderDiagnostic(buildMessageModel(d));
    assertWithinLimits(msg);
    const text = mrkdwnTexts(msg).join('\n');
    expect(text).toMatch(/…truncated \(\d+ more lines\)/);
    expect(text).toContain('…truncated (line cut)');
    expect(msg.cuts).toEqual(expect.arrayContaining(['logs: code', 'postgres: code']));
    for (const e of ['pool', 'postgres', 'logs']) expect(text).toContain(`*${e}*`);
    expect(msg.blocks.at(-1)).toMatchObject({ type: 'actions' });
  });

  it('cuts on line boundaries and never splits a surrogate pair or an entity', () => {
    expect(cutText('aaa\nbbb\nccc', 100)).toEqual({ text: 'aaa\nbbb\nccc', cut: false });
    const c = cutText(Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n'), 100);
    expect(c.cut).toBe(true);
    expect(c.text.length).toBeLessThanOrEqual(100);
    expect(c.text).toMatch(/^line 0\nline 1\n[\s\S]*\n…truncated \(\d+ more lines\)$/);
    expect(safeSlice('ab🔥', 3)).toBe('ab');
    expect(safeSlice('ab&amp;c', 5)).toBe('ab');
    const code = codeBlock('x'.repeat(5000), 300);
    expect(code.text.length).toBeLessThanOrEqual(300);
    expect(code.text).toMatch(/^```\nx+\n```\n…truncated \(line cut\)$/);
  });

  it('lists causes beyond the top three in one line', () => {
    const d = sampleDiagnostic();
    d.causes = ['a', 'b', 'c', 'd', 'e'].map((x, i) => ({ id: `c${x}`, title: `Cause ${x}`, confidence: 0.9 - i * 0.1, evidence: [], actions: [] }));
    const text = mrkdwnTexts(renderDiagnostic(buildMessageModel(d))).join('\n');
    expect(text).toContain('_Also considered:_ Cause d (60%), Cause e (50%)');
  });

  it('drops the groupKey from the button value where it would pass 1,000 characters', () => {
    const d = sampleDiagnostic({ groupKey: 'k'.repeat(2_500) });
    const msg = renderDiagnostic(buildMessageModel(d));
    assertWithinLimits(msg);
    const actions = msg.blocks.find((b) => b.type === 'actions') as { elements: Array<{ value: string }> };
    expect(JSON.parse(actions.elements[0]!.value)).toEqual({ runId: 'run-1' });
  });
});
