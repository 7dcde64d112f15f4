import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatValue, valueAt, type MetricsTarget, type SeriesValue, type TargetSeries } from '../../support/metrics-target';

/**
 * A library's metrics exposition (Prometheus text format 0.0.4) kept as the library writes it,
 * comment lines, label order and trailing commas included, with the values of chosen series made
 * functions of time: served to the real Prometheus as it is, and backfilled from the same values.
 */

interface SampleLine {
  /** The line up to the value, verbatim (`name{a="b",}`). */
  head: string;
  name: string;
  labels: Record<string, string>;
  /** The value as written, served while no function replaces it. */
  written: string;
  value: SeriesValue;
}

type Line = { comment: string } | SampleLine;

/** Reads one label set `{a="b",c="d",}` starting at `text[i] === '{'`; returns the labels and the index after `}`. */
function readLabels(text: string, i: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  i++;
  for (;;) {
    while (text[i] === ' ' || text[i] === ',') i++;
    if (text[i] === '}') return [labels, i + 1];
    const eq = text.indexOf('=', i);
    if (eq < 0 || text[eq + 1] !== '"') throw new Error(`bad label set in ${JSON.stringify(text)}`);
    const name = text.slice(i, eq).trim();
    let v = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        j++;
        v += text[j] === 'n' ? '\n' : text[j];
      } else v += text[j];
    }
    if (j >= text.length) throw new Error(`unterminated label value in ${JSON.stringify(text)}`);
    labels[name] = v;
    i = j + 1;
  }
}

function parse(text: string): Line[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line): Line => {
      if (line.startsWith('#')) return { comment: line };
      const brace = line.indexOf('{');
      const space = line.indexOf(' ');
      let name: string;
      let labels: Record<string, string> = {};
      let end: number;
      if (brace >= 0 && (space < 0 || brace < space)) {
        name = line.slice(0, brace);
        [labels, end] = readLabels(line, brace);
      } else {
        name = line.slice(0, space);
        end = space;
      }
      const written = line.slice(end).trim().split(/\s+/)[0]!;
      const n = Number(written);
      return { head: line.slice(0, end), name, labels, written, value: Number.isNaN(n) ? NaN : n };
    });
}

export interface Exposition {
  /**
   * Makes the value of every sample of `name` whose labels include `match` a function of time (or
   * another number). Throws where no sample matches, so a typo in a test fails.
   */
  vary(name: string, match: Record<string, string>, value: SeriesValue): Exposition;
  /** The samples as series (labels with empty values dropped, as Prometheus stores them), for backfill. */
  series(): TargetSeries[];
  /** The text at `tMs`: the library's lines with the current values. */
  render(tMs: number): string;
}

/** An exposition from its text. */
export function exposition(text: string): Exposition {
  const lines = parse(text);
  const samples = lines.filter((l): l is SampleLine => 'head' in l);
  const self: Exposition = {
    vary(name, match, value) {
      const hit = samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
      if (hit.length === 0) throw new Error(`no sample ${name}${JSON.stringify(match)} in the exposition`);
      for (const s of hit) s.value = value;
      return self;
    },
    series() {
      return samples.map((s) => ({ name: s.name, labels: Object.fromEntries(Object.entries(s.labels).filter(([, v]) => v !== '')), value: s.value }));
    },
    render(tMs) {
      let out = '';
      for (const l of lines) {
        if ('comment' in l) out += `${l.comment}\n`;
        else if (typeof l.value === 'number' && Object.is(l.value, Number(l.written))) out += `${l.head} ${l.written}\n`;
        else {
          const v = valueAt(l.value, tMs);
          if (v !== null) out += `${l.head} ${formatValue(v)}\n`;
        }
      }
      return out;
    },
  };
  return self;
}

/**
 * A fixture file as an exposition: a field sample (`NN-…`, test/fixtures/field, described in its
 * README) or one written here (test/enrichers/pool/fixtures).
 */
export function fixture(file: string): Exposition {
  const dir = /^\d\d-/.test(file) ? join(__dirname, '../../fixtures/field') : join(__dirname, 'fixtures');
  return exposition(readFileSync(join(dir, file), 'utf8'));
}

/** Serves the expositions, one after the other, from `target`, and sets their series on it for backfill. */
export function serve(target: MetricsTarget, expositions: Exposition[]): void {
  target.clear();
  for (const e of expositions) for (const s of e.series()) target.set(s.name, s.labels, s.value);
  target.serveText((t) => expositions.map((e) => e.render(t)).join(''));
}
