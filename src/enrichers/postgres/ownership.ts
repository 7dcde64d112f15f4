/**
 * Whose sessions are whose: the application's own (the only ones that can make its leak), a
 * person's SQL tool, or another client (a reporting job, another service, a maintenance tool).
 *
 * application_name and usename are what tells them apart; PostgreSQL shows both to every role,
 * even for sessions it hides the rest of (postgres/postgres src/backend/utils/adt/pgstatfuncs.c
 * pg_stat_get_activity: pid, usesysid and application_name are "Values available to all
 * callers"), so blind rows are attributed too.
 */

/** A recognised client program. `person`: someone's interactive tool; `maintenance`: a dump, restore or vacuum run. */
export interface KnownTool {
  name: string;
  kind: 'person' | 'maintenance';
  pattern: RegExp;
  /** Where the application_name it sets comes from. */
  source: string;
}

/**
 * The application_name each tool sets. Checked at the source where it says so; the others are
 * the names these tools are seen with in pg_stat_activity, not each checked in its code.
 */
export const KNOWN_TOOLS: readonly KnownTool[] = [
  { name: 'psql', kind: 'person', pattern: /^psql$/, source: 'postgres/postgres src/bin/psql/startup.c: fallback_application_name = progname' },
  { name: 'pgcli', kind: 'person', pattern: /^pgcli\b/, source: 'seen in pg_stat_activity, not checked at source' },
  {
    name: 'DBeaver',
    kind: 'person',
    pattern: /^(DBeaver|CloudBeaver)\b/,
    source: 'dbeaver/dbeaver DBUtils.getClientApplicationName: product title + " - " + purpose ("DBeaver 24.1.0 - Main <connection>")',
  },
  { name: 'pgAdmin', kind: 'person', pattern: /^pgAdmin\b/, source: 'seen as "pgAdmin 4 - DB:<db>" and "pgAdmin 4 - CONN:<id>", not checked at source' },
  {
    name: 'DataGrip',
    kind: 'person',
    pattern: /^(DataGrip|IntelliJ IDEA|PyCharm|GoLand|WebStorm|PhpStorm|RubyMine|Rider|CLion)\b/,
    source: 'JetBrains IDEs name themselves with their version; not checked at source',
  },
  { name: 'TablePlus', kind: 'person', pattern: /^TablePlus\b/, source: 'not checked at source' },
  { name: 'Postico', kind: 'person', pattern: /^Postico\b/, source: 'not checked at source' },
  { name: 'Navicat', kind: 'person', pattern: /^Navicat\b/i, source: 'not checked at source' },
  { name: 'HeidiSQL', kind: 'person', pattern: /^HeidiSQL\b/, source: 'not checked at source' },
  { name: 'Beekeeper Studio', kind: 'person', pattern: /^Beekeeper Studio\b/, source: 'not checked at source' },
  { name: 'DbVisualizer', kind: 'person', pattern: /^DbVisualizer\b/, source: 'not checked at source' },
  { name: 'Azure Data Studio', kind: 'person', pattern: /^(azdata|Azure Data Studio)\b/, source: 'not checked at source' },
  { name: 'SQL Workbench/J', kind: 'person', pattern: /^SQL Workbench\/J\b/, source: 'not checked at source' },
  {
    name: 'pg_dump',
    kind: 'maintenance',
    pattern: /^(pg_dump|pg_dumpall|pg_restore|pg_basebackup|pg_receivewal|vacuumdb|reindexdb|clusterdb|pg_amcheck)$/,
    source: 'postgres/postgres src/bin/*: each sets fallback_application_name to its program name',
  },
];

/** The tool an application_name names, or null. */
export function recogniseTool(applicationName: string | null | undefined): KnownTool | null {
  if (!applicationName) return null;
  return KNOWN_TOOLS.find((t) => t.pattern.test(applicationName)) ?? null;
}

/** A glob (`*` any run, `?` one character) as an anchored, case-sensitive RegExp. */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** Alert labels that name the service whose pool is exhausted, most specific first. */
export const SERVICE_LABELS = ['service', 'service.name', 'app', 'application', 'app.kubernetes.io/name', 'job'] as const;

export type SessionOwner = 'application' | 'person' | 'other';

/** A group of sessions with one application_name and usename. */
export interface ClientGroup {
  application: string | null;
  user: string | null;
  count: number;
}

