/**
 * A fake Kubernetes API server for the pod-log source: the two calls it makes, with the real
 * paths, query parameters, bodies and refusals (each checked against kubernetes/kubernetes):
 *
 * - `GET /api/v1/namespaces/{ns}/pods?labelSelector=...` → a `PodList` (`kind`, `apiVersion`,
 *   `metadata`, `items[]` with `metadata`, `spec.containers[]`, `status.phase`,
 *   `status.containerStatuses[].restartCount` / `.lastState.terminated`). A namespace that does not
 *   exist lists as empty, as the real one does. A selector the real parser rejects
 *   (staging/src/k8s.io/apimachinery/pkg/labels/selector.go: operators `=`, `==`, `!=`, `in`,
 *   `notin`, `key`, `!key`, `gt`/`lt`; keys are qualified names, values label values of at most
 *   63 characters) → 400 BadRequest. The wording of our parse errors follows the parser's
 *   ("unable to parse requirement: ...", "found '...', expected: ..."), not checked word for word.
 * - `GET /api/v1/namespaces/{ns}/pods/{name}/log?container=&tailLines=&sinceSeconds=&timestamps=&previous=&limitBytes=`
 *   → `text/plain` lines (pkg/registry/core/pod/rest/log.go streams the kubelet's answer as
 *   text/plain), each prefixed with its RFC3339Nano time when `timestamps=true`.
 *   Refusals, as pkg/registry/core/pod/strategy.go (LogLocation → validateContainer) and the
 *   kubelet (pkg/kubelet/kubelet_pods.go validateContainerLogStatus, its error passed on as a
 *   BadRequest by staging/src/k8s.io/apiserver/pkg/registry/generic/rest/response_checker.go):
 *   unknown pod → 404 NotFound `pods "x" not found`; no `container` with several →
 *   400 `a container name must be specified for pod x, choose one of: [a b]`; unknown container →
 *   400 `container c is not valid for pod x`; `previous=true` where the container never
 *   terminated → 400 `previous terminated container "c" in pod "x" not found`;
 *   negative `tailLines`, `sinceSeconds` < 1 or `limitBytes` < 1 → 422 Invalid (ValidatePodLogOptions; wording
 *   not checked word for word).
 * - Bearer auth: no or unknown token → 401 `Unauthorized` (staging/src/k8s.io/apiserver/pkg/endpoints/filters/authentication.go).
 * - RBAC per namespace: a user may `list` `pods` and `get` `pods/log` only where granted; else 403
 *   Forbidden with the authorizer's message (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go
 *   forbiddenMessage, wrapped by apimachinery/pkg/api/errors NewForbidden).
 * - TLS only, as a real API server: a self-signed certificate for 127.0.0.1 made with openssl at
 *   start (`caFile`, for the kubeconfig's `certificate-authority`); client-node refuses plain
 *   http unless TLS verification is off (client-node src/config.ts createDispatcher).
 * Every error body is a `Status` (apimachinery pkg/api/errors/errors.go). Every request is logged
 * (verb, resource, namespace, name, user, query) so tests can see exactly what a client called.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface FakeLogLine {
  time: Date;
  /** A Buffer stands for bytes that need not be UTF-8. */
  text: string | Buffer;
}

export interface FakePod {
  namespace: string;
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  containers: string[];
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
  /** Restarts per container; > 0 gives the container a `lastState.terminated` (so `previous=true` works). */
  restarts?: Record<string, number>;
  /** The current container's log per container. */
  logs?: Record<string, FakeLogLine[]>;
  /** The previous (terminated) container's log per container. */
  previousLogs?: Record<string, FakeLogLine[]>;
  createdAt?: Date;
  /** The log request for this pod answers only after this long (or when the client hangs up). */
  logDelayMs?: number;
}

export interface FakeKubeRequest {
  verb: 'list' | 'get';
  /** 'pods', 'pods/log', or what else a test asks for (written `string & {}` so that editors offer the two). */
  resource: 'pods' | 'pods/log' | (string & {});
  namespace: string;
  name?: string;
  user: string | null;
  query: Record<string, string>;
  status: number;
}

