import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServerProcess, tempDir, type ServerProcess } from './processes';

/**
 * The real Alertmanager (Debian's `prometheus-alertmanager` 0.25) for tests, gossip off, on a
 * free port in a temp dir, with helpers to post alerts (`POST /api/v2/alerts`) and manage
 * silences (`POST /api/v2/silences`, `DELETE /api/v2/silence/{id}`). Ready in about a second.
 */

export const ALERTMANAGER_BIN = process.env.ALERTMANAGER_BIN ?? '/usr/bin/prometheus-alertmanager';

/** A config that routes everything to a receiver with no integrations. */
export const NULL_ALERTMANAGER_CONFIG = `route:
  receiver: 'null'
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: 'null'
`;

/**
 * A config that sends every group to one webhook (our receiver's `POST /webhook`), fast timers,
 * optionally with `Authorization: Bearer <token>` and a `tls_config` (the CA to trust, and a client
 * certificate and key to present: prometheus/common `config/http_config.go`, type TLSConfig,
 * `ca_file`, `cert_file`, `key_file`; prometheus.io/docs/alerting/latest/configuration/#tls_config).
 */
export function webhookAlertmanagerConfig(
  url: string,
  opts: {
    bearerToken?: string;
    tls?: { caFile: string; certFile?: string; keyFile?: string };
    groupBy?: string[];
    groupWait?: string;
    groupInterval?: string;
    repeatInterval?: string;
    sendResolved?: boolean;
  } = {},
): string {
  const tls = opts.tls
    ? `\n          tls_config:\n            ca_file: ${JSON.stringify(opts.tls.caFile)}` +
      (opts.tls.certFile ? `\n            cert_file: ${JSON.stringify(opts.tls.certFile)}\n            key_file: ${JSON.stringify(opts.tls.keyFile)}` : '')
    : '';
  const authorization = opts.bearerToken ? `\n          authorization:\n            credentials: ${JSON.stringify(opts.bearerToken)}` : '';
  const auth = authorization || tls ? `\n        http_config:${authorization}${tls}` : '';
  return `route:
  receiver: pagefirst
  group_by: ${JSON.stringify(opts.groupBy ?? ['alertname'])}
  group_wait: ${opts.groupWait ?? '1s'}
  group_interval: ${opts.groupInterval ?? '1s'}
  repeat_interval: ${opts.repeatInterval ?? '1h'}
receivers:
  - name: pagefirst
    webhook_configs:
      - url: ${JSON.stringify(url)}
        send_resolved: ${opts.sendResolved ?? true}${auth}
`;
}

/** An alert as `POST /api/v2/alerts` takes it. */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt?: string;
  endsAt?: string;
  generatorURL?: string;
}

export interface SilenceSpec {
  matchers: Array<{ name: string; value: string; isRegex?: boolean; isEqual?: boolean }>;
  startsAt?: string;
  endsAt?: string;
  createdBy?: string;
  comment?: string;
}

export interface AlertmanagerServer extends ServerProcess {
  /** Posts alerts; throws unless Alertmanager answers 200. */
  postAlerts(alerts: PostableAlert[]): Promise<void>;
  /** Creates a silence (default: from now for one hour) and returns its id. */
  createSilence(spec: SilenceSpec): Promise<string>;
  /** Expires a silence. */
  expireSilence(id: string): Promise<void>;
  /** `GET /api/v2/alerts` as returned. */
  alerts(): Promise<any[]>;
}

async function ok(res: Response, what: string): Promise<Response> {
  if (res.status !== 200) throw new Error(`alertmanager ${what}: HTTP ${res.status}: ${await res.text()}`);
  return res;
}

/**
 * Starts Alertmanager with `config` (YAML; default `NULL_ALERTMANAGER_CONFIG`), gossip off unless
 * `cluster` names its gossip address and peers (an HA pair on one machine). Stop it with `stop()` in afterAll.
 */
export async function startAlertmanager(
  opts: { config?: string; cluster?: { listen: string; peers: string[]; peerTimeout?: string } } = {},
): Promise<AlertmanagerServer> {
  const dir = tempDir('alertmanager');
  const configFile = join(dir, 'alertmanager.yml');
  writeFileSync(configFile, opts.config ?? NULL_ALERTMANAGER_CONFIG);
  const proc = await startServerProcess({
    name: 'alertmanager',
    bin: ALERTMANAGER_BIN,
    dir,
    readyPath: '/-/ready',
    args: (port) => [
      `--config.file=${configFile}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      ...(opts.cluster
        ? [
            `--cluster.listen-address=${opts.cluster.listen}`,
            ...opts.cluster.peers.map((p) => `--cluster.peer=${p}`),
            ...(opts.cluster.peerTimeout ? [`--cluster.peer-timeout=${opts.cluster.peerTimeout}`] : []),
          ]
        : ['--cluster.listen-address=']),
      '--log.level=warn',
    ],
  });
  const json = (body: unknown): RequestInit => ({
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5_000),
  });
  return {
    ...proc,
    async postAlerts(alerts) {
      await ok(await fetch(`${proc.url}/api/v2/alerts`, json(alerts)), 'post alerts');
    },
    async createSilence(spec) {
      const now = Date.now();
      const body = {
        matchers: spec.matchers.map((m) => ({ isRegex: false, isEqual: true, ...m })),
        startsAt: spec.startsAt ?? new Date(now - 1_000).toISOString(),
        endsAt: spec.endsAt ?? new Date(now + 3_600_000).toISOString(),
        createdBy: spec.createdBy ?? 'pagefirst-tests',
        comment: spec.comment ?? 'test silence',
      };
      const res = await ok(await fetch(`${proc.url}/api/v2/silences`, json(body)), 'create silence');
      return ((await res.json()) as { silenceID: string }).silenceID;
    },
    async expireSilence(id) {
      await ok(await fetch(`${proc.url}/api/v2/silence/${encodeURIComponent(id)}`, { method: 'DELETE', signal: AbortSignal.timeout(5_000) }), 'expire silence');
    },
    async alerts() {
      const res = await ok(await fetch(`${proc.url}/api/v2/alerts`, { signal: AbortSignal.timeout(5_000) }), 'get alerts');
      return (await res.json()) as any[];
    },
  };
}