/** How the application's sessions were chosen, and the test itself. */
export interface ApplicationMatcher {
  /** `configured`: sources.postgres[].application; `alert`: matches the alert's service label; `largest`: the largest client group; `none`: could not tell. */
  how: 'configured' | 'alert' | 'largest' | 'none';
  /** One sentence for the section: which sessions count as the application's, and why. */
  describe: string;
  matches(application: string | null, user: string | null): boolean;
}

/** A name that matches the alert's service: equal, or the service followed by a separator ("checkout-7f9c", "checkout:worker"). */
function matchesService(value: string | null, service: string): boolean {
  if (!value) return false;
  const v = value.toLowerCase();
  const s = service.toLowerCase();
  return v === s || (v.startsWith(s) && /[^a-z0-9]/.test(v.charAt(s.length)));
}

/**
 * Chooses which sessions are the application's: the configured globs (users alone leave out
 * recognised people's tools, which often log in with the application's role); else the sessions whose
 * application_name or usename matches the alert's service label; else the largest group by
 * application_name (by usename where no session sets one) that is no recognised tool, when it is
 * clearly the largest. `groups` exclude our own session.
 */
export function resolveApplication(
  configured: { names: string[]; users: string[] } | undefined,
  alertLabels: Record<string, string>,
  groups: ClientGroup[],
): ApplicationMatcher {
  if (configured && (configured.names.length > 0 || configured.users.length > 0)) {
    const names = configured.names.map(globToRegExp);
    const users = configured.users.map(globToRegExp);
    const parts = [
      ...(configured.names.length ? [`application_name ${configured.names.map((n) => `"${n}"`).join(' or ')}`] : []),
      ...(configured.users.length ? [`user ${configured.users.map((u) => `"${u}"`).join(' or ')}`] : []),
    ];
    return {
      how: 'configured',
      describe: `The application's sessions are those with ${parts.join(' and ')} (sources.postgres[].application).`,
      // users alone never take in a person's tool logged in with the application's role; a name glob that matches it does
      matches: (app, user) =>
        (names.length === 0 ? !recogniseTool(app) : names.some((r) => r.test(app ?? ''))) && (users.length === 0 || users.some((r) => r.test(user ?? ''))),
    };
  }
  const candidates = groups.filter((g) => !recogniseTool(g.application));
  for (const label of SERVICE_LABELS) {
    const service = alertLabels[label];
    if (!service) continue;
    if (candidates.some((g) => matchesService(g.application, service) || matchesService(g.user, service))) {
      return {
        how: 'alert',
        describe: `The application's sessions are those whose application_name or user is the alert's ${label} "${service}"; set sources.postgres[].application to say exactly.`,
        matches: (app, user) => !recogniseTool(app) && (matchesService(app, service) || matchesService(user, service)),
      };
    }
  }
  const byName = candidates.some((g) => g.application);
  const keyOf = (g: ClientGroup) => (byName ? g.application : g.user);
  const totals = new Map<string, number>();
  for (const g of candidates) {
    const k = keyOf(g);
    if (k) totals.set(k, (totals.get(k) ?? 0) + g.count);
  }
  const ranked = [...totals].sort((a, b) => b[1] - a[1]);
  const [first, second] = ranked;
  if (first && (!second || first[1] > second[1])) {
    const [key, n] = first;
    const what = byName ? 'application_name' : 'user';
    return {
      how: 'largest',
      describe: `No session matches the alert's service, so the application's sessions are taken to be the largest client group, ${what} "${key}" (${n}); set sources.postgres[].application to say exactly.`,
      matches: (app, user) => !recogniseTool(app) && (byName ? app === key : user === key),
    };
  }
  return {
    how: 'none',
    describe:
      "Which sessions are the application's could not be told (no session matches the alert's service and no client group is the largest): set sources.postgres[].application.",
    matches: () => false,
  };
}

/** Whose a session is, and the tool it was recognised as (a configured application_name glob may claim a tool's session). */
export function ownerOf(matcher: ApplicationMatcher, application: string | null, user: string | null): { owner: SessionOwner; tool: KnownTool | null } {
  const tool = recogniseTool(application);
  if (matcher.matches(application, user)) return { owner: 'application', tool };
  if (tool?.kind === 'person') return { owner: 'person', tool };
  return { owner: 'other', tool };
}