export interface FakeKubernetes {
  /** https://127.0.0.1:PORT */
  url: string;
  /** The PEM certificate the server presents (its own CA). */
  caFile: string;
  pods: FakePod[];
  /** token → user name (`system:serviceaccount:<ns>:<name>`). */
  tokens: Map<string, string>;
  requests: FakeKubeRequest[];
  /** Grants `verb` on `resource` in `namespace` to `user`. */
  allow(user: string, namespace: string, verb: 'list' | 'get', resource: 'pods' | 'pods/log'): void;
  /** Called once after each pod list is answered (a test deletes a pod there, as happens between a list and a log read). */
  afterList?: () => void;
  close(): Promise<void>;
}

interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: string;
  details?: { name?: string; kind?: string };
  code: number;
}

function status(code: number, reason: string, message: string, details?: Status['details']): Status {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

// --- label selectors (staging/src/k8s.io/apimachinery/pkg/labels/selector.go) ---

const NAME_RE = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function checkKey(key: string): string | null {
  const parts = key.split('/');
  if (parts.length > 2)
    return `key: Invalid value: "${key}": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`;
  const name = parts.length === 2 ? parts[1]! : parts[0]!;
  if (parts.length === 2 && (parts[0]!.length === 0 || parts[0]!.length > 253 || !DNS1123_SUBDOMAIN.test(parts[0]!)))
    return `key: Invalid value: "${key}": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'`;
  if (name.length === 0 || name.length > 63 || !NAME_RE.test(name))
    return `key: Invalid value: "${key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`;
  return null;
}

function checkValue(key: string, i: number, v: string): string | null {
  if (v.length > 63) return `values[${i}][${key}]: Invalid value: "${v}": must be no more than 63 characters`;
  if (v !== '' && !NAME_RE.test(v))
    return `values[${i}][${key}]: Invalid value: "${v}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`;
  return null;
}

type Requirement = { key: string; op: 'exists' | '!' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt'; values: string[] };

/** Parses a label selector as the API server does; throws Error with the parser's kind of message. */
export function parseLabelSelector(selector: string): Requirement[] {
  const tokens: string[] = [];
  const re = /\s*(==|!=|=|!|,|\(|\)|>|<|[^\s=!,()<>]+)/y;
  let m: RegExpExecArray | null;
  let pos = 0;
  while (pos < selector.length) {
    re.lastIndex = pos;
    m = re.exec(selector);
    if (!m) {
      if (/^\s*$/.test(selector.slice(pos))) break;
      throw new Error(`unable to parse requirement: found '${selector.slice(pos)}', expected: identifier`);
    }
    tokens.push(m[1]!);
    pos = re.lastIndex;
  }
  const reqs: Requirement[] = [];
  let i = 0;
  const next = () => tokens[i++];
  const peek = () => tokens[i];
  const isIdent = (t: string | undefined) => t !== undefined && !['==', '!=', '=', '!', ',', '(', ')', '>', '<'].includes(t);
  while (i < tokens.length) {
    let t = next();
    let req: Requirement;
    if (t === '!') {
      const key = next();
      if (!isIdent(key)) throw new Error(`found '${key ?? ''}', expected: identifier after '!'`);
      req = { key: key!, op: '!', values: [] };
    } else {
      if (!isIdent(t)) throw new Error(`found '${t}', expected: !, identifier, or 'end of string'`);
      const key = t!;
      const op = peek();
      if (op === undefined || op === ',') req = { key, op: 'exists', values: [] };
      else if (op === '=' || op === '==' || op === '!=') {
        next();
        const v = peek();
        const value = isIdent(v) ? next()! : '';
        if (v !== undefined && v !== ',' && !isIdent(v)) throw new Error(`found '${v}', expected: identifier`);
        req = { key, op: op === '!=' ? '!=' : '=', values: [value] };
      } else if (op === 'in' || op === 'notin') {
        next();
        if (next() !== '(') throw new Error(`found '${tokens[i - 1] ?? ''}', expected: '('`);
        const values: string[] = [];
        for (;;) {
          t = next();
          if (t === ')') break;
          if (t === ',') continue;
          if (!isIdent(t)) throw new Error(`found '${t ?? 'end of string'}', expected: ',', ')' or identifier`);
          values.push(t!);
        }
        req = { key, op, values };
      } else if (op === '>' || op === '<') {
        next();
        const v = next();
        if (!isIdent(v) || !/^-?\d+$/.test(v!)) throw new Error(`unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer`);
        req = { key, op: op === '>' ? 'gt' : 'lt', values: [v!] };
      } else throw new Error(`found '${op}', expected: in, notin, =, ==, !=, gt, lt`);
    }
    const keyErr = checkKey(req.key);
    if (keyErr) throw new Error(`unable to parse requirement: ${keyErr}`);
    for (const [n, v] of req.values.entries()) {
      const e = req.op === 'gt' || req.op === 'lt' ? null : checkValue(req.key, n, v);
      if (e) throw new Error(`unable to parse requirement: ${e}`);
    }
    reqs.push(req);
    const sep = next();
    if (sep !== undefined && sep !== ',') throw new Error(`found '${sep}', expected: ',' or 'end of string'`);
    if (sep === ',' && i >= tokens.length) throw new Error(`found '', expected: !, identifier, or 'end of string'`);
  }
  return reqs;
}

function selects(reqs: Requirement[], labels: Record<string, string>): boolean {
  return reqs.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    const v = labels[r.key];
    switch (r.op) {
      case 'exists':
        return has;
      case '!':
        return !has;
      case '=':
        return has && v === r.values[0];
      case '!=':
        return !has || v !== r.values[0];
      case 'in':
        return has && r.values.includes(v!);
      case 'notin':
        return !has || !r.values.includes(v!);
      case 'gt':
        return has && /^-?\d+$/.test(v!) && Number(v) > Number(r.values[0]);
      case 'lt':
        return has && /^-?\d+$/.test(v!) && Number(v) < Number(r.values[0]);
    }
  });
}

