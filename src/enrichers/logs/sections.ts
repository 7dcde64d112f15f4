import type { Section } from '../../core/diagnostic';
import type { LogAnalysis } from './analyze';
import { EVENT_CLASSES, type EventClass } from './classify';

/** The logs enricher's neutral sections (no Block Kit: notifiers render them), from its analysis. */

/** How each class is named to people. */
export const CLASS_LABELS: Record<EventClass, string> = {
  leak_warning: 'leak warning from the pool',
  pooler_limit: 'the pooler refused or timed out',
  too_many_clients: "the server's connection limit",
  auth_failed: 'login refused',
  connection_refused: 'connection refused',
  pool_timeout: "the application's pool timed out",
  connection_lost: 'connection lost',
  connection_error: 'could not connect',
  timeout: 'a deadline passed (not said where)',
};

/** What the enricher knows of each source besides the analysis. */
export interface SourceReport {
  name: string;
  kind: string;
  /** Null when the read failed. */
  error: string | null;
  /** Lines the source handed over. */
  scanned: number;
  timezone: string;
  /** Lines whose time had no zone and were read in `timezone`. */
  zoneless: number;
  /** What the source could not see while the rest was read (one line each). */
  problems: string[];
}

export interface SectionOptions {
  /** The filter as shown: `/connection|pool|database/i`. */
  filterShown: string;
  newestLines: number;
  maxGroups: number;
  /** Cap on each line shown, characters. */
  lineMax: number;
  /** The window events were kept in, ISO, or null. */
  window: { from: string; to: string } | null;
  /** Whether more than one source was read (then each newest line names its source). */
  multipleSources: boolean;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The sections, in reading order: sources, what was left out, classes, leak warnings, shapes, newest events. */
export function logsSections(a: LogAnalysis, sources: readonly SourceReport[], o: SectionOptions): Section[] {
  const cap = (s: string) => (s.length > o.lineMax ? `${s.slice(0, o.lineMax - 1)}…` : s);
  const sections: Section[] = [];
  sections.push({
    type: 'fields',
    title: 'log sources',
    fields: sources.map((s) => {
      const label = `${s.name} (${s.kind})`;
      if (s.error) return { label, value: `failed: ${s.error}` };
      const c = a.sources.get(s.name);
      const read = c
        ? `${plural(c.events, 'event')} in ${plural(s.scanned, 'line')}, ${c.matched} matching ${o.filterShown} or a known error`
        : `${plural(s.scanned, 'line')}`;
      const zone = s.zoneless > 0 ? `; ${plural(s.zoneless, 'time')} without a zone read as ${s.timezone}` : '';
      return { label, value: read + zone };
    }),
  });

  const left: string[] = [];
  for (const s of sources) {
    const c = a.sources.get(s.name);
    const parts: string[] = [];
    if (c?.outsideWindow) parts.push(`${plural(c.outsideWindow, 'matching event')} outside the window${o.window ? ` ${o.window.from} to ${o.window.to}` : ''}`);
    if (c?.binary) parts.push(`${plural(c.binary, 'line')} of binary data, not text`);
    if (c?.invalidUtf8) parts.push(`${plural(c.invalidUtf8, 'line')} with invalid UTF-8 (read, shown with �)`);
    for (const p of s.problems) parts.push(p);
    if (parts.length) left.push(`${s.name}: ${parts.join('; ')}`);
  }
  if (a.untrackedShapes > 0) left.push(`${plural(a.untrackedShapes, 'matching event')} of further shapes counted but not grouped`);
  if (left.length) sections.push({ type: 'text', title: 'left out or not seen', text: left.join('\n') });

  if (a.matched === 0) {
    sections.push({ type: 'text', title: 'matching events', text: `No event matched ${o.filterShown} or a known pool or connection error in what was read.` });
    return sections;
  }

  const rows = EVENT_CLASSES.filter((c) => a.classEvents[c] > 0).map((c) => [CLASS_LABELS[c], String(a.classes[c]), String(a.classEvents[c])]);
  if (rows.length) sections.push({ type: 'table', title: 'known errors', columns: ['what', 'occurrences', 'events'], rows });

  if (a.leaks.length) {
    sections.push({
      type: 'table',
      title: 'leak warnings: where the leaked connections were taken',
      columns: ['pool', 'code location', 'warnings', 'threads', 'last seen'],
      rows: a.leaks.map((l) => [
        l.library,
        l.where ?? `none (${l.noLocation ?? 'not named'})`,
        String(l.count),
        l.threads.join(', ') || '-',
        l.lastSeen ?? '-',
      ]),
    });
  }

  sections.push({
    type: 'table',
    title: 'matching events by shape',
    columns: ['count', 'what', 'first seen', 'last seen', 'shape'],
    rows: a.groups
      .slice(0, o.maxGroups)
      .map((g) => [String(g.count), g.class ? CLASS_LABELS[g.class] : '-', g.firstSeen ?? '-', g.lastSeen ?? '-', cap(g.shape)]),
  });

  if (o.newestLines > 0 && a.newest.length) {
    const lines = a.newest.slice(-o.newestLines).flatMap((e) => {
      const where = [o.multipleSources ? e.source : '', e.origin ?? ''].filter(Boolean).join(' ');
      const head = cap(`${where ? `[${where}] ` : ''}${e.time ? `${e.time} ` : ''}${e.display}`);
      const more = e.lineCount > 1 ? ` (+${e.lineCount - 1} lines)` : '';
      return [head + more];
    });
    sections.push({ type: 'code', title: `newest ${plural(lines.length, 'matching event')} (secrets masked)`, code: lines.join('\n') });
  }
  return sections;
}
