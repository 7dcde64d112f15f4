import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config';
import { TOKEN, testApp } from '../support/app';
import { check } from '../support/monitoring-tools';
import { ROOT } from '../support/process';
import { startAlertmanager, webhookAlertmanagerConfig, type AlertmanagerServer } from '../support/alertmanager';
import { createTestCa, writePair } from '../support/pki';
import { until } from '../support/wait';

/**
 * The real Alertmanager posting to the receiver over mutual TLS: its webhook_config's
 * `http_config.tls_config` (`ca_file`, `cert_file`, `key_file`: prometheus/common
 * `config/http_config.go`, type TLSConfig; prometheus.io/docs/alerting/latest/configuration/#tls_config)
 * trusts our CA and presents a client certificate from the CA in `server.tls.clientCaFile`. A
 * second webhook_config that presents no certificate is refused at the handshake.
 */

const dir = mkdtempSync(join(tmpdir(), 'pagefirst-tls-am-'));
const ca = createTestCa('pagefirst test CA');
const caFile = join(dir, 'ca.crt');
writeFileSync(caFile, ca.certPem);
const server = writePair(dir, 'server', ca.issue('pagefirst', 'server'));
const client = writePair(dir, 'alertmanager', ca.issue('alertmanager', 'client'));

let t: Awaited<ReturnType<typeof testApp>>;
let am: AlertmanagerServer | undefined;
afterAll(async () => {
  await am?.stop();
  await t?.app.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `alertmanager_notification_requests_failed_total{integration="webhook"}` (Alertmanager notify/notify.go), 0 when absent. */
async function failedWebhookRequests(a: AlertmanagerServer): Promise<number> {
  const text = await (await fetch(`${a.url}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  const m = text.match(/^alertmanager_notification_requests_failed_total\{[^}]*integration="webhook"[^}]*\} (\S+)$/m);
  return m ? Number(m[1]) : 0;
}

test('Alertmanager with a client certificate reaches the receiver over mutual TLS and the run is admitted; without one it is refused', async () => {
  t = await testApp({
    server: { auth: { token: TOKEN }, tls: { ...server, clientCaFile: caFile } },
    routes: [{ match: { alertname: 'db_pool_exhausted' }, enrichers: [] }],
  });
  const url = await t.app.listen({ host: '127.0.0.1', port: 0 });
  const config =
    webhookAlertmanagerConfig(`${url}/webhook`, { bearerToken: TOKEN, tls: { caFile, ...client } }) +
    // the same receiver again, trusting our CA but presenting no client certificate
    `      - url: ${JSON.stringify(`${url}/webhook`)}\n        http_config:\n          tls_config:\n            ca_file: ${JSON.stringify(caFile)}\n`;
  am = await startAlertmanager({ config });
  await am.postAlerts([{ labels: { alertname: 'db_pool_exhausted', service: 'checkout', severity: 'page' }, annotations: { summary: 'pool exhausted' } }]);

  const admitted = await until('the run admitted from Alertmanager', () => t.log.records().find((r) => r.msg === 'notification admitted'), 30_000, 100);
  expect(admitted).toMatchObject({ trigger: 'webhook', groupKey: '{}:{alertname="db_pool_exhausted"}', duplicate: false });
  expect(await t.pipeline.wait(String(admitted.runId))).toMatchObject({ alertname: 'db_pool_exhausted', status: 'firing' });
  const refused = await until('the certificate-less request refused', () => t.log.records().find((r) => r.msg === 'TLS handshake refused'), 30_000, 100);
  expect(String(refused.reason)).toMatch(/CERTIFICATE/);
  const a = am;
  await until('Alertmanager counting the refused webhook as failed', async () => (await failedWebhookRequests(a)) > 0, 30_000, 200);
  // what Alertmanager's own log says (docs/operations.md, Troubleshooting, quotes it)
  await until('Alertmanager logging the refusal', () => a.logs().includes('remote error: tls: certificate required'), 30_000, 200);
  expect(t.log.records().filter((r) => r.msg === 'notification admitted')).toHaveLength(1);
});

describe('docs/operations.md, "TLS and mutual TLS"', () => {
  const doc = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
  const section = doc.slice(doc.indexOf('### TLS and mutual TLS'));
  const blocks = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);

  test("the receiver's example is a valid server.tls", () => {
    const receiver = blocks.find((b) => b.includes('clientCaFile'))!;
    const config = parseConfig(parse(receiver), { PAGEFIRST_TOKEN: TOKEN });
    expect(config.server.tls).toEqual({
      certFile: '/etc/pagefirst-tls/tls.crt',
      keyFile: '/etc/pagefirst-tls/tls.key',
      clientCaFile: '/etc/pagefirst-tls/ca.crt',
    });
  });

  test("Alertmanager's example webhook_config passes amtool check-config", async () => {
    const receivers = blocks.find((b) => b.includes('tls_config:'))!;
    const f = join(dir, 'docs-alertmanager.yml');
    writeFileSync(f, `route:\n  receiver: pagefirst\n${receivers}`);
    expect(await check('amtool', ['check-config', f])).toContain('SUCCESS');
  });
});