/** RFC3339Nano as Go formats it: fraction without trailing zeros, none at all when zero. */
function rfc3339Nano(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, (_, ms: string) => (ms === '000' ? 'Z' : `.${ms.replace(/0+$/, '')}Z`));
}

function podJson(p: FakePod) {
  const created = (p.createdAt ?? new Date(0)).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    metadata: {
      name: p.name,
      namespace: p.namespace,
      uid: `uid-${p.namespace}-${p.name}`,
      creationTimestamp: created,
      labels: p.labels ?? {},
      annotations: p.annotations ?? {},
    },
    spec: { containers: p.containers.map((name) => ({ name, image: `registry.example/${name}:1` })), nodeName: 'node-1' },
    status: {
      phase: p.phase ?? 'Running',
      containerStatuses: p.containers.map((name) => {
        const restarts = p.restarts?.[name] ?? 0;
        return {
          name,
          ready: true,
          restartCount: restarts,
          image: `registry.example/${name}:1`,
          imageID: '',
          state: { running: { startedAt: created } },
          lastState:
            restarts > 0
              ? {
                  terminated: {
                    exitCode: 137,
                    reason: 'OOMKilled',
                    startedAt: created,
                    finishedAt: created,
                    containerID: `containerd://${p.name}-${name}-prev`,
                  },
                }
              : {},
        };
      }),
    },
  };
}

