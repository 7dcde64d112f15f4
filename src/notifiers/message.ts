/**
 * The neutral rendering model of a Diagnostic: what every notifier shows, in the order people
 * read it at 3 a.m. (what is wrong, what to do, the evidence, the links). Pure: no I/O, no
 * platform syntax. Slack (Block Kit) and the console (text) both render from it.
 */
import type { LinksConfig } from './links';
import { wellFormed } from '../alertmanager/payload';
import type { Diagnostic, EnrichmentStatus, Section, SeriesSection } from '../core/diagnostic';

/** Causes shown with their evidence; the others are listed in one line. */
export const TOP_CAUSES = 3;
/** Suggested actions shown, across the top causes, after removing duplicates. */
export const MAX_ACTIONS = 6;
/** A cause title in the headline is cut to this many characters. */
export const MAX_HEADLINE_TITLE = 200;
/** Grafana's time range starts this long before the alert's start. */
export const GRAFANA_LEAD_MS = 30 * 60_000;
/** And ends this long after its end (or after the run, while it fires). */
export const GRAFANA_TAIL_MS = 10 * 60_000;

/** A cause as messages show it. */
export interface ModelCause {
  id: string;
  title: string;
  confidence: number;
  /** "82%" */
  confidenceText: string;
  evidence: string[];
  against: string[];
  actions: string[];
}

/** One enricher's part of the message. */
export interface ModelPart {
  enricher: string;
  status: EnrichmentStatus;
  durationMs: number;
  summary: string;
  /** For error/timeout/skipped: one line saying why nothing is shown. */
  failure?: string;
  /** Sections for people (series are kept apart: they become a chart or one line). */
  sections: Exclude<Section, SeriesSection>[];
  series: SeriesSection[];
}

/** What a link points at. */
export type LinkKind = 'runbook' | 'grafana' | 'prometheus' | 'silence' | 'source';

/** A link for people: a label and an http(s) URL (not yet escaped for any platform). */
export interface ModelLink {
  kind: LinkKind;
  label: string;
  url: string;
}

/** The rendering model of one Diagnostic. */
export interface MessageModel {
  runId: string;
  groupKey: string;
  alertname: string;
  status: 'firing' | 'resolved';
  severity?: string;
  trigger: Diagnostic['trigger'];
  /** "FIRING db_pool_exhausted (critical)" */
  title: string;
  /** The alert's summary or description annotation. */
  description?: string;
  /** One line: the most likely cause and its confidence, or that nothing stands out. */
  headline: string;
  /** Every cause, most likely first; the first TOP_CAUSES are shown in detail. */
  causes: ModelCause[];
  actions: string[];
  parts: ModelPart[];
  links: ModelLink[];
  labels: Record<string, string>;
  /** The values that fired, one line per alert (Grafana-managed alerts: "B=44.24 C=1", led by the labels that set the alert apart). */
  firedValues?: string[];
  /** "5 more alerts not sent by Alertmanager (…)", where Alertmanager left alerts of the group out. */
  truncatedNote?: string;
  startsAt?: string;
  endsAt?: string;
  durationMs: number;
}

/** "82%" for 0.82 (clamped to 0..100). */
export function percent(x: number): string {
  const v = Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0;
  return `${Math.round(v * 100)}%`;
}

