/**
 * deploy/kubernetes-replicas/: the base of deploy/kubernetes/ with two replicas on the shared
 * PostgreSQL state store (issue 15 on Kubernetes). What `kubectl apply -k` sends is built offline by
 * `kubectl kustomize` and compared with the base's; its configuration runs two real receivers on a
 * real PostgreSQL.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { auth, testApp } from '../support/app';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { KUBE_TOOL_TIMEOUT_MS, kustomizeBuild, validateObjects, type KubeObject } from './kustomize';

const ROOT = path.join(__dirname, '..', '..');
const BASE = path.join(ROOT, 'deploy', 'kubernetes');
const OVERLAY = path.join(ROOT, 'deploy', 'kubernetes-replicas');
const TIMEOUT_MS = KUBE_TOOL_TIMEOUT_MS;

type Obj = KubeObject;
const kustomize = kustomizeBuild;
const validate = validateObjects;

const key = (o: Obj) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const find = (objs: Obj[], kind: string) => objs.find((o) => o.kind === kind)!;

let base: Obj[];
let overlay: Obj[];
beforeAll(async () => {
  [base, overlay] = await Promise.all([kustomize(BASE), kustomize(OVERLAY)]);
}, TIMEOUT_MS);

test('the same objects as the base, but no PersistentVolumeClaim; only the Deployment and the ConfigMap differ', () => {
  const baseKeys = base.filter((o) => o.kind !== 'ConfigMap').map(key);
  const overlayKeys = overlay.filter((o) => o.kind !== 'ConfigMap').map(key);
  expect(overlayKeys.sort()).toEqual(baseKeys.filter((k) => !k.startsWith('PersistentVolumeClaim/')).sort());
  expect(baseKeys.some((k) => k.startsWith('PersistentVolumeClaim/'))).toBe(true);
  for (const o of overlay.filter((x) => x.kind !== 'Deployment' && x.kind !== 'ConfigMap')) expect(o).toEqual(base.find((b) => key(b) === key(o)));
});

test('two replicas, rolled one at a time without ever fewer than two answering, the state URL from the Secret, no state volume', () => {
  const d = find(overlay, 'Deployment');
  expect(d.spec.replicas).toBe(2);
  expect(d.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
  const pod = d.spec.template.spec;
  const c = pod.containers[0];
  expect(c.env.find((e: { name: string }) => e.name === 'PAGEFIRST_STATE_URL').valueFrom.secretKeyRef).toEqual({ name: 'pagefirst', key: 'state-url' });
  expect(pod.volumes.some((v: { persistentVolumeClaim?: unknown }) => v.persistentVolumeClaim)).toBe(false);
  expect(c.volumeMounts.map((m: { name: string }) => m.name).sort()).toEqual(pod.volumes.map((v: { name: string }) => v.name).sort());
  // the PodDisruptionBudget of the base still lets one go in a drain, the other keeps answering
  expect(find(overlay, 'PodDisruptionBudget').spec.maxUnavailable).toBe(1);
  // the ConfigMap the pods mount is the overlay's (hashed name), not the base's
  const cm = find(overlay, 'ConfigMap');
  expect(pod.volumes.find((v: { configMap?: { name: string } }) => v.configMap).configMap.name).toBe(cm.metadata.name);
  expect(cm.metadata.name).not.toBe(find(base, 'ConfigMap').metadata.name);
});

test("its pagefirst.yml is the base's with state.url instead of state.path, and nothing else", () => {
  const mine = parse(find(overlay, 'ConfigMap').data['pagefirst.yml']) as Record<string, unknown>;
  const theirs = parse(find(base, 'ConfigMap').data['pagefirst.yml']) as Record<string, unknown>;
  expect(mine.state).toEqual({ url: '${PAGEFIRST_STATE_URL}' });
  expect(theirs.state).toEqual({ path: expect.any(String) });
  expect({ ...mine, state: null }).toEqual({ ...theirs, state: null });
});

test('every object passes the Kubernetes and prometheus-operator schemas', async () => {
  const results = await validate(overlay);
  expect(overlay.map((o, i) => `${key(o)}: ${results[i] ?? 'valid'}`)).toEqual(overlay.map((o) => `${key(o)}: valid`));
});

describe('the configuration on a real PostgreSQL', () => {
  let pg: TestPostgres;
  beforeAll(async () => {
    pg = await startPostgres();
    const admin = await pg.connect();
    await admin.query('CREATE DATABASE pagefirst_k8s_state');
    await admin.end();
  }, TIMEOUT_MS);
  afterAll(() => pg?.stop());

  test(
    'two receivers built from it share the store: both ready on PostgreSQL, a webhook to one is seen by the other',
    async () => {
      const secret = parseAllDocuments(fs.readFileSync(path.join(BASE, 'secret.example.yaml'), 'utf8'))[0]!.toJS() as Obj;
      // secret.example.yaml documents the key, commented out for the one-replica base
      expect(fs.readFileSync(path.join(BASE, 'secret.example.yaml'), 'utf8')).toMatch(/^ {2}# state-url: postgres:\/\//m);
      const raw = parse(find(overlay, 'ConfigMap').data['pagefirst.yml']) as Record<string, any>;
      const env = {
        PAGEFIRST_TOKEN: secret.stringData.token,
        PAGEFIRST_POSTGRES_URL: secret.stringData['postgres-url'],
        PAGEFIRST_STATE_URL: pg.url({ database: 'pagefirst_k8s_state' }),
      };
      // the test's token (auth) stands in for the Secret's; the log source is not read here
      const config = { ...raw, server: { ...raw.server, auth: { token: auth.authorization.slice('Bearer '.length) } }, sources: { ...raw.sources, logs: [] } };
      const a = await testApp(config, env);
      const b = await testApp(config, env);
      try {
        for (const t of [a, b]) {
          const res = await t.app.inject({ method: 'GET', url: '/readyz' });
          expect(res.statusCode).toBe(200);
          expect(res.json()).toMatchObject({ store: { kind: 'postgres', where: expect.stringContaining('/pagefirst_k8s_state') } });
          expect(res.body).not.toContain(secret.stringData['postgres-url']);
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
      } finally {
        await a.app.close();
        await b.app.close();
      }
    },
    TIMEOUT_MS,
  );
});
