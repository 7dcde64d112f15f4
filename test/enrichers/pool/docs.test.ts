/**
 * docs/configuration.md's "Presets and the series they read" is generated from the layouts the
 * enricher reads (src/enrichers/pool/layouts.ts), so the doc cannot drift from the code: this test
 * renders it and compares. After changing a layout, rewrite the doc's block with
 *   PAGEFIRST_WRITE_DOCS=1 npx jest test/enrichers/pool/docs.test.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { allLayouts, PRESETS, RATE_WINDOW, type PoolLayout } from '../../../src/enrichers/pool/layouts';
import { QUANTITIES, QUANTITY_TEXT } from '../../../src/enrichers/pool/mapping';
import { parse } from 'yaml';
import { configSchema } from '../../../src/config/schema';
import { settingsSchema } from '../../../src/enrichers/pool/settings';

const DOC = join(__dirname, '../../../docs/configuration.md');
const BEGIN = '<!-- BEGIN pool presets: generated from src/enrichers/pool/layouts.ts by test/enrichers/pool/docs.test.ts; edit the layouts, not this -->';
const END = '<!-- END pool presets -->';

/** Inline code in a Markdown table cell (a `|` would end the cell). */
const code = (s: string) => `\`${s.replace(/\|/g, '\\|')}\``;

function layoutSection(l: PoolLayout): string {
  const rows = QUANTITIES.map((q) => {
    const expr = l.mapping[q];
    return `| ${QUANTITY_TEXT[q]} | ${expr === null ? `not exported (set \`enrichers.pool.mapping.${q}\`)` : code(expr)} |`;
  });
  return [
    `##### ${code(l.id)} (preset ${code(l.preset)}): ${l.title}`,
    `Names from: ${l.source}. Pool labels: ${l.poolLabels.length ? l.poolLabels.map(code).join(', ') : 'none (one pool per instance)'}.`,
    `Discovery finds it by any of: ${l.names.map(code).join(', ')}.`,
    '',
    '| quantity | PromQL |',
    '| --- | --- |',
    ...rows,
  ].join('\n');
}

/** The generated block, markers included. */
function render(): string {
  const layouts = allLayouts(settingsSchema.parse({}));
  return [
    BEGIN,
    `The presets are ${PRESETS.map(code).join(', ')}; each reads the layouts below that name it (a`,
    `preset with several reads the one whose series exist, in this order, which is also the order`,
    `discovery prefers). The expressions are exactly what is sent to Prometheus, \`$matchers\` as`,
    `above; \`rate()\` is over ${RATE_WINDOW}. The \`runbook\` layout is shown with the default \`metric\`, \`stateLabel\` and \`states\`.`,
    '',
    '| preset | layout | exported by | pool labels |',
    '| --- | --- | --- | --- |',
    ...layouts.map((l) => `| ${code(l.preset)} | ${code(l.id)} | ${l.title} | ${l.poolLabels.map(code).join(', ') || 'none'} |`),
    '',
    layouts.map(layoutSection).join('\n\n'),
    END,
  ].join('\n');
}

describe('docs/configuration.md: pool presets', () => {
  test('shows every preset layout with the exact series it reads and where the names come from', () => {
    const doc = readFileSync(DOC, 'utf8');
    const start = doc.indexOf(BEGIN);
    const end = doc.indexOf(END);
    expect({ start: start >= 0, end: end > start }).toEqual({ start: true, end: true });
    const expected = render();
    if (process.env.PAGEFIRST_WRITE_DOCS === '1') writeFileSync(DOC, doc.slice(0, start) + expected + doc.slice(end + END.length));
    else expect(doc.slice(start, end + END.length)).toBe(expected);
  });

  test('every preset has a layout, and the block names each one', () => {
    const layouts = allLayouts(settingsSchema.parse({}));
    for (const p of PRESETS) expect(layouts.filter((l) => l.preset === p).length).toBeGreaterThan(0);
    // the older OpenTelemetry conventions (db.client.connections.*) are among them
    expect(render()).toContain('`db_client_connections_usage{state="used",$matchers}`');
  });

  test('the general mapping example loads as configuration and keeps its expressions', () => {
    const doc = readFileSync(DOC, 'utf8');
    const m = doc.match(/<!-- pool mapping example[^\n]*\n```yaml\n([\s\S]*?)```/);
    expect(m).not.toBeNull();
    const config = configSchema.parse(parse(m![1]!));
    const pool = settingsSchema.parse((config.enrichers as Record<string, unknown>).pool);
    expect(pool.mapping).toEqual(
      expect.objectContaining({ inUse: 'pg_pool_total_count{$matchers} - pg_pool_idle_count{$matchers}', limit: 'pg_pool_max{$matchers}' }),
    );
    expect(pool.poolLabels).toEqual(['pool']);
  });
});
