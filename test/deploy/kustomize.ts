/**
 * Offline checks of Kubernetes manifests: what `kubectl apply -k` would send (`kubectl kustomize`,
 * Kustomize built into kubectl; no cluster) and the Kubernetes / prometheus-operator schemas
 * (kubernetes-validate.mjs, run by node: the schema packages are ESM-only).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

/** Deadline of one kustomize build or one validation run (ms). */
export const KUBE_TOOL_TIMEOUT_MS = 60_000;

export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: any;
};

/** The objects `kubectl apply -k dir` would send. */
export function kustomizeBuild(dir: string): Promise<KubeObject[]> {
  const kubectl = '/usr/bin/kubectl';
  if (!fs.existsSync(kubectl)) throw new Error(`${kubectl} is missing: it comes with this machine's image (Debian package kubectl)`);
  return new Promise((resolve, reject) => {
    execFile(kubectl, ['kustomize', dir], { timeout: KUBE_TOOL_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`kubectl kustomize ${dir} failed: ${stderr || err.message}`));
      resolve(parseAllDocuments(stdout).map((d) => d.toJS() as KubeObject));
    });
  });
}

/** Per object, null when it passes its schema, else the first error. */
export function validateObjects(objs: KubeObject[]): Promise<Array<string | null>> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [path.join(__dirname, 'kubernetes-validate.mjs')],
      { cwd: path.join(__dirname, '..', '..'), timeout: KUBE_TOOL_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`validator failed: ${stderr || err.message}`));
        resolve(JSON.parse(stdout) as Array<string | null>);
      },
    );
    child.stdin!.end(JSON.stringify(objs));
  });
}