/** Starts the fake on 127.0.0.1 (a free port). */
export async function startFakeKubernetes(): Promise<FakeKubernetes> {
  const grants = new Set<string>();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fake-kube-'));
  const caFile = path.join(dir, 'ca.crt');
  const keyFile = path.join(dir, 'tls.key');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      caFile,
      '-days',
      '2',
      '-subj',
      '/CN=fake-kube-apiserver',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore', timeout: 20_000 },
  );
  const fake: FakeKubernetes = {
    url: '',
    caFile,
    pods: [],
    tokens: new Map(),
    requests: [],
    allow: (user, namespace, verb, resource) => void grants.add(`${user}|${namespace}|${verb}|${resource}`),
    close: async () => {},
  };
  const sendStatus = (res: http.ServerResponse, s: Status) => {
    res.writeHead(s.code, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(s));
  };
  const server = https.createServer({ cert: fs.readFileSync(caFile), key: fs.readFileSync(keyFile) }, (req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) sendStatus(res, status(500, 'InternalError', `Internal error occurred: ${(e as Error).message}`));
      else res.destroy();
    });
  });
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://kubernetes');
    const query = Object.fromEntries(url.searchParams);
    const list = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(url.pathname);
    const log = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/log$/.exec(url.pathname);
    const namespace = decodeURIComponent((list ?? log)?.[1] ?? '');
    const name = log ? decodeURIComponent(log[2]!) : undefined;
    const verb = 'get' === req.method?.toLowerCase() ? (list ? 'list' : 'get') : (req.method ?? '').toLowerCase();
    const resource = list ? 'pods' : log ? 'pods/log' : url.pathname;
    const auth = req.headers.authorization;
    const user = auth?.startsWith('Bearer ') ? (fake.tokens.get(auth.slice(7)) ?? null) : null;
    const entry: FakeKubeRequest = { verb: verb as FakeKubeRequest['verb'], resource, namespace, ...(name ? { name } : {}), user, query, status: 0 };
    fake.requests.push(entry);
    const fail = (s: Status) => {
      entry.status = s.code;
      sendStatus(res, s);
    };
    if (!user) return fail(status(401, 'Unauthorized', 'Unauthorized'));
    if (req.method !== 'GET' || (!list && !log)) return fail(status(404, 'NotFound', 'the server could not find the requested resource'));
    if (!grants.has(`${user}|${namespace}|${verb}|${resource}`)) {
      const who = `User "${user}" cannot ${verb} resource "${resource}" in API group "" in the namespace "${namespace}"`;
      return fail(
        status(403, 'Forbidden', name ? `pods "${name}" is forbidden: ${who}` : `pods is forbidden: ${who}`, { ...(name ? { name } : {}), kind: 'pods' }),
      );
    }
    if (list) {
      let reqs: Requirement[] = [];
      if (query.labelSelector) {
        try {
          reqs = parseLabelSelector(query.labelSelector);
        } catch (e) {
          return fail(status(400, 'BadRequest', (e as Error).message));
        }
      }
      const items = fake.pods.filter((p) => p.namespace === namespace && selects(reqs, p.labels ?? {})).map(podJson);
      entry.status = 200;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '4242' }, items }));
      fake.afterList?.();
      return;
    }
    const pod = fake.pods.find((p) => p.namespace === namespace && p.name === name);
    if (!pod) return fail(status(404, 'NotFound', `pods "${name}" not found`, { name, kind: 'pods' }));
    for (const [k, min] of [
      ['tailLines', 0],
      ['sinceSeconds', 1],
      ['limitBytes', 1],
    ] as const) {
      const v = query[k];
      if (v === undefined) continue;
      if (!/^-?\d+$/.test(v)) return fail(status(400, 'BadRequest', `strconv.ParseInt: parsing "${v}": invalid syntax`));
      if (Number(v) < min)
        return fail(
          status(
            422,
            'Invalid',
            `PodLogOptions "${name}" is invalid: ${k}: Invalid value: ${v}: must be greater than${min === 0 ? ' or equal to' : ''} ${min}`,
          ),
        );
    }
    let container = query.container ?? '';
    if (!container) {
      if (pod.containers.length !== 1)
        return fail(status(400, 'BadRequest', `a container name must be specified for pod ${pod.name}, choose one of: [${pod.containers.join(' ')}]`));
      container = pod.containers[0]!;
    } else if (!pod.containers.includes(container)) {
      return fail(status(400, 'BadRequest', `container ${container} is not valid for pod ${pod.name}`));
    }
    const previous = query.previous === 'true';
    if (previous && !((pod.restarts?.[container] ?? 0) > 0))
      return fail(status(400, 'BadRequest', `previous terminated container "${container}" in pod "${pod.name}" not found`));
    if (pod.logDelayMs) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, pod.logDelayMs);
        res.once('close', () => (clearTimeout(t), r()));
      });
      if (res.destroyed || res.writableEnded) return;
    }
    let lines = (previous ? pod.previousLogs?.[container] : pod.logs?.[container]) ?? [];
    if (query.sinceSeconds !== undefined) {
      const since = Date.now() - Number(query.sinceSeconds) * 1000;
      lines = lines.filter((l) => l.time.getTime() >= since);
    }
    if (query.tailLines !== undefined) lines = Number(query.tailLines) === 0 ? [] : lines.slice(-Number(query.tailLines));
    const timestamps = query.timestamps === 'true';
    let body = Buffer.concat(
      lines.map((l) =>
        Buffer.concat([Buffer.from(timestamps ? `${rfc3339Nano(l.time)} ` : ''), Buffer.isBuffer(l.text) ? l.text : Buffer.from(l.text), Buffer.from('\n')]),
      ),
    );
    if (query.limitBytes !== undefined) body = body.subarray(0, Number(query.limitBytes));
    entry.status = 200;
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(body);
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => {
        fs.rmSync(dir, { recursive: true, force: true });
        resolve();
      });
    });
  return fake;
}
