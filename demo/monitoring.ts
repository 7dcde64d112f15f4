/**
 * The deploy/ configs of Prometheus and Alertmanager, rewritten for the end-to-end tests and
 * `npm run demo`: the same alert rules and routes as docker-compose, with shortened timings,
 * local targets and a token file. (test/support/monitoring-config.ts re-exports this file.)
 *
 *   const dir = fs.mkdtempSync(...);
 *   const prom = writePrometheusConfig({ dir, targets: { backend: '127.0.0.1:18000' }, alertmanager: '127.0.0.1:19093' });
 *   // prometheus --config.file=${prom.configFile} --storage.tsdb.path=... --web.listen-address=127.0.0.1:PORT
 *   const am = writeAlertmanagerConfig({ dir, webhookUrl: 'http://127.0.0.1:8080/webhook', token });
 *   // prometheus-alertmanager --config.file=${am.configFile} --storage.path=... --cluster.listen-address=
 *
 * Nothing here starts a process; every function writes files into `dir` and returns their paths.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { z } from 'zod';

/** The repository's deploy/ directory. */
/** The repository's root: the nearest folder up from here with a package.json (demo/ in Jest, .demo-dist/demo/ compiled). */
function repositoryRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const DEPLOY_DIR = path.join(repositoryRoot(__dirname), 'deploy');
export const PROMETHEUS_CONFIG = path.join(DEPLOY_DIR, 'prometheus', 'prometheus.yml');
export const ALERT_RULES = path.join(DEPLOY_DIR, 'prometheus', 'rules', 'pagefirst.rules.yml');
export const ALERTMANAGER_CONFIG = path.join(DEPLOY_DIR, 'alertmanager', 'alertmanager.yml');

/** Timings that get the first webhook about 10 s after start (1 s scrapes and evaluations, `for: 2s`, 1 s group_wait and group_interval). */
export const FAST = { scrapeInterval: '1s', evaluationInterval: '1s', ruleFor: '2s', groupWait: '1s', groupInterval: '1s', repeatInterval: '1h' } as const;

export interface AlertRulesOptions {
  dir: string;
  /** Replaces every rule's `for:` (default FAST.ruleFor). */
  ruleFor?: string;
}

/** Writes deploy's alert rules with every `for:` set to `ruleFor`; returns the file's path. */
export function writeAlertRules(opts: AlertRulesOptions): string {
  const doc = parse(fs.readFileSync(ALERT_RULES, 'utf8')) as { groups: Array<{ rules: Array<Record<string, unknown>> }> };
  for (const g of doc.groups) for (const r of g.rules) if ('alert' in r) r.for = opts.ruleFor ?? FAST.ruleFor;
  const file = path.join(opts.dir, 'pagefirst.rules.yml');
  fs.writeFileSync(file, stringify(doc));
  return file;
}

export interface PrometheusConfigOptions extends AlertRulesOptions {
  /** host:port of each scrape job to keep; jobs not named here are dropped. */
  targets: { backend: string; pagefirst?: string; postgres?: string };
  /** host:port of Alertmanager. */
  alertmanager: string;
  scrapeInterval?: string;
  evaluationInterval?: string;
}

// The parts of deploy's YAML this file rewrites, read through zod (every other key is kept as is).
const yamlMap = z.record(z.string(), z.unknown());
const PrometheusYml = z.looseObject({ global: yamlMap.optional(), scrape_configs: z.array(z.looseObject({ job_name: z.string() })) });
const AlertmanagerYml = z.looseObject({
  route: yamlMap.optional(),
  receivers: z.array(z.looseObject({ name: z.string(), webhook_configs: z.array(z.looseObject({ http_config: yamlMap.optional() })).optional() })),
});

/** Writes prometheus.yml (deploy's, with local targets and short intervals) and its rules; returns both paths. */
export function writePrometheusConfig(opts: PrometheusConfigOptions): { configFile: string; rulesFile: string } {
  const doc = PrometheusYml.parse(parse(fs.readFileSync(PROMETHEUS_CONFIG, 'utf8')));
  doc.global = {
    ...doc.global,
    scrape_interval: opts.scrapeInterval ?? FAST.scrapeInterval,
    evaluation_interval: opts.evaluationInterval ?? FAST.evaluationInterval,
  };
  const rulesFile = writeAlertRules(opts);
  doc.rule_files = [rulesFile];
  doc.alerting = { alertmanagers: [{ static_configs: [{ targets: [opts.alertmanager] }] }] };
  const targets = opts.targets as Record<string, string | undefined>;
  doc.scrape_configs = doc.scrape_configs.filter((j) => targets[j.job_name]).map((j) => ({ ...j, static_configs: [{ targets: [targets[j.job_name]!] }] }));
  const configFile = path.join(opts.dir, 'prometheus.yml');
  fs.writeFileSync(configFile, stringify(doc));
  return { configFile, rulesFile };
}

export interface AlertmanagerConfigOptions {
  dir: string;
  /** pagefirst's webhook URL, e.g. http://127.0.0.1:PORT/webhook */
  webhookUrl: string;
  /** The bearer token; written to a 0600 file the config names (credentials_file, as in compose). */
  token: string;
  groupWait?: string;
  groupInterval?: string;
  repeatInterval?: string;
}

/** Writes alertmanager.yml (deploy's, with the local webhook, the token file and short timers); returns both paths. */
export function writeAlertmanagerConfig(opts: AlertmanagerConfigOptions): { configFile: string; tokenFile: string } {
  const doc = AlertmanagerYml.parse(parse(fs.readFileSync(ALERTMANAGER_CONFIG, 'utf8')));
  doc.route = {
    ...doc.route,
    group_wait: opts.groupWait ?? FAST.groupWait,
    group_interval: opts.groupInterval ?? FAST.groupInterval,
    repeat_interval: opts.repeatInterval ?? FAST.repeatInterval,
  };
  const tokenFile = path.join(opts.dir, 'pagefirst-token');
  fs.writeFileSync(tokenFile, opts.token, { mode: 0o600 });
  const receiver = doc.receivers.find((r) => r.name === 'pagefirst');
  if (!receiver?.webhook_configs?.[0]) throw new Error(`${ALERTMANAGER_CONFIG} has no pagefirst webhook receiver`);
  for (const w of receiver.webhook_configs) {
    w.url = opts.webhookUrl;
    w.http_config = { ...w.http_config, authorization: { type: 'Bearer', credentials_file: tokenFile } };
  }
  const configFile = path.join(opts.dir, 'alertmanager.yml');
  fs.writeFileSync(configFile, stringify(doc));
  return { configFile, tokenFile };
}
