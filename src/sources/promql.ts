import { z } from 'zod';
import { isValidLabelName, labelNameSchema } from '../core/labels';

/**
 * Building PromQL from values we do not control (alert labels): string literals, regex-escaped
 * alternations and selectors. Rules from docs/reference/prometheus.md (Prometheus' lexer, `promql/parser/lex.go`):
 * double-quoted strings take Go escapes and end at an unescaped `"` or a raw newline; a regex
 * matcher's value is an RE2 pattern anchored at both ends.
 *
 * Names (UTF-8 label and metric names, Prometheus 3): any non-empty valid UTF-8 string is a label
 * or metric name (prometheus/common `model/metric.go`, `ValidationScheme.IsValidLabelName`, UTF8Validation).
 * A name outside the classic alphabet is quoted inside the braces, as Prometheus' own printer does
 * (prometheus/prometheus `model/labels/matcher.go`, `shouldQuoteName`, and the grammar
 * `promql/parser/generated_parser.y`: `label_matcher: string_identifier match_op STRING`, a lone
 * `string_identifier` being the metric name, `grouping_label: maybe_label | STRING`):
 * `{"db.client.connection.count","service.name"="checkout"}`, `sum by ("service.name") (...)`.
 * Classic names stay unquoted, so every query a Prometheus 2 accepts today is unchanged; a quoted
 * name needs Prometheus 3 (2.x rejects it with a parse error, `bad_data`).
 */

/** A classic metric name (Prometheus data model); other names are quoted in selectors. */
export const METRIC_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
/** A classic label name (Prometheus data model, and the rule of `shouldQuoteName`); other names are quoted. */
export const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The label-name rule lives in core (one function); re-exported for the PromQL helpers' users. */
export { isValidLabelName, labelNameSchema } from '../core/labels';

/** A metric name Prometheus 3 accepts: the same rule as label names. */
export const isValidMetricName = isValidLabelName;

/** A configured metric name: any UTF-8 name; quoted in selectors where it is not a classic name. */
export const metricNameSchema = z.string().refine(isValidMetricName, 'must be a metric name (a non-empty UTF-8 string)');

export type MatchOp = '=' | '!=' | '=~' | '!~';

/** One label matcher. For `=~`/`!~` `value` is an RE2 pattern (use `anyOf` for literal values). */
export interface LabelMatcher {
  name: string;
  op: MatchOp;
  value: string;
}

/**
 * `value` as a double-quoted PromQL string literal that reads back as exactly `value`:
 * `\` and `"` are escaped, newline/CR/tab as `\n` `\r` `\t`, other control characters as `\xNN`;
 * everything else (unicode included) is kept. A lone UTF-16 surrogate, which has no UTF-8 form,
 * becomes U+FFFD (what encoding it would have produced anyway).
 */
export function promString(value: string): string {
  let out = '"';
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp >= 0xd800 && cp <= 0xdfff) out += '\ufffd';
    else out += ch;
  }
  return `${out}"`;
}

