/**
 * The Diagnostic JSON of the public contract (docs/contract.md) and the neutral sections
 * enrichers return. Only notifiers turn sections into a platform's format (Block Kit, text).
 */

/** A run's origin. */
export type Trigger = 'webhook' | 'manual' | 'slack';

/** Outcome of one enricher in one run. */
export type EnrichmentStatus = 'ok' | 'error' | 'timeout' | 'skipped';

/** Cause ids: a fixed vocabulary from the runbook; new ids may be added, none renamed. */
export const CAUSE_IDS = [
  'connection_leak',
  'traffic_spike',
  'slow_queries',
  'lock_contention',
  'pool_misconfigured',
  'database_connection_limit',
  'database_unavailable',
  'resource_exhaustion',
  'pooler_saturated',
] as const;
export type CauseId = (typeof CAUSE_IDS)[number];

/** Free text, shown as a paragraph. */
export interface TextSection {
  type: 'text';
  title?: string;
  text: string;
}
/** Key numbers, shown as label/value pairs. */
export interface FieldsSection {
  type: 'fields';
  title?: string;
  fields: Array<{ label: string; value: string }>;
}
/** A table; cells are already formatted for people. */
export interface TableSection {
  type: 'table';
  title?: string;
  columns: string[];
  rows: string[][];
}
/** Verbatim text (queries, log lines), shown in a code block. */
export interface CodeSection {
  type: 'code';
  title?: string;
  language?: string;
  code: string;
}
/** Time series: points are [unix milliseconds, value]. */
export interface SeriesSection {
  type: 'series';
  title?: string;
  unit?: string;
  series: Array<{ name: string; points: Array<[number, number]> }>;
}
/** A neutral, platform-independent piece of an enrichment for people to read. */
export type Section = TextSection | FieldsSection | TableSection | CodeSection | SeriesSection;

/** A query an enricher ran against a source, so notifiers can link to it (a Prometheus graph). */
export interface SourceQuery {
  source: 'prometheus' | 'loki' | 'postgres';
  query: string;
  start?: string;
  end?: string;
}

/** What one enricher found, as stored in the Diagnostic. */
export interface Enrichment {
  enricher: string;
  status: EnrichmentStatus;
  durationMs: number;
  /** Only when status is not `ok`. */
  error?: string;
  summary: string;
  sections: Section[];
  evidence: Record<string, unknown>;
  /** Queries used (added to the contract; optional). */
  queries?: SourceQuery[];
}

/** A ranked root cause with its supporting evidence and suggested (never executed) actions. */
export interface Cause {
  /** A CauseId, or another rule's id (written `string & {}` so that editors still offer the known ids). */
  id: CauseId | (string & {});
  title: string;
  confidence: number;
  evidence: string[];
  actions: string[];
  /** What speaks against this cause (added to the contract; optional). */
  against?: string[];
}

export type NotificationStatus = 'sent' | 'failed' | 'skipped';
export interface NotificationOutcome {
  notifier: string;
  status: NotificationStatus;
  detail: string;
}

/** The alert a diagnostic is about, as people need it in a message (added to the contract; optional). */
export interface DiagnosticAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt?: string;
  generatorURL?: string;
  externalURL?: string;
  /** Who sent the alert (added; optional): `grafana` for Grafana's webhook contact point; absent for Alertmanager. */
  sender?: 'grafana';
  /** Grafana's links for the alert (added; optional; Grafana-managed alerts): the rule's dashboard, its panel, a new silence, a screenshot. */
  dashboardURL?: string;
  panelURL?: string;
  silenceURL?: string;
  imageURL?: string;
  /** The values that fired, per active alert (added; optional; Grafana: refId of each query and expression → value). */
  values?: Array<{
    fingerprint: string;
    /** The alert's labels that differ from the group's common ones (which alert of the group this is). */
    labels?: Record<string, string>;
    values?: Record<string, number>;
    valueString?: string;
  }>;
}

/** The Diagnostic JSON (docs/contract.md). */
export interface Diagnostic {
  id: string;
  alertname: string;
  status: 'firing' | 'resolved';
  groupKey: string;
  fingerprints: string[];
  trigger: Trigger;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  enrichments: Enrichment[];
  causes: Cause[];
  notifications: NotificationOutcome[];
  /** Common labels and annotations of the alert group (added; optional). */
  alert?: DiagnosticAlert;
  /** Alerts of the group Alertmanager left out of the notification (webhook `max_alerts`), where any (added; optional; docs/contract.md). */
  truncatedAlerts?: number;
  /** Enrichers and notifiers the route chose, and its index (added; optional). */
  route?: { index: number; enrichers: string[]; notifiers: string[] };
}
