import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { ConfigError, loadConfig, parseConfig } from '../../src/config';
import { createSourceClients } from '../../src/sources';
import type { Diagnostic } from '../../src/core/diagnostic';
import { buildMessageModel } from '../../src/notifiers/message';
import { renderDiagnostic, renderIncidentSummary, renderParent } from '../../src/slack/render';
import { FakeSlack, checkMessage, mrkdwnTexts } from '../fakes/slack';
import { auth, testApp } from '../support/app';
import { firingPayload } from '../support/fixtures';
import { sampleDiagnostic } from '../notifiers/sample';

/**
 * Issue 7, security: property-based fuzzing of the three places untrusted input enters.
 * - POST /webhook (the real app through inject): random and hostile JSON is answered 202 or
 *   400 with the contract's issues, never 5xx, never a crash.
 * - The config loader: random YAML-ish objects and texts fail only with ConfigError.
 * - The Slack renderer: hostile text in labels, annotations, links and evidence never yields a
 *   live mention and never exceeds Slack's limits.
 */

const HOSTILE = [
  '<!channel>',
  '<!here>',
  '<!everyone>',
  '<@U0123ABC>',
  '<!subteam^S123|team>',
  '<#C123>',
  '<http://evil.example|click>',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  '${HOME}',
  '$${X}',
  '{{ .Alerts }}',
  "'; DROP TABLE x; --",
  '"}) or vector(1) #',
  '\u0000',
  '\u202Eevil\u202C',
  '\ud800',
  '🔥',
  '&lt;!channel&gt;',
  '```',
  '\n\r\t',
  'a'.repeat(5000),
];
const hostileString = fc.oneof(fc.constantFrom(...HOSTILE), fc.string({ maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 30 }));
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(hostileString, { maxLength: 3 }),
  fc.dictionary(hostileString, hostileString, { maxKeys: 3 }),
);

let t: Awaited<ReturnType<typeof testApp>>;
beforeAll(async () => {
  // No route matches: accepted payloads run with no enrichers and go to the console sink.
  t = await testApp({
    server: { auth: { token: 'test-token-0123456789abcdef' }, maxAlerts: 20, rateLimitPerMinute: 100_000 },
    routes: [{ match: { alertname: 'never-matches' }, enrichers: [] }],
  });
});
afterAll(() => t.app.close());

async function post(body: string | Buffer): Promise<{ status: number; json: any }> {
  const res = await t.app.inject({ method: 'POST', url: '/webhook', headers: { ...auth, 'content-type': 'application/json' }, payload: body });
  let json: any;
  try {
    json = res.json();
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, json };
}

function expectContractAnswer(r: { status: number; json: any }): void {
  expect([202, 400]).toContain(r.status);
  if (r.status === 400) {
    expect(r.json.error).toBe('invalid_payload');
    expect(Array.isArray(r.json.issues)).toBe(true);
    expect(r.json.issues.length).toBeGreaterThan(0);
    for (const i of r.json.issues) {
      expect(typeof i.path).toBe('string');
      expect(typeof i.message).toBe('string');
      expect(i.message.length).toBeGreaterThan(0);
    }
  } else {
    expect(typeof r.json.id).toBe('string');
    expect(typeof r.json.duplicate).toBe('boolean');
  }
}

