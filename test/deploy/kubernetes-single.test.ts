/**
 * deploy/kubernetes-single/: the base of deploy/kubernetes/ (two replicas on the shared PostgreSQL
 * store) as one replica on the embedded SQLite file, for a cluster without a PostgreSQL for
 * pagefirst's state. What `kubectl apply -k` sends is built offline by `kubectl kustomize` and
 * compared with the base's; its configuration runs the real receiver on the SQLite file where the
 * volume is mounted.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config';
import { KUBE_TOOL_TIMEOUT_MS, kustomizeBuild, validateObjects, type KubeObject } from './kustomize';

const ROOT = path.join(__dirname, '..', '..');
const BASE = path.join(ROOT, 'deploy', 'kubernetes');
const OVERLAY = path.join(ROOT, 'deploy', 'kubernetes-single');

type Obj = KubeObject;
const key = (o: Obj) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const find = (objs: Obj[], kind: string) => objs.find((o) => o.kind === kind)!;

let base: Obj[];
let overlay: Obj[];
beforeAll(async () => {
  [base, overlay] = await Promise.all([kustomizeBuild(BASE), kustomizeBuild(OVERLAY)]);
}, KUBE_TOOL_TIMEOUT_MS);

test("the base's objects and a PersistentVolumeClaim; only the Deployment and the ConfigMap differ", () => {
  const baseKeys = base.filter((o) => o.kind !== 'ConfigMap').map(key);
  const overlayKeys = overlay.filter((o) => o.kind !== 'ConfigMap').map(key);
  expect(overlayKeys.sort()).toEqual([...baseKeys, 'PersistentVolumeClaim/pagefirst/pagefirst-state'].sort());
  for (const o of overlay.filter((x) => !['Deployment', 'ConfigMap', 'PersistentVolumeClaim'].includes(x.kind)))
    expect(o).toEqual(base.find((b) => key(b) === key(o)));
});

test('one replica, Recreate, the SQLite file on the claim, no state URL, no spreading over nodes', () => {
  const d = find(overlay, 'Deployment');
  expect(d.spec.replicas).toBe(1);
  // Recreate takes no rollingUpdate (the API server rejects the pair)
  expect(d.spec.strategy).toEqual({ type: 'Recreate' });
  const pod = d.spec.template.spec;
  const c = pod.containers[0];
  expect(pod.affinity).toBeUndefined();
  expect(c.env.map((e: { name: string }) => e.name)).not.toContain('PAGEFIRST_STATE_URL');
  const claim = pod.volumes.find((v: { persistentVolumeClaim?: { claimName: string } }) => v.persistentVolumeClaim);
  expect(claim.persistentVolumeClaim.claimName).toBe(find(overlay, 'PersistentVolumeClaim').metadata.name);
  expect(find(overlay, 'PersistentVolumeClaim').spec.accessModes).toEqual(['ReadWriteOnce']);
  expect(c.volumeMounts.map((m: { name: string }) => m.name).sort()).toEqual(pod.volumes.map((v: { name: string }) => v.name).sort());
  const cm = find(overlay, 'ConfigMap');
  expect(pod.volumes.find((v: { configMap?: { name: string } }) => v.configMap).configMap.name).toBe(cm.metadata.name);
  expect(cm.metadata.name).not.toBe(find(base, 'ConfigMap').metadata.name);
});

test("its pagefirst.yml is the base's with state.path instead of state.url, and nothing else; the file is on the claim", () => {
  const mine = parse(find(overlay, 'ConfigMap').data['pagefirst.yml']) as Record<string, any>;
  const theirs = parse(find(base, 'ConfigMap').data['pagefirst.yml']) as Record<string, any>;
  expect(theirs.state).toEqual({ url: '${PAGEFIRST_STATE_URL}' });
  expect(mine.state).toEqual({ path: expect.any(String) });
  expect({ ...mine, state: null }).toEqual({ ...theirs, state: null });
  const c = find(overlay, 'Deployment').spec.template.spec.containers[0];
  const mount = c.volumeMounts.find((m: { name: string }) => m.name === 'state');
  expect(path.dirname(mine.state.path)).toBe(mount.mountPath);
  expect(mount.readOnly).toBeUndefined();
});

test("the configuration loads with the Secret's keys but state-url, and its SQLite store opens where the volume is", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pagefirst-kube-single-'));
  try {
    const secret = parseAllDocuments(fs.readFileSync(path.join(BASE, 'secret.example.yaml'), 'utf8'))[0]!.toJS() as Obj;
    const file = path.join(tmp, 'pagefirst.yml');
    fs.writeFileSync(file, find(overlay, 'ConfigMap').data['pagefirst.yml']);
    const env = { PAGEFIRST_TOKEN: secret.stringData.token, PAGEFIRST_POSTGRES_URL: secret.stringData['postgres-url'] };
    const config = loadConfig(file, env);
    expect(config.state.url).toBeUndefined();
    expect(config.state.path).toBe('/var/lib/pagefirst/state.sqlite');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test(
  'every object passes the Kubernetes schemas',
  async () => {
    const results = await validateObjects(overlay);
    expect(overlay.map((o, i) => `${key(o)}: ${results[i] ?? 'valid'}`)).toEqual(overlay.map((o) => `${key(o)}: valid`));
  },
  KUBE_TOOL_TIMEOUT_MS,
);
