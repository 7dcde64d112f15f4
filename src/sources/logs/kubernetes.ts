import fs from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import type { CoreV1Api, KubeConfig, ObservableMiddleware, ResponseContext, V1Pod } from '@kubernetes/client-node';
import type { LogSource } from '../config';
import { capLine, LogSourceError, MAX_LINE_CHARS, MAX_READ_BYTES, splitLeadingTimestamp, withTimeout, type LogLine, type LogReader } from './types';

/**
 * Pod logs through the Kubernetes API, with the maintained client `@kubernetes/client-node`
 * (kubernetes-client/javascript, 2.x: `KubeConfig`, `CoreV1Api`):
 *
 * 1. `GET /api/v1/namespaces/{ns}/pods?labelSelector=...` (CoreV1Api.listNamespacedPod): the pods
 *    the configuration selects. The alert group's common labels `namespace`, `pod`, `container`
 *    narrow that choice (a namespace other than the configured one, a pod outside the selection,
 *    a container the pod does not have: said in `problems`, never read).
 * 2. For at most `maxPods` of them, `GET .../pods/{name}/log?container=&tailLines=&sinceSeconds=&timestamps=true`
 *    (CoreV1Api.readNamespacedPodLog), and with `previous=true` too where the container restarted
 *    (`status.containerStatuses[].restartCount > 0`), so the lines written before a crash are seen.
 *
 * Every request carries an AbortSignal (the run's, plus the source's `timeoutMs`: for the list,
 * and per pod for its log reads), set on the client's RequestContext by a middleware (the
 * client's documented extension point; its `Log` helper in src/log.ts takes no signal until the
 * answer has started and drops the Status of a 4xx, so it is not used). The same middleware reads
 * each body as a stream with a bound: a log keeps its newest complete lines within its share of
 * MAX_READ_BYTES, each line cut to MAX_LINE_CHARS, so a 10 MB line or binary garbage costs bounded
 * memory; a pod list over KUBERNETES_MAX_LIST_BYTES is refused.
 *
 * Errors: the pod list failing fails the source (LogSourceError: 401 token rejected, 403 with the
 * API's Status message, 400 selector rejected, timeout, unreachable). One pod failing (404 gone,
 * 403, 400, its deadline) is one line in `problems`; the other pods are read. When every chosen
 * pod fails, the source fails with those lines.
 *
 * Authentication: a kubeconfig file (`kubeconfig`), else the in-cluster service account
 * (`KubeConfig.loadFromCluster`: KUBERNETES_SERVICE_HOST/PORT, and the token, CA and namespace
 * under /var/run/secrets/kubernetes.io/serviceaccount/; the token file is re-read as it rotates).
 */

type KubernetesSource = Extract<LogSource, { kubernetes: unknown }>;
type Client = typeof import('@kubernetes/client-node');

/**
 * The API calls this source makes, and so exactly what its Role must grant
 * (deploy/kubernetes/rbac.yaml; the tests compare both with the fake API server's request log).
 */
export const KUBERNETES_API_CALLS: ReadonlyArray<{ apiGroup: string; resource: string; verb: string }> = [
  { apiGroup: '', resource: 'pods', verb: 'list' },
  { apiGroup: '', resource: 'pods/log', verb: 'get' },
];

/** The alert labels that may narrow the pods read (kube-state-metrics' and cAdvisor's names for them). */
export const KUBERNETES_ALERT_LABELS = { namespace: 'namespace', pod: 'pod', container: 'container' } as const;

/** kubectl's annotation naming a pod's default container (k8s.io/kubectl pkg/cmd/util/podcmd: DefaultContainerAnnotationName). */
export const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';

/** Where the kubelet mounts the pod's service account token (client-node src/config.ts SERVICEACCOUNT_TOKEN_PATH reads it there). */
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** Largest pod list read: past it the selector is too wide to be the backend's pods. */
export const KUBERNETES_MAX_LIST_BYTES = 32 * 1024 * 1024;
/** Room for the kubelet's RFC3339Nano timestamp and its space before a line is cut (the cut is then marked by capLine). */
const TIMESTAMP_ROOM = 64;
/** Largest error body kept (the API server itself reads at most 50,000 bytes of a kubelet's error: apiserver registry/generic/rest/response_checker.go maxReadLength). */
const MAX_ERROR_BYTES = 64 * 1024;