describe('POST /webhook under fuzzing', () => {
  test('random JSON values: 202 or 400 with issues, never 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 4 }), async (v) => {
        expectContractAnswer(await post(JSON.stringify(v)));
      }),
      { numRuns: 300 },
    );
  });

  test('the real payload with any one field replaced by a hostile value: 202 or 400 naming that path', async () => {
    const fields = [
      'version',
      'groupKey',
      'status',
      'receiver',
      'groupLabels',
      'commonLabels',
      'commonAnnotations',
      'externalURL',
      'truncatedAlerts',
      'alerts',
      'alerts.0.status',
      'alerts.0.labels',
      'alerts.0.annotations',
      'alerts.0.startsAt',
      'alerts.0.endsAt',
      'alerts.0.fingerprint',
      'alerts.0.generatorURL',
      'alerts.0.labels.alertname',
      'notification_reason',
    ];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...fields), hostileValue, async (field, value) => {
        const p = firingPayload();
        const keys = field.split('.');
        let o = p;
        for (const k of keys.slice(0, -1)) o = o[k];
        o[keys.at(-1)!] = value;
        const r = await post(JSON.stringify(p));
        expectContractAnswer(r);
        if (r.status === 400)
          expect(r.json.issues.some((i: { path: string }) => i.path === '' || field.startsWith(i.path) || i.path.startsWith(keys[0]!))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  test('hostile label names and values (prototype keys, mentions, control characters) are accepted as data', async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(hostileString, hostileString, { maxKeys: 6 }), async (labels) => {
        const p = firingPayload();
        p.alerts[0].labels = { ...labels, alertname: 'db_pool_exhausted' };
        p.commonLabels = { ...labels };
        p.groupKey = `fuzz:${JSON.stringify(labels)}`;
        const r = await post(JSON.stringify(p));
        expect(r.status).toBe(202);
      }),
      { numRuns: 100 },
    );
    // and nothing leaked onto Object.prototype from a "__proto__" label
    expect(({} as Record<string, unknown>).alertname).toBeUndefined();
  });

  test('bytes that are not JSON, not UTF-8, empty, or nested 100,000 deep: 400, never 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), async (bytes) => {
        const r = await post(Buffer.from(bytes));
        if (r.status === 202) return; // random bytes that happen to be a valid payload: impossible in practice, allowed
        expect(r.status).toBe(400);
        expect(r.json.error).toBe('invalid_payload');
        expect(r.json.issues.length).toBeGreaterThan(0);
      }),
      { numRuns: 200 },
    );
    for (const body of [
      '',
      '   ',
      '['.repeat(100_000) + ']'.repeat(100_000),
      '{"a":'.repeat(50_000) + '1' + '}'.repeat(50_000),
      Buffer.from([0xff, 0xfe, 0x7b, 0x7d]),
    ]) {
      const r = await post(body);
      expect(r.status).toBe(400);
      expect(r.json.issues.length).toBeGreaterThan(0);
    }
  });
});

describe('POST /enrich under fuzzing', () => {
  const body = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.record({
      alert: fc.oneof(
        hostileValue,
        fc.record(
          { labels: fc.oneof(hostileValue, fc.dictionary(hostileString, hostileString, { maxKeys: 4 })), annotations: hostileValue, startsAt: hostileValue },
          { requiredKeys: [] },
        ),
      ),
    }),
    fc.record({ fingerprint: hostileValue }),
    fc.record({ alert: hostileValue, fingerprint: hostileValue, alerts: hostileValue }, { requiredKeys: [] }),
  );
  test('random and hostile bodies: 202 or 400 with issues, never 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(body, fc.constantFrom('', '?notify=false', '?wait=false&notify=0'), async (b, q) => {
        const res = await t.app.inject({
          method: 'POST',
          url: `/enrich${q}`,
          headers: { ...auth, 'content-type': 'application/json' },
          payload: JSON.stringify(b),
        });
        expect(res.statusCode).toBeLessThan(500);
        expect([202, 400]).toContain(res.statusCode);
        const j = res.json();
        if (res.statusCode === 400) expect(j.error === 'invalid_payload' ? j.issues.length > 0 : j.error === 'alertmanager_not_configured').toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe('whole runs under fuzzing (real pipeline, fake Slack)', () => {
  test('hostile labels and annotations: every run is delivered to Slack, and Slack accepted every message', async () => {
    const fake = await FakeSlack.start();
    const app = await testApp({
      slack: {
        token: fake.token,
        apiUrl: fake.url,
        alertsChannel: 'C0ALERTS',
        incidentChannel: 'C0INCIDENT',
        threadSearchWaitMs: 0,
        channelIntervalMs: 0,
        chart: false,
        timeoutMs: 2_000,
      },
      pipeline: { notify: { budgetMs: 5_000, maxAttempts: 2, initialBackoffMs: 10, maxBackoffMs: 10 } },
      routes: [{ match: { alertname: 'db_pool_exhausted' }, enrichers: [] }],
    });
    // label NAMES with a lone surrogate are the known linksOf bug (see below); values may hold anything
    const name = hostileString.filter((k) => !/[\ud800-\udfff]/.test(k) && k.length > 0);
    try {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.dictionary(name, hostileString, { maxKeys: 5 }),
          fc.dictionary(fc.constantFrom('summary', 'description', 'runbook_url', 'dashboard_url'), hostileString, { maxKeys: 4 }),
          async (labels, annotations) => {
            const p = firingPayload();
            p.groupKey = `fuzz-run-${n++}`;
            p.alerts[0].labels = { ...labels, alertname: 'db_pool_exhausted' };
            p.alerts[0].annotations = annotations;
            p.commonLabels = p.alerts[0].labels;
            p.commonAnnotations = annotations;
            const res = await app.app.inject({
              method: 'POST',
              url: '/webhook',
              headers: { ...auth, 'content-type': 'application/json' },
              payload: JSON.stringify(p),
            });
            expect(res.statusCode).toBe(202);
            const d = await app.pipeline.wait(res.json().id);
            expect(d.notifications).toEqual([expect.objectContaining({ notifier: 'slack', status: 'sent' })]);
          },
        ),
        { numRuns: 150 },
      );
      expect(fake.calls.filter((c) => !c.ok)).toEqual([]);
    } finally {
      await app.app.close();
      await fake.close();
    }
  });
});

