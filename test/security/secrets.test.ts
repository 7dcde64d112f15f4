import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildApp, type Service } from '../../src/app';
import { ConfigError, loadConfig, parseConfig } from '../../src/config';
import type { Diagnostic } from '../../src/core/diagnostic';
import type { PostgresEvidence } from '../../src/core/evidence';
import { secretsOf } from '../../src/logger';
import { FakeSlack } from '../fakes/slack';
import { capturingLogger, textSink } from '../support/capture';
import { firingPayload } from '../support/fixtures';
import { closedPortUrl } from '../support/http-stubs';
import { startPostgres, type TestPostgres } from '../support/postgres';

/**
 * Issue 7, security: the secrets of a configuration (bearer token, Slack token, signing secret,
 * database passwords, passwords in source URLs) appear in no log line (every level, Fastify's
 * request logs included), no Slack call, no Diagnostic, no stored byte and no error message,
 * on a full run that succeeds and on runs where the secrets are wrong (PostgreSQL rejects the
 * password, Slack answers invalid_auth) or the sources are down.
 */

const SECRETS = {
  BEARER: 'bearer-Tok3n-aaaaaaaaaaaaaaaa',
  PG_PASSWORD: 'PgMon1torPassw0rdSecret',
  PG_WRONG: 'PgWr0ngPasswordSecret',
  PROM_PASSWORD: 'Pr0mBasicAuthSecret',
  AM_PASSWORD: 'AmBasicAuthS3cret',
  SIGNING: 'S1gningSecretValue0123456789',
};

