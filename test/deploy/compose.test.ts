import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Ajv from 'ajv';
import { parse } from 'yaml';
import { ConfigError, loadConfig } from '../../src/config';
import { check } from '../support/monitoring-tools';
import {
  ALERT_RULES,
  ALERTMANAGER_CONFIG,
  DEPLOY_DIR,
  PROMETHEUS_CONFIG,
  writeAlertmanagerConfig,
  writeAlertRules,
  writePrometheusConfig,
} from '../support/monitoring-config';

const run = promisify(execFile);
const ROOT = path.join(__dirname, '..', '..');
const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');
const compose = parse(fs.readFileSync(COMPOSE_FILE, 'utf8')) as {
  services: Record<string, any>;
  volumes?: Record<string, unknown>;
  secrets?: Record<string, any>;
};
const EXEC_TIMEOUT_MS = 20_000;

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pagefirst-deploy-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('docker-compose.yml', () => {
  test('validates against the Compose specification schema', () => {
    const schema = JSON.parse(fs.readFileSync(path.join(path.dirname(require.resolve('dclint/package.json')), 'schemas', 'compose.schema.json'), 'utf8'));
    // The schema names the https form of the draft-07 meta-schema, which Ajv knows as http: skip the meta check.
    const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false, validateSchema: false });
    const validate = ajv.compile(schema);
    const ok = validate(compose);
    expect(ajv.errorsText(validate.errors, { separator: '\n' })).toBe('No errors');
    expect(ok).toBe(true);
    // And it does reject what Compose rejects.
    expect(validate({ ...compose, services: { ...compose.services, backend: { ...compose.services.backend, restart: 'unless-stopped', ports: 8000 } } })).toBe(
      false,
    );
    expect(validate({ ...compose, servics: {} })).toBe(false);
  });

  test('dclint finds no errors', async () => {
    const bin = path.join(path.dirname(require.resolve('dclint/package.json')), 'bin', 'dclint.cjs');
    const r = await run(process.execPath, [bin, '--quiet', '--color', 'false', COMPOSE_FILE], { timeout: EXEC_TIMEOUT_MS, cwd: ROOT }).catch(
      (e) => e as { stdout: string; stderr: string; code: number },
    );
    expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
  });

  test('has the whole stack', () => {
    expect(Object.keys(compose.services).sort()).toEqual([
      'alertmanager',
      'backend',
      'grafana',
      'pagefirst',
      'pagefirst-replica',
      'postgres',
      'postgres-exporter',
      'prometheus',
      'state-db',
    ]);
    expect(compose.services.postgres.command.join(' ')).toContain('shared_preload_libraries=pg_stat_statements');
    expect(compose.services.backend.command).toEqual(expect.arrayContaining(['.demo-dist/demo/backend/main.js']));
    expect(compose.services.backend.build).toEqual({ context: '.', target: 'demo' });
    expect(compose.services.backend.environment.LOG_FILE).toBe('/var/log/demo-backend/backend.log');
    expect(compose.services.pagefirst.command).toEqual(['node', 'dist/server.js', '--config', '/etc/pagefirst/pagefirst.yml']);
    expect(compose.services.alertmanager.secrets).toEqual(['pagefirst_token']);
    // Published ports listen on loopback only.
    for (const [name, s] of Object.entries(compose.services)) for (const p of s.ports ?? []) expect(`${name} ${p}`).toMatch(/ 127\.0\.0\.1:/);
  });

  test('the replicas profile: two receivers on a PostgreSQL of their own for state, and nothing else of them in the default stack', () => {
    const replica = compose.services['pagefirst-replica'];
    expect(replica.profiles).toEqual(['replicas']);
    expect(compose.services['state-db'].profiles).toEqual(['replicas']);
    expect(replica.deploy.replicas).toBe(2);
    expect(replica.ports).toBeUndefined(); // two replicas cannot share a host port: reached by name or a load balancer
    expect(replica.depends_on['state-db'].condition).toBe('service_healthy');
    expect(replica.volumes).toContain('./deploy/pagefirst-replicas.yml:/etc/pagefirst/pagefirst.yml:ro');
    expect(compose.services['state-db'].environment.POSTGRES_DB).toBe('pagefirst');
    // the state database is not the monitored one
    expect(compose.services['state-db'].volumes).not.toEqual(compose.services.postgres.volumes);
    for (const [name, s] of Object.entries(compose.services))
      if (!['pagefirst-replica', 'state-db'].includes(name)) expect(`${name} ${s.profiles ?? 'default'}`).toBe(`${name} default`);
  });

  test('every file or directory it mounts or builds from exists', () => {
    const missing: string[] = [];
    const named = new Set(Object.keys(compose.volumes ?? {}));
    for (const [name, s] of Object.entries(compose.services)) {
      for (const v of s.volumes ?? []) {
        const source = typeof v === 'string' ? v.split(':')[0]! : v.type === 'bind' ? v.source : undefined;
        if (!source) continue;
        if (source.startsWith('.') || source.startsWith('/')) {
          if (!fs.existsSync(path.resolve(ROOT, source))) missing.push(`${name}: ${source}`);
        } else if (!named.has(source)) missing.push(`${name}: named volume ${source} is not declared`);
      }
      if (s.build) {
        const ctx = path.resolve(ROOT, typeof s.build === 'string' ? s.build : (s.build.context ?? '.'));
        const dockerfile = path.join(ctx, typeof s.build === 'object' && s.build.dockerfile ? s.build.dockerfile : 'Dockerfile');
        if (!fs.existsSync(dockerfile)) missing.push(`${name}: ${dockerfile}`);
      }
      for (const f of [s.env_file ?? []].flat())
        if (!fs.existsSync(path.resolve(ROOT, typeof f === 'string' ? f : f.path))) missing.push(`${name}: env_file ${f}`);
      for (const sec of s.secrets ?? [])
        if (!compose.secrets?.[typeof sec === 'string' ? sec : sec.source]) missing.push(`${name}: secret ${JSON.stringify(sec)} is not declared`);
    }
    for (const [name, sec] of Object.entries(compose.secrets ?? {}))
      if (sec.file && !fs.existsSync(path.resolve(ROOT, sec.file))) missing.push(`secret ${name}: ${sec.file}`);
    expect(missing).toEqual([]);
    // The files the mounted directories must hold.
    for (const f of [
      'postgres/initdb/10-pagefirst.sh',
      'grafana/provisioning/datasources/prometheus.yml',
      'grafana/provisioning/dashboards/dashboards.yml',
      'grafana/dashboards/database-health.json',
      'prometheus/rules/pagefirst.rules.yml',
    ]) {
      expect(fs.existsSync(path.join(DEPLOY_DIR, f))).toBe(true);
    }
    expect(fs.statSync(path.join(DEPLOY_DIR, 'postgres/initdb/10-pagefirst.sh')).mode & 0o111).not.toBe(0);
  });

  test('every ${VAR} it needs is listed in deploy/.env.example', () => {
    const uncommented = (f: string) =>
      fs
        .readFileSync(f, 'utf8')
        .split('\n')
        .filter((l) => !l.trimStart().startsWith('#'))
        .join('\n');
    const text = uncommented(COMPOSE_FILE) + uncommented(path.join(DEPLOY_DIR, 'pagefirst.yml')) + uncommented(path.join(DEPLOY_DIR, 'pagefirst-replicas.yml'));
    const used = new Set([...text.matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]!));
    const listed = new Set([...fs.readFileSync(path.join(DEPLOY_DIR, '.env.example'), 'utf8').matchAll(/^([A-Z_][A-Z0-9_]*)=/gm)].map((m) => m[1]!));
    expect([...used].filter((v) => !listed.has(v))).toEqual([]);
  });
});