describe('the config loader under fuzzing', () => {
  const section = fc.constantFrom('server', 'state', 'pipeline', 'sources', 'slack', 'links', 'routes', 'enrichers', 'log', 'unknown');
  const yamlish: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: 'small' },
      hostileValue,
      fc.array(tie('node'), { maxLength: 3 }),
      fc.dictionary(fc.oneof(hostileString, section), tie('node'), { maxKeys: 4 }),
    ),
  })).node;
  const env = { PORT: '8080', X: '1', TOKEN: 'abcdefghijklmnopqrstuvwxyz' };

  function onlyConfigError(f: () => unknown): void {
    try {
      f();
    } catch (e) {
      if (!(e instanceof ConfigError)) throw new Error(`not a ConfigError: ${(e as Error)?.stack ?? String(e)}`, { cause: e });
      expect(e.issues.length).toBeGreaterThan(0);
      for (const i of e.issues) expect(typeof i.path).toBe('string');
    }
  }

  test('random objects under the real top-level keys: a Config or a ConfigError, nothing else', () => {
    fc.assert(
      fc.property(
        fc.dictionary(section, yamlish, { maxKeys: 5 }),
        fc.dictionary(fc.constantFrom('PORT', 'HOST', 'X'), hostileString, { maxKeys: 3 }),
        (raw, e) => {
          onlyConfigError(() => parseConfig(raw, { ...env, ...e }));
        },
      ),
      { numRuns: 500 },
    );
  });

  test('random top-level values (arrays, strings, numbers) and nested shapes: only ConfigError', () => {
    fc.assert(
      fc.property(yamlish, (raw) => onlyConfigError(() => parseConfig(raw, env))),
      { numRuns: 500 },
    );
  });

  test('credentials in source URLs: a ConfigError at load, or clients that build (no URIError at start)', () => {
    const cred = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('%ZZ', '%', '%E0%A4%A', 'p%40ss', '%F0%9F%94%A5'));
    fc.assert(
      fc.property(cred, cred, fc.constantFrom('prometheus', 'alertmanager'), (user, pass, source) => {
        let config;
        try {
          config = parseConfig({ sources: { [source]: { url: `http://${user}:${pass}@127.0.0.1:9/` } } }, env);
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
          return;
        }
        const clients = createSourceClients(config.sources);
        void clients.close();
      }),
      { numRuns: 300 },
    );
  });

  /** "Billion laughs": nine levels of nine aliases (yaml's maxAliasCount refuses it). */
  const LAUGHS = [
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    ...'bcdefghi'.split('').map((c, i) => `${c}: &${c} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`),
  ].join('\n');

  test('random YAML text in a file: only ConfigError', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-fuzz-config-'));
    const file = path.join(dir, 'c.yml');
    try {
      fc.assert(
        fc.property(
          fc.oneof(
            fc.string({ maxLength: 200 }),
            yamlish.map((v) => stringify(v)),
            fc.constantFrom(LAUGHS, 'a: *missing', 'a: &x [*x]', '!!js/function "x"', 'a: !!binary x', '- - - -', '{', 'a: b: c', '? [a]\n: b'),
          ),
          (text) => {
            fs.writeFileSync(file, text);
            onlyConfigError(() => loadConfig(file, env));
          },
        ),
        { numRuns: 300 },
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the Slack renderer under fuzzing', () => {
  /** A mention or channel link Slack would render: `<!…>`, `<@…>`, `<#…>`; or a link whose URL did not come from us. */
  const LIVE = /<[!@#]|<(?!https?:\/\/)[^<>]*\|/;

  const urlish = fc.oneof(
    hostileString,
    hostileString.map((s) => `https://runbooks.example/${s}`),
    hostileString.map((s) => `http://x.example/a|<!channel>${s}`),
    fc.constantFrom('javascript:alert(1)', 'http://a.example/<!here>', 'https://a.example/>|<!channel', 'http://a.example/ <@U1>'),
  );

  test('hostile labels, annotations, URLs, causes and evidence: within limits, no live mention', () => {
    const noLoneSurrogate = (s: string) => !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
    fc.assert(
      fc.property(
        fc.dictionary(hostileString.filter(noLoneSurrogate), hostileString.filter(noLoneSurrogate), { maxKeys: 5 }),
        fc.record({ summary: hostileString, description: hostileString, runbook_url: urlish, dashboard_url: urlish }),
        fc.array(hostileString, { minLength: 1, maxLength: 6 }),
        urlish,
        (labels, annotations, texts, generatorURL) => {
          const d: Diagnostic = sampleDiagnostic();
          d.alertname = texts[0]!;
          d.alert = { ...d.alert!, labels: { ...labels, alertname: texts[0]! }, annotations, generatorURL, externalURL: generatorURL };
          d.causes[0] = { ...d.causes[0]!, title: texts.join(' '), evidence: texts, actions: texts };
          d.enrichments[0] = { ...d.enrichments[0]!, summary: texts.join('\n'), queries: texts.map((q) => ({ source: 'prometheus' as const, query: q })) };
          d.enrichments[3] = { ...d.enrichments[3]!, error: texts.join(' ') };
          d.enrichments[2] = {
            ...d.enrichments[2]!,
            sections: [
              { type: 'code', code: texts.join('\n') },
              { type: 'fields', fields: texts.map((x) => ({ label: x, value: x })) },
              { type: 'table', columns: texts, rows: [texts] },
            ],
          };
          const m = buildMessageModel(d, { prometheus: 'http://prom.example:9090', grafana: 'http://grafana.example', grafanaDashboard: texts[0]! });
          for (const msg of [renderDiagnostic(m), renderParent(m), renderIncidentSummary(m, 'https://slack.example/archives/C1/p1')]) {
            expect(checkMessage(msg)).toBeUndefined();
            for (const text of mrkdwnTexts(msg)) expect(text).not.toMatch(LIVE);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  // A label NAME with a lone UTF-16 surrogate (JSON "\ud800" is valid) once made the silence
  // link's encodeURIComponent throw, so no notifier could render the diagnostic at all.
  test('a lone surrogate in a label name still renders', () => {
    const d = sampleDiagnostic();
    d.alert!.labels['db-\ud800'] = 'x';
    const msg = renderDiagnostic(buildMessageModel(d));
    expect(checkMessage(msg)).toBeUndefined();
  });

  test('the LIVE pattern catches what it must (the check can fail)', () => {
    for (const s of ['<!channel>', 'x <@U1>', '<#C1|general>', '<mailto:a@b|x>']) expect(s).toMatch(LIVE);
    for (const s of ['&lt;!channel&gt;', '<https://a.example/x|Runbook>']) expect(s).not.toMatch(LIVE);
  });
});