function isHttpUrl(s: string | undefined): s is string {
  if (!s) return false;
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

function withParams(url: string, params: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

/** Prometheus' classic graph UI time format ("2026-11-27 06:25:16", UTC). */
function promTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/**
 * One matcher of the silence link's `filter`, which Alertmanager's web UI parses (not the API's Go
 * parser): the name is any run of characters other than `{}!=~,\\"'` backtick and spaces, so UTF-8
 * names such as `service.name` go bare and a quoted name would not parse; the value is a JSON
 * string (prometheus/alertmanager ui/app/src/Utils/Filter.elm: `item`, `reservedChars`, `string`).
 */
function matcher(name: string, value: string): string {
  return `${name}=${JSON.stringify(value)}`;
}

/**
 * The links of a diagnostic: the runbook (annotation, else `links.runbook`), the Grafana
 * dashboard with the time range around the alert, one Prometheus graph per Prometheus query the
 * enrichers ran, a prefilled Alertmanager silence, and the alert's source. Only http(s) URLs.
 */
export function linksOf(d: Diagnostic, links: LinksConfig = {}, now: number = Date.parse(d.finishedAt)): ModelLink[] {
  const out: ModelLink[] = [];
  const ann = d.alert?.annotations ?? {};
  const runbook = [ann.runbook_url, ann.runbook, links.runbook].find(isHttpUrl);
  if (runbook) out.push({ kind: 'runbook', label: 'Runbook', url: runbook });
  // A Grafana-managed alert names its own panel and dashboard (with Grafana's time range); its
  // generatorURL and externalURL are Grafana's, so no Prometheus graph or Alertmanager silence is built from them.
  const grafana = d.alert?.sender === 'grafana';
  if (grafana && isHttpUrl(d.alert!.panelURL)) out.push({ kind: 'grafana', label: 'Grafana panel of the alert rule', url: d.alert!.panelURL });
  if (grafana && isHttpUrl(d.alert!.dashboardURL)) out.push({ kind: 'grafana', label: 'Grafana dashboard of the alert rule', url: d.alert!.dashboardURL });

  const start = Date.parse(d.alert?.startsAt ?? d.startedAt);
  const endRaw = d.alert?.endsAt ? Date.parse(d.alert.endsAt) : NaN;
  const end = d.status === 'resolved' && Number.isFinite(endRaw) && endRaw > start ? endRaw : now;
  const from = Number.isFinite(start) ? start - GRAFANA_LEAD_MS : now - 2 * GRAFANA_LEAD_MS;
  const to = (Number.isFinite(end) ? end : now) + GRAFANA_TAIL_MS;
  const dash = links.grafanaDashboard;
  const grafanaUrl = isHttpUrl(dash)
    ? dash
    : dash && isHttpUrl(links.grafana)
      ? joinUrl(links.grafana, dash)
      : ([ann.dashboard_url, ann.grafana_url].find(isHttpUrl) ?? links.grafana);
  if (isHttpUrl(grafanaUrl)) out.push({ kind: 'grafana', label: 'Grafana dashboard', url: withParams(grafanaUrl, { from: String(from), to: String(to) }) });

  const promBase = isHttpUrl(links.prometheus)
    ? links.prometheus
    : !grafana && isHttpUrl(d.alert?.generatorURL)
      ? new URL(d.alert.generatorURL).origin
      : undefined;
  if (promBase) {
    const seen = new Set<string>();
    for (const e of d.enrichments) {
      for (const q of e.queries ?? []) {
        if (q.source !== 'prometheus' || seen.has(q.query)) continue;
        seen.add(q.query);
        const qEnd = q.end ? Date.parse(q.end) : to;
        const qStart = q.start ? Date.parse(q.start) : from;
        const rangeS = Math.max(60, Math.round(((Number.isFinite(qEnd) ? qEnd : to) - (Number.isFinite(qStart) ? qStart : from)) / 1000));
        const url = withParams(joinUrl(promBase, 'graph'), {
          'g0.expr': q.query,
          'g0.tab': '0',
          'g0.range_input': `${rangeS}s`,
          'g0.end_input': promTime(Number.isFinite(qEnd) ? qEnd : to),
        });
        out.push({ kind: 'prometheus', label: `Prometheus (${e.enricher}): ${q.query}`, url });
      }
    }
  }

  const amBase = grafana ? undefined : [links.alertmanager, d.alert?.externalURL].find(isHttpUrl);
  const labels = d.alert?.labels ?? { alertname: d.alertname };
  if (grafana && isHttpUrl(d.alert!.silenceURL)) out.push({ kind: 'silence', label: 'Silence in Grafana', url: d.alert!.silenceURL });
  if (amBase) {
    const filter = `{${Object.entries(labels)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => matcher(k, v))
      .join(',')}}`;
    out.push({
      kind: 'silence',
      label: 'Silence in Alertmanager',
      url: `${amBase.replace(/\/+$/, '')}/#/silences/new?filter=${encodeURIComponent(wellFormed(filter))}`,
    });
  }
  if (isHttpUrl(d.alert?.generatorURL))
    out.push({ kind: 'source', label: grafana ? 'Alert rule in Grafana' : 'Alert rule in Prometheus', url: d.alert.generatorURL });
  if (grafana && isHttpUrl(d.alert!.imageURL)) out.push({ kind: 'grafana', label: 'Panel screenshot', url: d.alert!.imageURL });
  return out;
}

/** Lines of values shown at most (one per alert). */
export const MAX_VALUE_LINES = 5;

/** A value as people read it: integers whole, others to 4 significant digits. */
function valueText(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
}

/**
 * The values that fired, one line per alert that has them (Grafana-managed alerts): the labels
 * that set the alert apart from the group's, then `refId=value` pairs, or Grafana's valueString.
 */
export function firedValuesOf(d: Diagnostic): string[] {
  const entries = d.alert?.values ?? [];
  const lines = entries.slice(0, MAX_VALUE_LINES).map((e) => {
    const lead = Object.entries(e.labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    const vals = e.values
      ? Object.entries(e.values)
          .map(([k, v]) => `${k}=${valueText(v)}`)
          .join(' ')
      : (e.valueString ?? '');
    return lead ? `${lead}: ${vals}` : vals;
  });
  if (entries.length > MAX_VALUE_LINES) lines.push(`…and ${entries.length - MAX_VALUE_LINES} more alerts`);
  return lines.filter((l) => l.length > 0);
}

/** Builds the rendering model of `d`. Pure; never throws for a well-typed Diagnostic. */
/**
 * What a person must know where Alertmanager left alerts of the group out (its webhook `max_alerts`):
 * how many, and that the queries were not narrowed to the listed ones.
 */
export function truncatedNoteOf(truncated: number, listed: number): string {
  return `${truncated} more alert${truncated === 1 ? '' : 's'} not sent by Alertmanager (webhook max_alerts): ${listed} of ${listed + truncated} listed, and no query was narrowed to the listed ones.`;
}

export function buildMessageModel(d: Diagnostic, links: LinksConfig = {}): MessageModel {
  const labels = d.alert?.labels ?? { alertname: d.alertname };
  const severity = labels.severity;
  const status = d.status;
  const causes: ModelCause[] = [...d.causes]
    .sort((a, b) => b.confidence - a.confidence)
    .map((c) => ({
      id: c.id,
      title: c.title,
      confidence: c.confidence,
      confidenceText: percent(c.confidence),
      evidence: c.evidence,
      against: c.against ?? [],
      actions: c.actions,
    }));
  const top = causes[0];
  // sources that failed: a missing cause may only mean it could not be seen
  const unseen = d.enrichments.filter((e) => e.status === 'error' || e.status === 'timeout').map((e) => `${e.enricher} (${e.status})`);
  const headline = top
    ? `Most likely: ${top.title.length > MAX_HEADLINE_TITLE ? `${top.title.slice(0, MAX_HEADLINE_TITLE - 1)}…` : top.title} (${top.confidenceText} confidence)`
    : status === 'resolved'
      ? 'Resolved; no cause stood out in the evidence.'
      : unseen.length > 0
        ? `No cause stands out in what could be checked; not checked: ${unseen.join(', ')}.`
        : 'No cause stands out in the evidence; see the findings below.';
  const actions: string[] = [];
  for (const c of causes.slice(0, TOP_CAUSES)) for (const a of c.actions) if (!actions.includes(a) && actions.length < MAX_ACTIONS) actions.push(a);
  const parts: ModelPart[] = d.enrichments.map((e) => {
    const ok = e.status === 'ok';
    return {
      enricher: e.enricher,
      status: e.status,
      durationMs: e.durationMs,
      summary: e.summary,
      ...(ok ? {} : { failure: failureLine(e.status, e.error ?? e.summary, e.durationMs) }),
      sections: ok ? e.sections.filter((s): s is Exclude<Section, SeriesSection> => s.type !== 'series') : [],
      series: ok ? e.sections.filter((s): s is SeriesSection => s.type === 'series') : [],
    };
  });
  const description = d.alert?.annotations.summary ?? d.alert?.annotations.description;
  return {
    runId: d.id,
    groupKey: d.groupKey,
    alertname: d.alertname,
    status,
    ...(severity ? { severity } : {}),
    trigger: d.trigger,
    title: `${status === 'resolved' ? 'RESOLVED' : 'FIRING'} ${d.alertname}${severity ? ` (${severity})` : ''}`,
    ...(description ? { description } : {}),
    headline,
    causes,
    actions,
    parts,
    links: linksOf(d, links),
    labels,
    ...(firedValuesOf(d).length > 0 ? { firedValues: firedValuesOf(d) } : {}),
    ...(d.truncatedAlerts ? { truncatedNote: truncatedNoteOf(d.truncatedAlerts, d.fingerprints.length) } : {}),
    ...(d.alert?.startsAt ? { startsAt: d.alert.startsAt } : {}),
    ...(d.alert?.endsAt ? { endsAt: d.alert.endsAt } : {}),
    durationMs: d.durationMs,
  };
}

function failureLine(status: EnrichmentStatus, reason: string, ms: number): string {
  switch (status) {
    case 'timeout':
      return `timed out after ${ms} ms: ${reason}`;
    case 'skipped':
      return `skipped: ${reason.replace(/^skipped:\s*/, '')}`;
    default:
      return `failed: ${reason.replace(/^failed:\s*/, '')}`;
  }
}

/** The series of the `pool` enrichment (active/idle/total connections), if it has any points. */
export function poolSeries(model: Pick<MessageModel, 'parts'>): SeriesSection | undefined {
  const pool = model.parts.find((p) => p.enricher === 'pool' && p.status === 'ok');
  return pool?.series.find((s) => s.series.some((x) => x.points.length > 0));
}

/** What a thread remembers of the last diagnostic it showed, to say what changed. */
export interface DiagnosticSnapshot {
  runId: string;
  causes: Array<{ id: string; title: string; confidence: number }>;
  /** "enricher / label" → value, from the fields sections. */
  numbers: Record<string, string>;
}

/** Key numbers cap in a snapshot (what-changed compares at most these). */
const MAX_SNAPSHOT_NUMBERS = 40;

/** The causes and key numbers of a model, for a later "what changed". */
export function snapshotOf(model: MessageModel, d: Pick<Diagnostic, 'causes'>): DiagnosticSnapshot {
  const numbers: Record<string, string> = {};
  let n = 0;
  for (const p of model.parts)
    for (const s of p.sections)
      if (s.type === 'fields') for (const f of s.fields) if (n++ < MAX_SNAPSHOT_NUMBERS) numbers[`${p.enricher} / ${f.label}`] = f.value.slice(0, 200);
  return { runId: model.runId, causes: d.causes.map((c) => ({ id: c.id, title: c.title, confidence: c.confidence })), numbers };
}

/** A confidence move smaller than this is not reported. */
const CONFIDENCE_EPSILON = 0.05;
/** At most this many changed numbers are listed. */
const MAX_NUMBER_CHANGES = 8;

/**
 * Lines saying what changed between two snapshots: causes added or gone, confidence moves of
 * at least 5 points, key numbers that changed. Empty when nothing did.
 */
export function describeChanges(prev: DiagnosticSnapshot, cur: DiagnosticSnapshot): string[] {
  const out: string[] = [];
  const before = new Map(prev.causes.map((c) => [c.id, c]));
  const after = new Map(cur.causes.map((c) => [c.id, c]));
  for (const c of cur.causes) {
    const p = before.get(c.id);
    if (!p) out.push(`New cause: ${c.title} (${percent(c.confidence)})`);
    else if (Math.abs(c.confidence - p.confidence) >= CONFIDENCE_EPSILON) out.push(`${c.title}: ${percent(p.confidence)} → ${percent(c.confidence)}`);
  }
  for (const p of prev.causes) if (!after.has(p.id)) out.push(`No longer suspected: ${p.title} (was ${percent(p.confidence)})`);
  const changed: string[] = [];
  for (const [k, v] of Object.entries(cur.numbers)) {
    const old = prev.numbers[k];
    if (old !== undefined && old !== v) changed.push(`${k}: ${old} → ${v}`);
  }
  out.push(...changed.slice(0, MAX_NUMBER_CHANGES));
  if (changed.length > MAX_NUMBER_CHANGES) out.push(`…and ${changed.length - MAX_NUMBER_CHANGES} more numbers changed`);
  return out;
}
