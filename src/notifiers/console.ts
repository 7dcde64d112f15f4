import type { Writable } from 'node:stream';
import type { Diagnostic, Section } from '../core/diagnostic';
import type { Notifier } from '../core/notifier';

const RULE = '─'.repeat(72);

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

function renderSection(s: Section): string[] {
  const title = s.title ? [`  ${s.title}:`] : [];
  switch (s.type) {
    case 'text':
      return [...title, ...s.text.split('\n').map((l) => `    ${l}`)];
    case 'fields':
      return [...title, ...s.fields.map((f) => `    ${f.label}: ${f.value}`)];
    case 'code':
      return [...title, ...s.code.split('\n').map((l) => `    | ${l}`)];
    case 'table': {
      const widths = s.columns.map((c, i) => Math.min(60, Math.max(c.length, ...s.rows.map((r) => (r[i] ?? '').length))));
      const line = (cells: string[]) => `    ${cells.map((c, i) => (c ?? '').slice(0, widths[i]).padEnd(widths[i]!)).join('  ')}`.trimEnd();
      return [...title, line(s.columns), ...s.rows.map(line)];
    }
    case 'series':
      return [...title, ...s.series.map((x) => `    ${x.name}: ${x.points.length} points, last ${x.points.at(-1)?.[1] ?? 'n/a'}${s.unit ? ` ${s.unit}` : ''}`)];
  }
}

/** The diagnostic as plain text for a terminal: causes and actions first, then each enricher. */
export function renderText(d: Diagnostic): string {
  const out: string[] = [RULE, `${d.status === 'resolved' ? 'RESOLVED' : 'FIRING'} ${d.alertname}  (run ${d.id}, ${d.trigger}, ${d.durationMs} ms)`];
  if (d.alert?.annotations.summary) out.push(d.alert.annotations.summary);
  out.push('');
  if (d.causes.length === 0) out.push('Likely causes: nothing stands out in the evidence.');
  else {
    out.push('Likely causes:');
    d.causes.forEach((c, i) => {
      out.push(`  ${i + 1}. ${c.title} [${c.id}] ${pct(c.confidence)}`);
      for (const e of c.evidence) out.push(`       - ${e}`);
      for (const a of c.actions) out.push(`       > ${a}`);
    });
  }
  out.push('');
  for (const e of d.enrichments) {
    out.push(`[${e.enricher}] ${e.status.toUpperCase()} ${e.durationMs} ms: ${e.summary}`);
    if (e.status === 'ok') for (const s of e.sections) out.push(...renderSection(s));
  }
  out.push(RULE);
  return `${out.join('\n')}\n`;
}

/** The embedded default notifier: writes the diagnostic as readable text to `out` (stdout). */
export function createConsoleNotifier(deps: { out: Pick<Writable, 'write'> }): Notifier {
  return {
    name: 'console',
    async notify(d) {
      deps.out.write(renderText(d));
      return 'written to stdout';
    },
  };
}
