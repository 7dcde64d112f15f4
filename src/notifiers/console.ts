import type { Writable } from 'node:stream';
import type { Diagnostic } from '../core/diagnostic';
import type { Notifier } from '../core/notifier';
import type { LinksConfig } from './links';
import { buildMessageModel, type ModelPart } from './message';

const RULE = '─'.repeat(72);
/** Table columns are cut to this width in the terminal. */
const MAX_COLUMN_WIDTH = 60;

function renderPart(p: ModelPart): string[] {
  if (p.failure) return [`[${p.enricher}] ${p.status.toUpperCase()} ${p.failure}`];
  const out = [`[${p.enricher}] OK ${p.durationMs} ms: ${p.summary}`];
  for (const s of p.sections) {
    if (s.title) out.push(`  ${s.title}:`);
    switch (s.type) {
      case 'text':
        out.push(...s.text.split('\n').map((l) => `    ${l}`));
        break;
      case 'fields':
        out.push(...s.fields.map((f) => `    ${f.label}: ${f.value}`));
        break;
      case 'code':
        out.push(...s.code.split('\n').map((l) => `    | ${l}`));
        break;
      case 'table': {
        const widths = s.columns.map((c, i) => Math.min(MAX_COLUMN_WIDTH, Math.max(c.length, ...s.rows.map((r) => (r[i] ?? '').length))));
        const line = (cells: string[]) => `    ${widths.map((w, i) => (cells[i] ?? '').slice(0, w).padEnd(w)).join('  ')}`.trimEnd();
        out.push(line(s.columns), ...s.rows.map(line));
        break;
      }
    }
  }
  for (const s of p.series) {
    if (s.title) out.push(`  ${s.title}:`);
    for (const x of s.series) out.push(`    ${x.name}: ${x.points.length} points, last ${x.points.at(-1)?.[1] ?? 'n/a'}${s.unit ? ` ${s.unit}` : ''}`);
  }
  return out;
}

/**
 * The diagnostic as plain text for a terminal, from the same rendering model as Slack: the
 * headline, the likely causes with evidence and actions, each enricher's findings, then links.
 */
export function renderText(d: Diagnostic, links: LinksConfig = {}): string {
  const m = buildMessageModel(d, links);
  const out: string[] = [RULE, `${m.title}  (run ${m.runId}, ${m.trigger}, ${m.durationMs} ms)`];
  if (m.description) out.push(m.description);
  if (m.firedValues) out.push(`Values that fired: ${m.firedValues.join('; ')}`);
  if (m.truncatedNote) out.push(m.truncatedNote);
  out.push('', m.headline, '');
  if (m.causes.length === 0) out.push('Likely causes: nothing stands out in the evidence.');
  else {
    out.push('Likely causes:');
    m.causes.forEach((c, i) => {
      out.push(`  ${i + 1}. ${c.title} [${c.id}] ${c.confidenceText}`);
      for (const e of c.evidence) out.push(`       - ${e}`);
      for (const a of c.against) out.push(`       ~ against: ${a}`);
    });
  }
  if (m.actions.length > 0) {
    out.push('', 'Suggested actions (not executed):');
    for (const a of m.actions) out.push(`  > ${a}`);
  }
  out.push('');
  for (const p of m.parts) out.push(...renderPart(p));
  if (m.links.length > 0) {
    out.push('', 'Links:');
    for (const l of m.links) out.push(`  ${l.label}: ${l.url}`);
  }
  out.push(RULE);
  return `${out.join('\n')}\n`;
}

/** The embedded default notifier: writes the diagnostic as readable text to `out` (stdout). Never throws on its own. */
export function createConsoleNotifier(deps: { out: Pick<Writable, 'write'>; links?: LinksConfig }): Notifier {
  return {
    name: 'console',
    notify(d) {
      // The executor turns a throwing write into a rejection, as an async function would.
      return new Promise((resolve) => {
        deps.out.write(renderText(d, deps.links));
        resolve('written to stdout');
      });
    },
  };
}