let clientModule: Promise<Client> | undefined;
/** The client is ESM; it is loaded on first use (Node's require(esm)), so configurations without a Kubernetes source never load it. */
function loadClient(): Promise<Client> {
  return (clientModule ??= import('@kubernetes/client-node'));
}

/** Longest alert label value repeated in a problem line (label values come from whoever sends alerts). */
const MAX_LABEL_SHOWN = 100;
const shown = (v: string) => (v.length > MAX_LABEL_SHOWN ? `${v.slice(0, MAX_LABEL_SHOWN - 1)}…` : v);

/** A `Status` body's useful parts (apimachinery pkg/apis/meta/v1 types.go Status). */
interface ApiStatus {
  code: number;
  reason: string | null;
  message: string | null;
}

function parseStatus(code: number, text: string): ApiStatus {
  try {
    const o = JSON.parse(text) as { kind?: unknown; reason?: unknown; message?: unknown; code?: unknown };
    if (o && o.kind === 'Status') {
      return {
        code: typeof o.code === 'number' ? o.code : code,
        reason: typeof o.reason === 'string' ? o.reason : null,
        message: typeof o.message === 'string' ? o.message.slice(0, 500) : null,
      };
    }
  } catch {
    // not JSON: a proxy's page, say
  }
  return { code, reason: null, message: text.trim().split('\n')[0]!.slice(0, 200) || null };
}

/** Keeps the newest complete lines of a text stream within `budget` characters; each line cut a little past MAX_LINE_CHARS (its timestamp is taken off later). */
class NewestLines {
  readonly lines: string[] = [];
  private head = 0;
  private chars = 0;
  private partial = '';
  private partialCut = false;
  dropped = 0;
  private readonly decoder = new StringDecoder('utf8');

  constructor(private readonly budget: number) {}

  push(chunk: Uint8Array): void {
    this.text(this.decoder.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
  }

  end(): string[] {
    this.text(this.decoder.end());
    if (this.partial) this.add(this.partial);
    this.partial = '';
    return this.lines.slice(this.head);
  }

  private text(s: string): void {
    if (!s) return;
    const parts = s.split('\n');
    const last = parts.pop()!;
    for (const p of parts) {
      this.add(this.partialCut ? this.partial : this.partial + p);
      this.partial = '';
      this.partialCut = false;
    }
    if (this.partialCut) return;
    // an endless line is cut as it arrives, never buffered whole
    this.partial += last;
    if (this.partial.length > MAX_LINE_CHARS + TIMESTAMP_ROOM) {
      this.partial = this.partial.slice(0, MAX_LINE_CHARS + TIMESTAMP_ROOM);
      this.partialCut = true;
    }
  }

  private add(line: string): void {
    const l = line.endsWith('\r') ? line.slice(0, -1) : line;
    this.lines.push(l);
    this.chars += l.length;
    while (this.chars > this.budget && this.head < this.lines.length) {
      this.chars -= this.lines[this.head++]!.length;
      this.dropped++;
    }
    if (this.head > 1024) {
      this.lines.splice(0, this.head);
      this.head = 0;
    }
  }
}

/** What a request's middleware saw: the body it kept and the bytes it read. */
interface Exchange {
  status: number;
  bytes: number;
  lines?: string[];
  /** Complete lines dropped (oldest first) to stay within the budget. */
  dropped?: number;
  error?: ApiStatus;
  tooLarge?: boolean;
}

/**
 * The per-request middleware: sets the AbortSignal, then reads the body as a stream under a bound
 * (a log: newest lines within `logBudget` characters; JSON: at most KUBERNETES_MAX_LIST_BYTES;
 * an error: at most MAX_ERROR_BYTES, parsed as a Status) and hands the client a body of what was kept.
 */
function exchangeMiddleware(client: Client, signal: AbortSignal, ex: Exchange, logBudget: number | null): ObservableMiddleware {
  return {
    pre: (ctx) => {
      ctx.setSignal(signal);
      return new client.Observable(Promise.resolve(ctx));
    },
    post: (rsp) => new client.Observable(boundBody(client, rsp, ex, logBudget)),
  };
}

async function boundBody(client: Client, rsp: ResponseContext, ex: Exchange, logBudget: number | null): Promise<ResponseContext> {
  ex.status = rsp.httpStatusCode;
  const ok = rsp.httpStatusCode >= 200 && rsp.httpStatusCode < 300;
  const stream = rsp.body.stream();
  const reader = stream?.getReader();
  const lines = ok && logBudget !== null ? new NewestLines(logBudget) : null;
  const chunks: Buffer[] = [];
  const limit = lines ? Number.POSITIVE_INFINITY : ok ? KUBERNETES_MAX_LIST_BYTES : MAX_ERROR_BYTES;
  if (reader) {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        ex.bytes += value.byteLength;
        if (lines) lines.push(value);
        else if (ex.bytes <= limit) chunks.push(Buffer.from(value));
        else {
          if (ok) ex.tooLarge = true;
          await reader.cancel();
          break;
        }
      }
    } finally {
      reader.releaseLock();
    }
  } else {
    const b = await rsp.body.binary();
    ex.bytes += b.length;
    if (lines) lines.push(b);
    else chunks.push(b.subarray(0, limit));
  }
  let text: string;
  if (lines) {
    ex.lines = lines.end();
    ex.dropped = lines.dropped;
    text = '';
  } else {
    text = Buffer.concat(chunks).toString('utf8');
    if (!ok) ex.error = parseStatus(rsp.httpStatusCode, text);
    if (ex.tooLarge) text = '{}';
  }
  const body = new client.SelfDecodingBody(Promise.resolve(Buffer.from(text)));
  return new client.ResponseContext(rsp.httpStatusCode, rsp.headers, body);
}

