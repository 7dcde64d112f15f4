import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { loadConfig } from '../../src/config';
import { KUBERNETES_API_CALLS } from '../../src/sources/logs/kubernetes';
import { auth, TOKEN, testApp } from '../support/app';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { check } from '../support/monitoring-tools';
import { KUBE_TOOL_TIMEOUT_MS, kustomizeBuild, validateObjects, type KubeObject } from './kustomize';

const ROOT = path.join(__dirname, '..', '..');
const DIR = path.join(ROOT, 'deploy', 'kubernetes');
const VALIDATE_TIMEOUT_MS = KUBE_TOOL_TIMEOUT_MS;

type Obj = KubeObject;
const validate = validateObjects;

const yamlDocs = (file: string): Obj[] =>
  parseAllDocuments(fs.readFileSync(path.join(DIR, file), 'utf8')).map((d) => {
    if (d.errors.length) throw new Error(`${file}: ${d.errors[0]!.message}`);
    return d.toJS() as Obj;
  });

const kustomization = parse(fs.readFileSync(path.join(DIR, 'kustomization.yaml'), 'utf8')) as Record<string, any>;
const objects: Obj[] = (kustomization.resources as string[]).flatMap(yamlDocs);
const one = (kind: string, name?: string): Obj => {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0]!;
};
const deployment = one('Deployment');
const pod = deployment.spec.template.spec;
const container = pod.containers[0];
const generator = kustomization.configMapGenerator[0];
/** The ConfigMap `kubectl apply -k` generates (kustomize adds a content hash to its name and to the Deployment's reference). */
const configMap: Obj = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: generator.name, namespace: generator.namespace },
  data: Object.fromEntries((generator.files as string[]).map((f) => [path.basename(f), fs.readFileSync(path.join(DIR, f), 'utf8')])),
};
const secretExample = yamlDocs('secret.example.yaml')[0]!;

/** Environment values for every variable the Deployment sets from the Secret, taken from secret.example.yaml. */
function envFromSecret(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env) {
    const ref = e.valueFrom?.secretKeyRef;
    if (ref) env[e.name] = secretExample.stringData[ref.key];
  }
  return env;
}