let pg: TestPostgres;
let fake: FakeSlack;
let dir: string;
let down: string;
beforeAll(async () => {
  pg = await startPostgres();
  await pg.createRole('pf_secret_monitor', SECRETS.PG_PASSWORD, { monitor: true });
  fake = await FakeSlack.start({ token: 'xoxb-111-222-SlackB0tTokenSecret' });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-secrets-'));
  down = await closedPortUrl();
}, 60_000);
afterAll(async () => {
  await fake?.close();
  await pg?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Every place a secret could surface during one run of the app with `slackToken`. */
async function fullRun(slackToken: string, name: string): Promise<{ diagnostic: Diagnostic; surfaces: Record<string, string> }> {
  const statePath = path.join(dir, `${name}.sqlite`);
  const host = `127.0.0.1:${pg.port}`;
  const downHost = new URL(down).host;
  const env = { ...SECRETS, SLACK_TOKEN: slackToken };
  const config = parseConfig(
    {
      server: { auth: { token: '${BEARER}' } },
      state: { path: statePath },
      log: { level: 'trace' },
      pipeline: { budgetMs: 5_000, enricherTimeoutMs: 3_000, notify: { budgetMs: 3_000, maxAttempts: 2, initialBackoffMs: 50, maxBackoffMs: 100 } },
      sources: {
        postgres: [
          { name: 'orders', url: `postgres://pf_secret_monitor:\${PG_PASSWORD}@${host}/postgres`, breakerThreshold: 100 },
          { name: 'replica', url: `postgres://pf_secret_monitor:\${PG_WRONG}@${host}/postgres`, breakerThreshold: 100 },
        ],
        prometheus: { url: `http://prom:\${PROM_PASSWORD}@${downHost}/`, timeoutMs: 1_000 },
        alertmanager: { url: `http://am:\${AM_PASSWORD}@${downHost}/`, timeoutMs: 1_000 },
      },
      slack: {
        token: '${SLACK_TOKEN}',
        signingSecret: '${SIGNING}',
        apiUrl: fake.url,
        alertsChannel: 'C0ALERTS',
        threadSearchWaitMs: 0,
        channelIntervalMs: 0,
        chart: false,
        timeoutMs: 2_000,
        retries: 0,
      },
      routes: [{ match: { alertname: 'db_pool_exhausted' }, enrichers: ['postgres', 'pool', 'traffic', 'related_alerts'] }],
    },
    env,
  );
  // The secrets as the running process knows them (after ${VAR} substitution): the redactor's input.
  expect(secretsOf(config)).toEqual(
    expect.arrayContaining([SECRETS.BEARER, SECRETS.PG_PASSWORD, SECRETS.PG_WRONG, SECRETS.PROM_PASSWORD, SECRETS.AM_PASSWORD, SECRETS.SIGNING, slackToken]),
  );
  const log = capturingLogger(secretsOf(config), 'trace');
  const out = textSink();
  const service: Service = await buildApp(config, { logger: log.logger, redact: log.redact, out: out.out });
  const bodies: string[] = [];
  let diagnostic: Diagnostic;
  try {
    const addr = await service.app.listen({ host: '127.0.0.1', port: 0 });
    const call = async (p: string, init: RequestInit) => {
      const r = await fetch(`${addr}${p}`, { ...init, signal: AbortSignal.timeout(20_000) });
      const text = await r.text();
      bodies.push(`${r.status} ${JSON.stringify([...r.headers])} ${text}`);
      return { status: r.status, text };
    };
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${SECRETS.BEARER}` };
    const accepted = await call('/webhook', { method: 'POST', headers, body: JSON.stringify(firingPayload()) });
    expect(accepted.status).toBe(202);
    const id = (JSON.parse(accepted.text) as { id: string }).id;
    diagnostic = await service.pipeline.wait(id);
    await call(`/diagnostics/${id}`, { headers });
    await call('/enrich?wait=true&notify=false', {
      method: 'POST',
      headers,
      body: JSON.stringify({ alert: { labels: { alertname: 'db_pool_exhausted', database: 'orders' } } }),
    });
    await call('/enrich', {
      method: 'POST',
      headers: { ...headers, authorization: `Basic ${Buffer.from(`x:${SECRETS.BEARER}`).toString('base64')}` },
      body: '{not json',
    });
    await call('/webhook', { method: 'POST', headers: { ...headers, authorization: `Bearer ${SECRETS.BEARER}x` }, body: '{}' });
    await call('/metrics', {});
    await call('/readyz', {});
  } finally {
    await service.app.close();
  }
  const stored =
    fs.readFileSync(statePath).toString('latin1') + (fs.existsSync(`${statePath}-wal`) ? fs.readFileSync(`${statePath}-wal`).toString('latin1') : '');
  return {
    diagnostic,
    surfaces: {
      logs: log.lines.join(''),
      console: out.text(),
      slackCalls: JSON.stringify(fake.calls),
      slackMessages: JSON.stringify(fake.messages),
      diagnostic: JSON.stringify(diagnostic),
      responses: bodies.join('\n'),
      stateFile: stored,
    },
  };
}

function expectNoSecret(surfaces: Record<string, string>, secrets: string[]): void {
  for (const [where, text] of Object.entries(surfaces)) {
    if (where !== 'console') expect(text.length).toBeGreaterThan(0);
    for (const s of secrets) {
      for (const form of new Set([s, encodeURIComponent(s), Buffer.from(s).toString('base64')])) {
        if (text.includes(form))
          throw new Error(`secret found in ${where}: …${text.slice(Math.max(0, text.indexOf(form) - 120), text.indexOf(form) + form.length + 40)}…`);
      }
    }
  }
}

test('a full run: the secrets appear nowhere, while the failures they caused are reported', async () => {
  const { diagnostic, surfaces } = await fullRun(fake.token, 'ok');
  // the run really happened: Slack got the diagnostic, the good database was queried, the wrong password was refused
  expect(diagnostic.notifications).toEqual([expect.objectContaining({ notifier: 'slack', status: 'sent' })]);
  const dbs = (diagnostic.enrichments.find((e) => e.enricher === 'postgres')!.evidence as unknown as PostgresEvidence).databases;
  expect(dbs.find((d) => d.name === 'orders')!.failure).toBeNull();
  expect(dbs.find((d) => d.name === 'replica')!.failure).toMatchObject({ kind: 'auth' });
  expect(diagnostic.enrichments.find((e) => e.enricher === 'pool')!.status).toMatch(/error|timeout/);
  expect(diagnostic.enrichments.find((e) => e.enricher === 'related_alerts')!.status).toMatch(/error|timeout/);
  expect(surfaces.logs).toContain('"msg":"notification admitted"');
  expect(surfaces.logs).toContain('"msg":"unauthorized request"');
  expect(surfaces.logs).toContain('postgres investigation failed');
  expect(surfaces.slackMessages).toContain('db_pool_exhausted');
  expectNoSecret(surfaces, [...Object.values(SECRETS), fake.token]);
});

test('Slack answers invalid_auth: the failure is recorded and logged without the token', async () => {
  const wrong = 'xoxb-999-888-Wr0ngSlackTokenSecret';
  fake.calls.length = 0;
  const { diagnostic, surfaces } = await fullRun(wrong, 'invalid-auth');
  expect(diagnostic.notifications).toEqual([expect.objectContaining({ notifier: 'slack', status: 'failed', detail: expect.stringContaining('invalid_auth') })]);
  const failed = fake.calls.filter((c) => c.error === 'invalid_auth');
  expect(failed.length).toBeGreaterThan(0);
  expect(surfaces.logs).toContain('invalid_auth');
  expect(surfaces.responses).toContain('invalid_auth'); // GET /diagnostics shows the failed notification
  expectNoSecret(surfaces, [...Object.values(SECRETS), wrong, fake.token]);
});

test('configuration errors name paths, never the secret values next to them', () => {
  const cases = [
    'server:\n  auth:\n    token: "ShortSecret9"\nslack:\n  token: "notslack-SECRETVALUE123"\n  signingSecret: "sig"\nsources:\n  postgres:\n    - name: a\n      url: "mysql://u:PgPwSECRET@h/db"\n  prometheus:\n    url: "ftp://u:PromSECRET@h/"\n',
    'server:\n  auth:\n    token: "TokenSECRET0123456789 \n  port: x\n',
    'slack: { token: xoxb-SECRET-abc, signingSecret: SIGSECRET123, apiUrl: notaurl }\nsources: { postgres: [ { name: "bad name", url: "postgres://u:PgSECRET@h/d", timeoutMs: -1 } ] }\n',
    'server:\n  auth: { token: "TokenSECRET0123456789" }\n  auth: { token: "TokenSECRET0123456789" }\n',
    'server:\n\tauth: TokenSECRET0123456789\n',
    'sources:\n  prometheus:\n    url: "http://u:%ZZSECRET@h/"\n',
  ];
  const file = path.join(dir, 'bad-config.yml');
  for (const c of cases) {
    fs.writeFileSync(file, c);
    let message = '';
    try {
      loadConfig(file, {});
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      message = (e as Error).message;
    }
    expect(message).toMatch(/^invalid configuration:\n {2}\S/);
    expect(message).not.toMatch(/SECRET|Secret9|sig"/);
  }
});
