/**
 * Real processes for the replicas tests: a state PostgreSQL that can be stopped and started again
 * on its data, receiver processes sharing it (`state.url`), and an Alertmanager pair gossiping on
 * 127.0.0.1 (`--cluster.listen-address`, `--cluster.peer`), each peer sending to its own replica.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { serverOwner, startPostgresServer, type PostgresServer } from '../../demo/postgres';
import { startAlertmanager, webhookAlertmanagerConfig, type AlertmanagerServer } from '../support/alertmanager';
import { receiverConfig, startServer, type ServerProcess } from '../support/process';
import { freePort } from '../support/processes';
import { until } from '../support/wait';

export const TOKEN = 'ha-token-0123456789abcdef';

/** A private PostgreSQL holding a `pagefirst_state` database, which `down()` stops and `up()` starts again on the same data and port. */
export interface StateDb {
  url: string;
  server: PostgresServer;
  down(): Promise<void>;
  up(): Promise<void>;
  /** Runs one query as the superuser on the state database. */
  query<T = Record<string, unknown>>(text: string, values?: unknown[]): Promise<T[]>;
  stop(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function startStateDb(): Promise<StateDb> {
  const server = await startPostgresServer({ statStatements: false });
  const admin = new Client({ connectionString: server.adminUrl });
  await admin.connect();
  await admin.query('CREATE DATABASE pagefirst_state');
  await admin.end();
  const url = server.adminUrl.replace(/\/postgres$/, '/pagefirst_state');
  // postmaster.opts is the command line the postmaster was started with (written by PostgreSQL at start).
  const opts = fs.readFileSync(join(server.dataDir, 'postmaster.opts'), 'utf8').trim();
  const argv = [...opts.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
  let pid = server.pid;
  let restarted: ReturnType<typeof spawn> | undefined;
  const owner = serverOwner();
  const db: StateDb = {
    url,
    server,
    async down() {
      process.kill(pid, 'SIGINT'); // fast shutdown: sessions are ended, as in a restart or failover
      await until('the state PostgreSQL to stop', () => !alive(pid), 20_000, 50);
    },
    async up() {
      const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], ...(owner ?? {}), env: { ...process.env, LC_ALL: 'C' } });
      let log = '';
      child.stderr.on('data', (d: Buffer) => (log += d.toString()));
      await until('the state PostgreSQL to accept connections', () => log.includes('ready to accept connections'), 20_000, 50);
      child.unref();
      child.stderr.removeAllListeners('data');
      child.stderr.resume(); // keep draining its log, without holding the test process open
      (child.stderr as unknown as { unref?: () => void }).unref?.();
      restarted = child;
      pid = child.pid!;
    },
    async query(text, values = []) {
      const c = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
      await c.connect();
      try {
        return (await c.query(text, values)).rows;
      } finally {
        await c.end();
      }
    },
    async stop() {
      if (pid !== server.pid && alive(pid)) {
        process.kill(pid, 'SIGQUIT');
        await until('the restarted PostgreSQL to stop', () => !alive(pid), 20_000, 50).catch(() => process.kill(pid, 'SIGKILL'));
      }
      restarted?.stderr?.destroy();
      await server.stop();
    },
  };
  return db;
}

/** A receiver process on the shared store, with the given extra config lines (YAML). */
export async function startReplica(name: string, stateUrl: string, lines: string[]): Promise<ServerProcess & { dir: string }> {
  const { dir, config } = receiverConfig(`ha-${name}`, TOKEN, [`state: { url: "${stateUrl}", connectTimeoutMs: 1000, statementTimeoutMs: 2000 }`, ...lines]);
  // receiverConfig writes state.path first; a replica has only state.url
  fs.writeFileSync(config, fs.readFileSync(config, 'utf8').replace(/^state: \{ path: .*\n/m, ''));
  const proc = await startServer(['--config', config], { LOG_LEVEL: 'info' });
  return { ...proc, dir };
}

export function kill(p: ServerProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | string> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill(signal);
  return p.exited;
}

export interface AlertmanagerPeer extends AlertmanagerServer {
  /** Peers this one sees in its cluster status (itself included). */
  peers(): Promise<number>;
}

/** Two Alertmanager peers gossiping on 127.0.0.1, peer i sending its webhooks to `receivers[i]`. */
export async function startAlertmanagerPair(receivers: [string, string]): Promise<[AlertmanagerPeer, AlertmanagerPeer]> {
  const gossip = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
  const peers: AlertmanagerPeer[] = [];
  for (let i = 0; i < 2; i++) {
    const am = await startAlertmanager({
      config: webhookAlertmanagerConfig(`${receivers[i]}/webhook`, { bearerToken: TOKEN, groupBy: ['alertname', 'service'] }),
      cluster: { listen: gossip[i]!, peers: [gossip[1 - i]!], peerTimeout: '3s' },
    });
    peers.push({
      ...am,
      async peers() {
        const res = await fetch(`${am.url}/api/v2/status`, { signal: AbortSignal.timeout(5_000) });
        const body = (await res.json()) as { cluster?: { peers?: unknown[] } };
        return body.cluster?.peers?.length ?? 0;
      },
    });
  }
  return [peers[0]!, peers[1]!];
}

/** POSTs a webhook body to a replica; resolves with the status (and body when JSON). */
export async function postWebhook(url: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/webhook`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed };
}