let tmp: string;
let built: Obj[];
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pagefirst-kube-deploy-'));
  built = await kustomizeBuild(DIR);
}, VALIDATE_TIMEOUT_MS);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('deploy/kubernetes/ (kubectl apply -k)', () => {
  test('the kustomization lists every manifest but the Secret example, and every file it names exists', () => {
    const listed = new Set<string>(kustomization.resources);
    const manifests = fs.readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect(manifests.filter((f) => !listed.has(f))).toEqual(['secret.example.yaml']);
    for (const f of [...listed, ...(generator.files as string[])]) expect(fs.existsSync(path.join(DIR, f))).toBe(true);
    // a kustomize-wide namespace would move the Role out of the backend's namespace
    expect(kustomization.namespace).toBeUndefined();
    expect(kustomization.images).toEqual([expect.objectContaining({ name: container.image })]);
  });

  test('kubectl kustomize builds it: every manifest, the ConfigMap under its hashed name as the Deployment mounts it, your image', () => {
    const key = (o: Obj) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    const cm = built.find((o) => o.kind === 'ConfigMap')!;
    expect(cm.metadata.name).toMatch(new RegExp(`^${generator.name}-[a-z0-9]{10}$`));
    expect(cm.data).toEqual(configMap.data);
    expect(built.map(key).sort()).toEqual([...objects.map(key), key(cm)].sort());
    const d = built.find((o) => o.kind === 'Deployment')!;
    const mounted = d.spec.template.spec.volumes.find((v: { configMap?: unknown }) => v.configMap);
    expect(mounted.configMap.name).toBe(cm.metadata.name);
    const [image] = kustomization.images;
    expect(d.spec.template.spec.containers[0].image).toBe(`${image.newName}:${image.newTag}`);
    // the Role stays in the backend's namespace (no kustomize-wide namespace)
    expect(built.find((o) => o.kind === 'Role')!.metadata.namespace).toBe(one('Role').metadata.namespace);
    for (const o of built) expect(o.metadata.labels).toMatchObject({ 'app.kubernetes.io/part-of': 'pagefirst' });
  });

  test('every object kubectl apply -k sends passes the Kubernetes and prometheus-operator schemas, and the validator does reject a broken one', async () => {
    const all = [...built, secretExample];
    const results = await validate(all);
    expect(all.map((o, i) => `${o.kind}/${o.metadata.name}: ${results[i] ?? 'valid'}`)).toEqual(all.map((o) => `${o.kind}/${o.metadata.name}: valid`));
    expect(all.map((o) => o.kind).sort()).toEqual(
      [
        'AlertmanagerConfig',
        'ConfigMap',
        'Deployment',
        'Namespace',
        'PodDisruptionBudget',
        'PrometheusRule',
        'Role',
        'RoleBinding',
        'Secret',
        'Service',
        'ServiceAccount',
        'ServiceMonitor',
      ].sort(),
    );
    const broken = structuredClone([deployment, one('AlertmanagerConfig'), one('ServiceMonitor')]);
    broken[0]!.spec.replicas = 'two';
    broken[1]!.spec.route.matchers[0].matchType = '~';
    broken[2]!.spec.endpoints[0].interval = 'often';
    expect((await validate(broken)).map((r) => r !== null)).toEqual([true, true, true]);
  });

  test("the ConfigMap's configuration passes the receiver's own config loader, with the Secret's keys as its variables", () => {
    const file = path.join(tmp, 'pagefirst.yml');
    fs.writeFileSync(file, configMap.data['pagefirst.yml']);
    const env = envFromSecret();
    expect(Object.keys(env).sort()).toEqual(['PAGEFIRST_POSTGRES_URL', 'PAGEFIRST_STATE_URL', 'PAGEFIRST_TOKEN']);
    const config = loadConfig(file, env);
    expect(config.server.auth.token).toBe(env.PAGEFIRST_TOKEN);
    expect(config.sources.postgres[0]!.url).toBe(env.PAGEFIRST_POSTGRES_URL);
    const logs = config.sources.logs[0]!;
    expect('kubernetes' in logs && logs.kubernetes).toMatchObject({ namespace: one('Role').metadata.namespace, labelSelector: expect.any(String) });
    // without the Secret's variables the start stops, naming them
    expect(() => loadConfig(file, {})).toThrow(/PAGEFIRST_TOKEN[\s\S]*PAGEFIRST_POSTGRES_URL|PAGEFIRST_POSTGRES_URL[\s\S]*PAGEFIRST_TOKEN/);
    // the Deployment reads this very file, from the ConfigMap's mount
    const mount = container.volumeMounts.find(
      (m: { name: string }) => pod.volumes.find((v: { name: string; configMap?: { name: string } }) => v.name === m.name)?.configMap?.name === generator.name,
    );
    expect(container.args).toEqual(['node', 'dist/server.js', '--config', `${mount.mountPath}/pagefirst.yml`]);
    // the state lives in the shared PostgreSQL named by the Secret, not on a volume
    expect(config.state.url).toBe(env.PAGEFIRST_STATE_URL);
    expect(pod.volumes.some((v: { persistentVolumeClaim?: unknown }) => v.persistentVolumeClaim)).toBe(false);
  });

  test("the probes' paths and the container port are the server's: the app built from this configuration answers them", async () => {
    const raw = parse(configMap.data['pagefirst.yml']) as Record<string, any>;
    const port = container.ports.find((p: { name: string }) => p.name === 'http');
    expect(port.containerPort).toBe(raw.server.port);
    for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe]) expect(probe.httpGet.port).toBe('http');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    const t = await testApp({ ...raw, state: { path: ':memory:' } }, envFromSecret());
    try {
      for (const p of [container.livenessProbe, container.readinessProbe, container.startupProbe]) {
        const res = await t.app.inject({ method: 'GET', url: p.httpGet.path });
        expect(`${p.httpGet.path} ${res.statusCode}`).toBe(`${p.httpGet.path} 200`);
      }
      // the scrape path answers without the token, the webhook does not
      expect((await t.app.inject({ method: 'GET', url: one('ServiceMonitor').spec.endpoints[0].path })).statusCode).toBe(200);
      expect((await t.app.inject({ method: 'POST', url: '/webhook', payload: {} })).statusCode).toBe(401);
      expect((await t.app.inject({ method: 'GET', url: '/diagnostics/nope', headers: auth })).statusCode).toBe(401);
    } finally {
      await t.app.close();
    }
  });

  test('Service, ServiceMonitor, PodDisruptionBudget and ServiceAccount point at the Deployment', () => {
    const svc = one('Service');
    const podLabels = deployment.spec.template.metadata.labels;
    expect(podLabels).toMatchObject(deployment.spec.selector.matchLabels);
    expect(podLabels).toMatchObject(svc.spec.selector);
    expect(svc.spec.ports[0].targetPort).toBe('http');
    const sm = one('ServiceMonitor');
    expect(svc.metadata.labels).toMatchObject(sm.spec.selector.matchLabels);
    expect(sm.spec.endpoints[0].port).toBe(svc.spec.ports[0].name);
    expect(podLabels).toMatchObject(one('PodDisruptionBudget').spec.selector.matchLabels);
    expect(pod.serviceAccountName).toBe(one('ServiceAccount').metadata.name);
    // the receiver's alert rules select job="pagefirst": the job is the Service's name
    expect(svc.metadata.name).toBe('pagefirst');
    // two replicas on the shared store, rolled one at a time without ever fewer than two answering
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    expect(one('PodDisruptionBudget').spec.maxUnavailable).toBe(1);
  });

  test("the RBAC grants exactly what the log source calls, to the Deployment's service account, in the log source's namespace", () => {
    const role = one('Role');
    const granted = role.rules.flatMap((r: { apiGroups: string[]; resources: string[]; verbs: string[] }) =>
      r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}|${res}|${v}`))),
    );
    expect(granted.sort()).toEqual(KUBERNETES_API_CALLS.map((c) => `${c.apiGroup}|${c.resource}|${c.verb}`).sort());
    const binding = one('RoleBinding');
    expect(binding.metadata.namespace).toBe(role.metadata.namespace);
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: pod.serviceAccountName, namespace: deployment.metadata.namespace }]);
    expect(objects.some((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')).toBe(false);
  });

  test("non-root with a read-only root filesystem; the numeric user is the image's", () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    const user = /^USER (\d+):(\d+)$/m.exec(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
    expect(user).not.toBeNull();
    expect([pod.securityContext.runAsUser, pod.securityContext.runAsGroup]).toEqual([Number(user![1]), Number(user![2])]);
    // every place it writes is a volume: /tmp (the state is in PostgreSQL)
    const writable = container.volumeMounts.filter((m: { readOnly?: boolean }) => !m.readOnly).map((m: { mountPath: string }) => m.mountPath);
    expect(writable.sort()).toEqual(['/tmp']);
  });

  test("resources: requests and limits, the memory limit above the benchmark's measured peak", () => {
    const bench = fs.readFileSync(path.join(ROOT, 'docs', 'BENCHMARKS.md'), 'utf8');
    const peak = /storm: receiver peak RSS \| (\d+) MB/.exec(bench);
    expect(peak).not.toBeNull();
    const mi = (q: string) => Number(/^(\d+)Mi$/.exec(q)![1]) * 1024 * 1024;
    const { requests, limits } = container.resources;
    expect(mi(limits.memory)).toBeGreaterThan(Number(peak![1]) * 1_000_000 * 1.2);
    expect(mi(requests.memory)).toBeGreaterThanOrEqual(Number(peak![1]) * 1_000_000);
    expect(requests.cpu).toBeDefined();
    expect(limits.cpu).toBeDefined();
  });

  test("the PrometheusRule is deploy/prometheus's receiver rules, and promtool accepts them", async () => {
    const rule = one('PrometheusRule');
    const plain = parse(fs.readFileSync(path.join(ROOT, 'deploy', 'prometheus', 'rules', 'pagefirst-receiver.rules.yml'), 'utf8'));
    expect(rule.spec.groups).toEqual(plain.groups);
    const file = path.join(tmp, 'prometheusrule.rules.yml');
    fs.writeFileSync(file, stringify({ groups: rule.spec.groups }));
    expect(await check('promtool', ['check', 'rules', file])).toContain(`SUCCESS: ${plain.groups[0].rules.length} rules found`);
  });

  test("the AlertmanagerConfig routes db_pool_exhausted to the Service's /webhook with the token the receiver reads", () => {
    const amc = one('AlertmanagerConfig');
    const svc = one('Service');
    expect(amc.spec.route.matchers).toEqual([{ name: 'alertname', value: 'db_pool_exhausted', matchType: '=' }]);
    const hook = amc.spec.receivers.find((r: { name: string }) => r.name === amc.spec.route.receiver).webhookConfigs[0];
    expect(hook.url).toBe(`http://${svc.metadata.name}.${svc.metadata.namespace}.svc:${svc.spec.ports[0].port}/webhook`);
    expect(hook.sendResolved).toBe(true);
    // fewer alerts per notification than the receiver accepts (server.maxAlerts, default 1000)
    expect(hook.maxAlerts).toBeGreaterThan(0);
    expect(hook.maxAlerts).toBeLessThan(1000);
    const tokenRef = container.env.find((e: { name: string }) => e.name === 'PAGEFIRST_TOKEN').valueFrom.secretKeyRef;
    expect(hook.httpConfig.authorization).toEqual({ type: 'Bearer', credentials: { name: tokenRef.name, key: tokenRef.key } });
    expect(amc.metadata.namespace).toBe(secretExample.metadata.namespace);
    expect(secretExample.metadata.name).toBe(tokenRef.name);
  });
});