/** `value` with RE2's metacharacters escaped (Go's regexp.QuoteMeta), so a pattern matches it literally. */
export function regexEscape(value: string): string {
  return value.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

/** A matcher selecting any of `values` literally: `=` for one value, `=~` with an escaped alternation for several. Throws on an empty list. */
export function anyOf(name: string, values: readonly string[]): LabelMatcher {
  const uniq = [...new Set(values)];
  if (uniq.length === 0) throw new Error(`anyOf(${name}): no values`);
  if (uniq.length === 1) return { name, op: '=', value: uniq[0]! };
  return { name, op: '=~', value: uniq.map(regexEscape).join('|') };
}

/** A label name as PromQL text: classic names as they are, others quoted (`"service.name"`). Throws on an invalid name. */
export function labelNameText(name: string): string {
  if (!isValidLabelName(name)) throw new Error(`invalid label name ${JSON.stringify(name)}`);
  return LABEL_NAME_RE.test(name) ? name : promString(name);
}

/** The label list of `by (...)`, `without (...)`, `on (...)`, `ignoring (...)`: each name as `labelNameText` gives it, comma-separated. */
export function groupingText(names: readonly string[]): string {
  return names.map(labelNameText).join(', ');
}

/** One matcher as PromQL text, e.g. `service="a\"b"` or `"service.name"="checkout"`. Throws on an invalid label name. */
export function matcherText(m: LabelMatcher): string {
  return `${labelNameText(m.name)}${m.op}${promString(m.value)}`;
}

/**
 * A vector selector: `metric{m1,m2}` (just `metric` with no matchers) for a classic metric name,
 * `{"metric.name",m1,m2}` for any other. Throws on an invalid metric or label name.
 */
export function selector(metric: string, matchers: readonly LabelMatcher[]): string {
  if (!isValidMetricName(metric)) throw new Error(`invalid metric name ${JSON.stringify(metric)}`);
  if (!METRIC_NAME_RE.test(metric)) return `{${[promString(metric), ...matchers.map(matcherText)].join(',')}}`;
  return matchers.length === 0 ? metric : `${metric}{${matchers.map(matcherText).join(',')}}`;
}

/**
 * Matchers that restrict a query to the alert's own series: for each of `labels`, the values the
 * alerts carry (one value: `=`; several: an escaped alternation). Labels no alert carries are
 * returned in `missing` and add no matcher. Prefer matchersFromGroup, which knows about truncated
 * and resolved alerts.
 */
export function matchersFromAlerts(
  labels: readonly string[],
  alerts: ReadonlyArray<{ labels: Record<string, string> }>,
): { matchers: LabelMatcher[]; missing: string[] } {
  const matchers: LabelMatcher[] = [];
  const missing: string[] = [];
  for (const name of labels) {
    const values = alerts.map((a) => a.labels[name]).filter((v): v is string => typeof v === 'string' && v !== '');
    if (values.length === 0) missing.push(name);
    else matchers.push(anyOf(name, values));
  }
  return { matchers, missing };
}

/** What an alert group says about its labels, for matchersFromGroup. */
export interface GroupLabelsView {
  alerts: ReadonlyArray<{ status: 'firing' | 'resolved'; labels: Record<string, string> }>;
  /** The labels Alertmanager grouped by: the same on every alert of the group, sent or not. */
  groupLabels: Record<string, string>;
  /** Alerts of the group Alertmanager left out of the notification (`max_alerts`). */
  truncatedAlerts: number;
}

/**
 * Matchers restricting a query to the alert group's own series, for each of `labels`:
 * - values come from the group's active alerts only (firing ones in a firing group: a resolved
 *   alert inside it is another episode and must not narrow or widen the query);
 * - where Alertmanager left alerts out (`truncatedAlerts` > 0) only a label it grouped by is
 *   copied (every alert of the group shares it); any other label would narrow the query to the
 *   listed alerts, so it is left out and named in `unrestricted`.
 * Labels no active alert carries are in `missing`.
 */
export function matchersFromGroup(labels: readonly string[], group: GroupLabelsView): { matchers: LabelMatcher[]; missing: string[]; unrestricted: string[] } {
  const firing = group.alerts.filter((a) => a.status === 'firing');
  const active = firing.length > 0 ? firing : group.alerts;
  if (group.truncatedAlerts <= 0) return { ...matchersFromAlerts(labels, active), unrestricted: [] };
  const matchers: LabelMatcher[] = [];
  const missing: string[] = [];
  const unrestricted: string[] = [];
  for (const name of labels) {
    const v = group.groupLabels[name];
    if (v !== undefined && v !== '') matchers.push({ name, op: '=', value: v });
    else if (active.some((a) => (a.labels[name] ?? '') !== '')) unrestricted.push(name);
    else missing.push(name);
  }
  return { matchers, missing, unrestricted };
}

/** Lines for an enricher's section about the labels matchersFromGroup did not copy: missing ones, and those left out because Alertmanager truncated the group. */
export function copiedLabelNotes(r: { missing: readonly string[]; unrestricted: readonly string[] }, truncatedAlerts: number): string[] {
  const names = (ls: readonly string[]) => ls.map((l) => `\`${l}\``).join(', ');
  return [
    ...(r.missing.length ? [`The alert has no ${names(r.missing)} label, so the queries are not restricted by it.`] : []),
    ...(r.unrestricted.length
      ? [
          `Alertmanager left ${truncatedAlerts} alert${truncatedAlerts === 1 ? '' : 's'} of this group out of the notification, so the queries are not restricted to the listed alerts' ${names(r.unrestricted)} (that would leave the others out).`,
        ]
      : []),
  ];
}

/** `matchers[]` in an enricher's settings: `{name, op (default "="), value}`; for `=~`/`!~` value is an RE2 pattern. */
export const labelMatcherSchema = z.strictObject({
  name: labelNameSchema,
  op: z.enum(['=', '!=', '=~', '!~']).default('='),
  value: z.string(),
});