describe('Dockerfile', () => {
  const text = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  test('multi-stage on node:24-slim, npm ci and build, non-root, health-checked on /healthz', () => {
    expect(text.match(/^FROM node:24-slim/gm)).toHaveLength(3); // build, the demo target, the service
    expect(text).toMatch(/^RUN npm ci\b/m);
    expect(text).toMatch(/npm run build/);
    expect(text).toMatch(/^USER 1000:1000$/m); // the node image's `node` user, numeric for runAsNonRoot
    expect(text).toMatch(/^HEALTHCHECK .*\n?.*\/healthz/m);
    expect(fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')).toMatch(/^node_modules$/m);
  });
  test("the service's image (the last stage, the default target) holds no demo code", () => {
    const stages = text.split(/^(?=FROM )/m);
    const service = stages[stages.length - 1]!;
    expect(service).toMatch(/^FROM node:24-slim\s*$/m);
    expect(service).toMatch(/COPY --from=service-build .* \/app\/dist \.\/dist/);
    expect(service).not.toMatch(/demo/);
    const serviceBuild = stages.find((s) => s.startsWith('FROM build AS service-build'))!;
    expect(serviceBuild).not.toMatch(/demo/);
    expect(stages.find((s) => s.startsWith('FROM build AS build'))).toBeUndefined();
    expect(stages[1]).not.toMatch(/COPY demo/); // the shared build stage has no demo either
  });
});

describe('receiver config deploy/pagefirst.yml', () => {
  const env = { PAGEFIRST_TOKEN: 'a-token-of-at-least-16-chars', PAGEFIRST_MONITOR_PASSWORD: 'monitor-secret' };
  test('loads with the variables set', () => {
    const config = loadConfig(path.join(DEPLOY_DIR, 'pagefirst.yml'), env);
    expect(config.server.auth.token).toBe(env.PAGEFIRST_TOKEN);
    expect(config.sources.postgres[0]!.url).toContain('monitor-secret@postgres:5432/app');
    expect(config.sources.logs[0]).toMatchObject({ name: 'backend', file: { path: compose.services.backend.environment.LOG_FILE } });
  });
  test('names every missing variable', () => {
    let err: unknown;
    try {
      loadConfig(path.join(DEPLOY_DIR, 'pagefirst.yml'), {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain('PAGEFIRST_TOKEN');
    expect((err as Error).message).toContain('PAGEFIRST_MONITOR_PASSWORD');
  });
});

describe('receiver config deploy/pagefirst-replicas.yml', () => {
  test('loads with the variables set: the shared store at state-db, the rest as deploy/pagefirst.yml', () => {
    const env = { PAGEFIRST_TOKEN: 'a-token-of-at-least-16-chars', PAGEFIRST_MONITOR_PASSWORD: 'monitor-secret', STATE_DB_PASSWORD: 'state-secret' };
    const replicas = loadConfig(path.join(DEPLOY_DIR, 'pagefirst-replicas.yml'), env);
    const single = loadConfig(path.join(DEPLOY_DIR, 'pagefirst.yml'), env);
    expect(replicas.state.url).toBe('postgres://pagefirst:state-secret@state-db:5432/pagefirst');
    expect({ ...replicas, state: undefined }).toEqual({ ...single, state: undefined });
    expect(() => loadConfig(path.join(DEPLOY_DIR, 'pagefirst-replicas.yml'), { ...env, STATE_DB_PASSWORD: undefined })).toThrow(/STATE_DB_PASSWORD/);
  });
});

describe('Prometheus and Alertmanager configs', () => {
  /** The start of a promtool rules test over deploy's rules (as writeAlertRules writes them), up to its input series. */
  const RULES_TEST_HEAD = ['rule_files: [pagefirst.rules.yml]', 'evaluation_interval: 15s', 'tests:', '  - interval: 15s', '    input_series:'];

  test('promtool checks the config and the rules', async () => {
    expect(await check('promtool', ['check', 'config', PROMETHEUS_CONFIG])).toContain('SUCCESS');
    expect(await check('promtool', ['check', 'rules', ALERT_RULES])).toContain('SUCCESS: 3 rules found');
  });

  test('the runbook alert: expression, severity, annotations', () => {
    const doc = parse(fs.readFileSync(ALERT_RULES, 'utf8')) as { groups: Array<{ rules: Array<Record<string, any>> }> };
    const rules = doc.groups.flatMap((g) => g.rules);
    const alert = rules.find((r) => r.alert === 'db_pool_exhausted')!;
    // The runbook's own expression first; the pool libraries' branches are tested by promtool below.
    expect(alert.expr.split('\n')[0]).toBe('(sum(db_connection_pool_size{state="total"}) - sum(db_connection_pool_size{state="active"})) < 2');
    expect(alert.labels.severity).toBe('critical');
    expect(Object.keys(alert.annotations).sort()).toEqual(['description', 'runbook_url', 'summary']);
    expect(rules.map((r) => r.alert).sort()).toEqual(['db_pool_exhausted', 'error_rate_high', 'p99_latency_high']);
  });

  test('promtool test rules: fires below 2 available after its for:, not at 2', async () => {
    const rulesFile = writeAlertRules({ dir: tmp, ruleFor: '1m' });
    const tests = path.join(tmp, 'rules.test.yml');
    fs.writeFileSync(
      tests,
      [
        ...RULES_TEST_HEAD,
        '      - series: \'db_connection_pool_size{state="total", instance="backend:8000"}\'',
        "        values: '10x20'",
        '      - series: \'db_connection_pool_size{state="active", instance="backend:8000"}\'',
        "        values: '8x4 9x16'",
        '    alert_rule_test:',
        '      - eval_time: 1m',
        '        alertname: db_pool_exhausted',
        '        exp_alerts: []',
        '      - eval_time: 3m',
        '        alertname: db_pool_exhausted',
        '        exp_alerts:',
        '          - exp_labels: { severity: critical }',
        '            exp_annotations:',
        '              summary: "Database connection pool exhausted: 1 connections available"',
        '              description: "Fewer than 2 of the application\'s pooled database connections have been available for over a minute. Requests queue for a connection and time out."',
        '              runbook_url: "https://runbooks.example.com/database/db_pool_exhausted"',
      ].join('\n'),
    );
    expect(path.dirname(rulesFile)).toBe(tmp);
    expect(await check('promtool', ['test', 'rules', tests])).toContain('SUCCESS');
  });

  test("promtool test rules: each pool library's layout fires per saturated pool, never for a healthy one beside it or a Go pool with no limit", async () => {
    writeAlertRules({ dir: tmp, ruleFor: '1m' });
    const tests = path.join(tmp, 'rules-layouts.test.yml');
    // Names and labels as each library writes them (src/enrichers/pool/layouts.ts cites the sources).
    const series: Array<[string, string]> = [
      // HikariCP via Micrometer: a saturated pool beside an idle one in one application.
      ['hikaricp_connections_max{pool="HikariPool-1", instance="orders:8080"}', '20x20'],
      ['hikaricp_connections_active{pool="HikariPool-1", instance="orders:8080"}', '20x20'],
      ['hikaricp_connections_max{pool="readPool", instance="orders:8080"}', '10x20'],
      ['hikaricp_connections_active{pool="readPool", instance="orders:8080"}', '1x20'],
      // HikariCP's own Prometheus tracker: a healthy pool.
      ['hikaricp_max_connections{pool="batch", instance="batch:8080"}', '10x20'],
      ['hikaricp_active_connections{pool="batch", instance="batch:8080"}', '2x20'],
      // OpenTelemetry, conventions up to 1.25: a saturated pool.
      ['db_client_connections_max{pool_name="HikariPool-1", instance="legacy:9464"}', '5x20'],
      ['db_client_connections_usage{pool_name="HikariPool-1", state="used", instance="legacy:9464"}', '5x20'],
      ['db_client_connections_usage{pool_name="HikariPool-1", state="idle", instance="legacy:9464"}', '0x20'],
      // OpenTelemetry, current conventions.
      ['db_client_connection_max{db_client_connection_pool_name="pg", instance="web:9464"}', '10x20'],
      ['db_client_connection_count{db_client_connection_pool_name="pg", db_client_connection_state="used", instance="web:9464"}', '9x20'],
      ['db_client_connection_count{db_client_connection_pool_name="pg", db_client_connection_state="idle", instance="web:9464"}', '1x20'],
      // Go database/sql: `sessions` has no limit (max_open 0) and 143 in use; `main` has 3 of 25.
      ['go_sql_max_open_connections{db_name="sessions", instance="api:2112"}', '0x20'],
      ['go_sql_in_use_connections{db_name="sessions", instance="api:2112"}', '143x20'],
      ['go_sql_max_open_connections{db_name="main", instance="api:2112"}', '25x20'],
      ['go_sql_in_use_connections{db_name="main", instance="api:2112"}', '3x20'],
      // PgBouncer (pgbouncer_exporter): pool_size per database entry, two users' pools of `app`.
      [
        'pgbouncer_databases_pool_size{name="app", database="app", host="db", port="5432", force_user="", pool_mode="transaction", instance="pgb:9127"}',
        '20x20',
      ],
      ['pgbouncer_pools_server_active_connections{database="app", user="orders", instance="pgb:9127"}', '20x20'],
      ['pgbouncer_pools_server_active_connections{database="app", user="reports", instance="pgb:9127"}', '2x20'],
      ['pgbouncer_pools_server_active_connections{database="pgbouncer", user="pgbouncer", instance="pgb:9127"}', '0x20'],
    ];
    const exp = (labels: string, available: number) =>
      [
        `          - exp_labels: { severity: critical, ${labels} }`,
        '            exp_annotations:',
        `              summary: "Database connection pool exhausted: ${available} connections available"`,
        '              description: "Fewer than 2 of the application\'s pooled database connections have been available for over a minute. Requests queue for a connection and time out."',
        '              runbook_url: "https://runbooks.example.com/database/db_pool_exhausted"',
      ].join('\n');
    fs.writeFileSync(
      tests,
      [
        ...RULES_TEST_HEAD,
        ...series.flatMap(([s, v]) => [`      - series: '${s}'`, `        values: '${v}'`]),
        '    alert_rule_test:',
        '      - eval_time: 3m',
        '        alertname: db_pool_exhausted',
        '        exp_alerts:',
        exp('pool: HikariPool-1, instance: "orders:8080"', 0),
        exp('db_client_connection_pool_name: pg, instance: "web:9464"', 1),
        exp('pool_name: HikariPool-1, instance: "legacy:9464"', 0),
        exp('database: app, user: orders, instance: "pgb:9127"', 0),
      ].join('\n'),
    );
    expect(await check('promtool', ['test', 'rules', tests])).toContain('SUCCESS');
  });

  test('amtool checks the config; db_pool_exhausted routes to pagefirst with a bearer token file and resolves', async () => {
    expect(await check('amtool', ['check-config', ALERTMANAGER_CONFIG])).toContain('SUCCESS');
    expect((await check('amtool', ['config', 'routes', 'test', `--config.file=${ALERTMANAGER_CONFIG}`, 'alertname=db_pool_exhausted'], true)).trim()).toBe(
      'pagefirst',
    );
    expect((await check('amtool', ['config', 'routes', 'test', `--config.file=${ALERTMANAGER_CONFIG}`, 'alertname=p99_latency_high'], true)).trim()).toBe(
      'null',
    );
    const doc = parse(fs.readFileSync(ALERTMANAGER_CONFIG, 'utf8')) as Record<string, any>;
    const hook = doc.receivers.find((r: { name: string }) => r.name === 'pagefirst').webhook_configs[0];
    expect(hook).toMatchObject({
      url: 'http://pagefirst:8080/webhook',
      send_resolved: true,
      http_config: { authorization: { type: 'Bearer', credentials_file: '/run/secrets/pagefirst_token' } },
    });
  });

  test('the test variants (short timings, local targets, token file) pass promtool and amtool too', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'fast-'));
    const prom = writePrometheusConfig({ dir, targets: { backend: '127.0.0.1:18000' }, alertmanager: '127.0.0.1:19093' });
    const am = writeAlertmanagerConfig({ dir, webhookUrl: 'http://127.0.0.1:18080/webhook', token: 'test-token-0123456789' });
    expect(await check('promtool', ['check', 'config', prom.configFile])).toContain('SUCCESS');
    expect(await check('amtool', ['check-config', am.configFile])).toContain('SUCCESS');
    const p = parse(fs.readFileSync(prom.configFile, 'utf8'));
    expect(p.global).toMatchObject({ scrape_interval: '1s', evaluation_interval: '1s' });
    expect(p.scrape_configs).toEqual([{ job_name: 'backend', static_configs: [{ targets: ['127.0.0.1:18000'] }] }]);
    const r = parse(fs.readFileSync(prom.rulesFile, 'utf8'));
    expect(r.groups.flatMap((g: { rules: Array<{ for: string }> }) => g.rules.map((x) => x.for))).toEqual(['2s', '2s', '2s']);
    const a = parse(fs.readFileSync(am.configFile, 'utf8'));
    expect(a.route).toMatchObject({ group_wait: '1s', group_interval: '1s' });
    expect(a.receivers[1].webhook_configs[0]).toMatchObject({
      url: 'http://127.0.0.1:18080/webhook',
      send_resolved: true,
      http_config: { authorization: { credentials_file: am.tokenFile } },
    });
    expect(fs.readFileSync(am.tokenFile, 'utf8')).toBe('test-token-0123456789');
    expect(fs.statSync(am.tokenFile).mode & 0o077).toBe(0);
  });
});

describe('Grafana', () => {
  test('the provisioned "Database Health" dashboard shows pool, request rate by endpoint and pg connections', () => {
    const d = JSON.parse(fs.readFileSync(path.join(DEPLOY_DIR, 'grafana/dashboards/database-health.json'), 'utf8'));
    expect(d.title).toBe('Database Health');
    expect(d.uid).toBe('database-health');
    const exprs = d.panels.flatMap((p: { targets: Array<{ expr: string }> }) => p.targets.map((t) => t.expr)).join('\n');
    for (const s of [
      'db_connection_pool_size{state="active"}',
      'db_connection_pool_size{state="idle"}',
      'db_connection_pool_size{state="total"}',
      'sum by (endpoint) (rate(http_requests_total[1m]))',
      'pg_stat_activity_count',
    ]) {
      expect(exprs).toContain(s);
    }
    const pagefirst = parse(fs.readFileSync(path.join(DEPLOY_DIR, 'pagefirst.yml'), 'utf8'));
    expect(pagefirst.links.grafanaDashboard).toBe(`/d/${d.uid}/database-health`);
    const provider = parse(fs.readFileSync(path.join(DEPLOY_DIR, 'grafana/provisioning/dashboards/dashboards.yml'), 'utf8'));
    const mount = compose.services.grafana.volumes.find((v: string) => v.startsWith('./deploy/grafana/dashboards:'));
    expect(mount.split(':')[1]).toBe(provider.providers[0].options.path);
  });
});