describe('deploy/kubernetes/alertmanager/', () => {
  const amcHook = () => one('AlertmanagerConfig').spec.receivers[0].webhookConfigs[0];

  test('the plain alertmanager.yml passes amtool check-config and routes db_pool_exhausted to pagefirst', async () => {
    const file = path.join(DIR, 'alertmanager', 'alertmanager.yml');
    expect(await check('amtool', ['check-config', file])).toContain('SUCCESS');
    expect((await check('amtool', ['config', 'routes', 'test', `--config.file=${file}`, 'alertname=db_pool_exhausted', 'namespace=app'], true)).trim()).toBe(
      'pagefirst',
    );
    expect((await check('amtool', ['config', 'routes', 'test', `--config.file=${file}`, 'alertname=pagefirst_down'], true)).trim()).toBe('null');
    const hook = parse(fs.readFileSync(file, 'utf8')).receivers.find((r: { name: string }) => r.name === 'pagefirst').webhook_configs[0];
    expect(hook).toEqual({
      url: amcHook().url,
      send_resolved: true,
      max_alerts: 500,
      http_config: { authorization: { type: 'Bearer', credentials_file: '/etc/alertmanager/secrets/pagefirst/token' } },
    });
  });

  test("kube-prometheus-stack values: the chart's alertmanager.config passes amtool too, with the token file the mounted Secret provides", async () => {
    const values = parse(fs.readFileSync(path.join(DIR, 'alertmanager', 'kube-prometheus-stack-values.yaml'), 'utf8'));
    const file = path.join(tmp, 'values-alertmanager.yml');
    fs.writeFileSync(file, stringify(values.alertmanager.config));
    expect(await check('amtool', ['check-config', file])).toContain('SUCCESS');
    expect((await check('amtool', ['config', 'routes', 'test', `--config.file=${file}`, 'alertname=db_pool_exhausted'], true)).trim()).toBe('pagefirst');
    const hook = values.alertmanager.config.receivers.find((r: { name: string }) => r.name === 'pagefirst').webhook_configs[0];
    const plain = parse(fs.readFileSync(path.join(DIR, 'alertmanager', 'alertmanager.yml'), 'utf8')).receivers.find(
      (r: { name: string }) => r.name === 'pagefirst',
    ).webhook_configs[0];
    expect(hook).toEqual(plain);
    // alertmanagerSpec.secrets mounts each Secret at /etc/alertmanager/secrets/<name>/
    expect(hook.http_config.authorization.credentials_file).toBe(`/etc/alertmanager/secrets/${values.alertmanager.alertmanagerSpec.secrets[0]}/token`);
  });
});