/** One pod and the container chosen in it. */
interface Target {
  pod: string;
  container: string;
  restarts: number;
}

/** Chooses the container of `pod`: the configured one, else the alert's (if the pod has it), else kubectl's default-container annotation, else the first. */
function chooseContainer(pod: V1Pod, configured: string | undefined, alertContainer: string | undefined): string | null {
  const names = (pod.spec?.containers ?? []).map((c) => c.name);
  if (configured) return configured;
  if (alertContainer && names.includes(alertContainer)) return alertContainer;
  const annotated = pod.metadata?.annotations?.[DEFAULT_CONTAINER_ANNOTATION];
  if (annotated && names.includes(annotated)) return annotated;
  return names[0] ?? null;
}

/** Creates the reader for a `kubernetes:` log source. `read` throws LogSourceError; per-pod failures go into `problems`. */
export function createKubernetesLogReader(source: KubernetesSource): LogReader {
  const cfg = source.kubernetes;
  let api: Promise<{ client: Client; core: CoreV1Api; namespace: string }> | undefined;

  const connect = async () => {
    const client = await loadClient();
    const kc: KubeConfig = new client.KubeConfig();
    if (cfg.kubeconfig) {
      try {
        kc.loadFromFile(cfg.kubeconfig);
      } catch (e) {
        const code = (e as { code?: string }).code;
        throw new LogSourceError(
          code === 'ENOENT'
            ? `kubeconfig ${cfg.kubeconfig} not found`
            : `kubeconfig ${cfg.kubeconfig} cannot be read: ${code ?? (e as Error).message.split('\n')[0]}`,
        );
      }
      if (!kc.getCurrentCluster()) throw new LogSourceError(`kubeconfig ${cfg.kubeconfig} has no current context with a cluster`);
    } else {
      // loadFromCluster reads these (client-node src/config.ts); checked first so the error says why
      if (!process.env.KUBERNETES_SERVICE_HOST || !process.env.KUBERNETES_SERVICE_PORT) {
        throw new LogSourceError('not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST/PORT unset) and no kubeconfig configured');
      }
      if (!fs.existsSync(SERVICE_ACCOUNT_TOKEN)) {
        throw new LogSourceError(
          `no service account token at ${SERVICE_ACCOUNT_TOKEN}: the pod runs with automountServiceAccountToken: false, or set kubeconfig`,
        );
      }
      kc.loadFromCluster();
    }
    const namespace = cfg.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace?.trim() ?? 'default';
    return { client, core: kc.makeApiClient(client.CoreV1Api), namespace };
  };

  /** A failed request as one clear line; rethrows the run's own abort. */
  const describe = (e: unknown, ex: Exchange, timedOut: () => boolean, runSignal: AbortSignal, what: string): string => {
    if (timedOut()) return `${what}: no answer within ${source.timeoutMs} ms`;
    if (runSignal.aborted) throw runSignal.reason;
    const code = ex.error?.code ?? (e as { code?: unknown }).code;
    const st = ex.error;
    if (code === 401)
      return `${what}: the API server rejected the token (401 Unauthorized): the service account token or kubeconfig credentials have expired or were revoked`;
    if (code === 403) return `${what}: forbidden (403 ${st?.reason ?? 'Forbidden'}): ${st?.message ?? 'no message'}`;
    if (code === 404) return `${what}: gone (404 ${st?.reason ?? 'NotFound'}: ${st?.message ?? 'not found'})`;
    if (typeof code === 'number' && code >= 400) return `${what}: HTTP ${code}${st?.reason ? ` ${st.reason}` : ''}: ${st?.message ?? 'no message'}`;
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    return `${what}: API server unreachable: ${cause?.code ?? cause?.message ?? (e as Error).message}`;
  };

  return {
    name: source.name,
    kind: 'kubernetes',
    async read(opts) {
      let conn;
      try {
        conn = await (api ??= connect());
      } catch (e) {
        api = undefined;
        if (e instanceof LogSourceError) throw e;
        throw new LogSourceError(`kubernetes client: ${(e as Error).message.split('\n')[0]}`);
      }
      const { client, core, namespace } = conn;
      const labels = opts.labels ?? {};
      const problems: string[] = [];
      const alertNs = labels[KUBERNETES_ALERT_LABELS.namespace];
      if (alertNs !== undefined && alertNs !== namespace)
        problems.push(`the alert's namespace "${shown(alertNs)}" is not the configured one; read namespace "${namespace}"`);

      // 1. the pods
      const list = withTimeout(opts.signal, source.timeoutMs);
      const listEx: Exchange = { status: 0, bytes: 0 };
      let pods: V1Pod[];
      try {
        const res = await core.listNamespacedPod(
          { namespace, labelSelector: cfg.labelSelector },
          { middleware: [exchangeMiddleware(client, list.signal, listEx, null)], middlewareMergeStrategy: 'append' },
        );
        if (listEx.tooLarge)
          throw new LogSourceError(
            `the pod list for "${cfg.labelSelector}" in namespace ${namespace} is larger than ${KUBERNETES_MAX_LIST_BYTES / 1024 / 1024} MiB: narrow labelSelector`,
          );
        pods = res.items ?? [];
      } catch (e) {
        if (e instanceof LogSourceError) throw e;
        const line = describe(e, listEx, list.timedOut, opts.signal, `listing pods in namespace ${namespace}`);
        throw new LogSourceError(
          listEx.error?.code === 400 ? `the API server rejected the label selector "${cfg.labelSelector}": ${listEx.error.message ?? 'bad request'}` : line,
          list.timedOut(),
        );
      }
      if (pods.length === 0) {
        return { lines: [], scanned: 0, bytesRead: listEx.bytes, problems: [...problems, `no pod in namespace ${namespace} matches "${cfg.labelSelector}"`] };
      }

      // 2. narrowed by the alert's labels, within the selection
      const alertPod = labels[KUBERNETES_ALERT_LABELS.pod];
      if (alertPod !== undefined) {
        const hit = pods.filter((p) => p.metadata?.name === alertPod);
        if (hit.length) pods = hit;
        else
          problems.push(
            `the alert's pod "${shown(alertPod)}" is not among the ${pods.length} pod(s) "${cfg.labelSelector}" selects (gone, or outside the selection); read those instead`,
          );
      }
      const alertContainer = labels[KUBERNETES_ALERT_LABELS.container];
      if (alertContainer !== undefined && cfg.container && alertContainer !== cfg.container) {
        problems.push(`the alert's container "${shown(alertContainer)}" is not the configured one; read container "${cfg.container}"`);
      }
      const targets: Target[] = [];
      for (const p of pods) {
        const container = chooseContainer(p, cfg.container, alertContainer);
        if (!container) continue;
        const restarts = p.status?.containerStatuses?.find((s) => s.name === container)?.restartCount ?? 0;
        targets.push({ pod: p.metadata?.name ?? '', container, restarts });
      }
      // restarted pods first (a crash is where the story is), then by name for a stable choice
      targets.sort((a, b) => b.restarts - a.restarts || a.pod.localeCompare(b.pod));
      if (targets.length > cfg.maxPods) problems.push(`${targets.length} pods selected; read ${cfg.maxPods} (maxPods), restarted ones first`);
      const chosen = targets.slice(0, cfg.maxPods);
      const streams = chosen.reduce((n, t) => n + (t.restarts > 0 ? 2 : 1), 0);
      const budget = Math.max(MAX_LINE_CHARS, Math.floor(MAX_READ_BYTES / Math.max(1, streams)));

      // 3. each pod's logs, in parallel, each pod under its own deadline
      const sinceSeconds = Math.max(1, Math.round(cfg.sinceMinutes * 60));
      let bytesRead = listEx.bytes;
      let scanned = 0;
      let failedPods = 0;
      let allTimeouts = true;
      const perPod = await Promise.all(
        chosen.map(async (t) => {
          const deadline = withTimeout(opts.signal, source.timeoutMs);
          const readOne = async (previous: boolean): Promise<LogLine[]> => {
            const ex: Exchange = { status: 0, bytes: 0 };
            const origin = `${t.pod}/${t.container}${previous ? ' (previous)' : ''}`;
            try {
              await core.readNamespacedPodLog(
                {
                  name: t.pod,
                  namespace,
                  container: t.container,
                  tailLines: source.tail,
                  sinceSeconds: previous ? undefined : sinceSeconds,
                  timestamps: true,
                  previous,
                },
                { middleware: [exchangeMiddleware(client, deadline.signal, ex, budget)], middlewareMergeStrategy: 'append' },
              );
            } catch (e) {
              bytesRead += ex.bytes;
              throw new LogSourceError(describe(e, ex, deadline.timedOut, opts.signal, `pod ${origin}`), deadline.timedOut());
            }
            bytesRead += ex.bytes;
            scanned += (ex.lines?.length ?? 0) + (ex.dropped ?? 0);
            return (ex.lines ?? []).map((raw) => {
              const { time, rest } = splitLeadingTimestamp(raw);
              return { time, text: capLine(rest), origin };
            });
          };
          const results = await Promise.allSettled([readOne(false), ...(t.restarts > 0 ? [readOne(true)] : [])]);
          const lines: LogLine[] = [];
          let failed = 0;
          for (const r of results) {
            if (r.status === 'fulfilled') lines.push(...r.value);
            else {
              if (opts.signal.aborted) throw opts.signal.reason;
              failed++;
              allTimeouts &&= r.reason instanceof LogSourceError && r.reason.timeout;
              problems.push(r.reason instanceof Error ? r.reason.message : String(r.reason));
            }
          }
          if (failed === results.length) failedPods++;
          return lines;
        }),
      );
      if (chosen.length > 0 && failedPods === chosen.length) {
        throw new LogSourceError(problems.join('; '), allTimeouts);
      }
      // oldest first across pods; lines without a time keep their place after the last timed one
      const all = perPod.flat();
      const keyed = all.map((l, i) => ({ l, i, t: l.time ? Date.parse(l.time) : Number.NaN }));
      let carry = Number.NEGATIVE_INFINITY;
      for (const k of keyed) {
        if (Number.isNaN(k.t)) k.t = carry;
        else carry = k.t;
      }
      keyed.sort((a, b) => a.t - b.t || a.i - b.i);
      const lines = keyed.map((k) => k.l);
      return { lines, scanned, bytesRead, ...(problems.length ? { problems } : {}) };
    },
  };
}