describe('the configuration on a real PostgreSQL state store', () => {
  const STATE_PASSWORD = 'St4te-k8s-pw';
  let pg: TestPostgres;
  beforeAll(async () => {
    pg = await startPostgres();
    await pg.createRole('pf_k8s_state', STATE_PASSWORD);
    const admin = await pg.connect();
    await admin.query('CREATE DATABASE pagefirst_k8s_state OWNER pf_k8s_state');
    await admin.end();
  }, VALIDATE_TIMEOUT_MS);
  afterAll(() => pg?.stop());

  test(
    'two receivers built from the ConfigMap share the store: both ready on PostgreSQL, a run admitted by one is served by the other',
    async () => {
      const raw = parse(configMap.data['pagefirst.yml']) as Record<string, any>;
      const env = { ...envFromSecret(), PAGEFIRST_STATE_URL: pg.url({ user: 'pf_k8s_state', password: STATE_PASSWORD, database: 'pagefirst_k8s_state' }) };
      // the test's token stands in for the Secret's; the log source is not read here
      const config = { ...raw, server: { ...raw.server, auth: { token: TOKEN } }, sources: { ...raw.sources, logs: [] } };
      const a = await testApp(config, env);
      const b = await testApp(config, env);
      try {
        for (const t of [a, b]) {
          const res = await t.app.inject({ method: 'GET', url: '/readyz' });
          expect(res.statusCode).toBe(200);
          expect(res.json()).toMatchObject({ store: { kind: 'postgres', where: expect.stringContaining('/pagefirst_k8s_state') } });
          expect(res.body).not.toContain(STATE_PASSWORD);
        }
        const run = await a.app.inject({
          method: 'POST',
          url: '/enrich',
          headers: auth,
          payload: { alert: { labels: { alertname: 'db_pool_exhausted', service: 'k8s' } } },
        });
        expect(run.statusCode).toBe(202);
        const { id } = run.json<{ id: string }>();
        const seen = await b.app.inject({ method: 'GET', url: `/diagnostics/${id}`, headers: auth });
        expect([200, 202]).toContain(seen.statusCode);
        expect((await b.app.inject({ method: 'GET', url: '/diagnostics/not-a-run', headers: auth })).statusCode).toBe(404);
      } finally {
        await a.app.close();
        await b.app.close();
      }
    },
    VALIDATE_TIMEOUT_MS,
  );
});
