import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { issuesOf } from '../alertmanager/payload';
import { webhookBodyParser, type WebhookBodyResult } from '../alertmanager/intake';
import { manualGroup } from '../alertmanager/manual-group';
import type { AlertGroup } from '../core/alert';
import type { Metrics } from '../metrics';
import type { Pipeline } from '../pipeline/pipeline';
import type { AlertmanagerClient } from '../sources/alertmanager';
import { StoreError, type StateStore } from '../store/types';
import { requiredMessage } from '../core/zod';
import { authorized } from './auth';
import { HttpError, invalidPayload } from './errors';

export interface EndpointDeps {
  pipeline: Pipeline;
  store: Pick<StateStore, 'getRun' | 'groupKeyOf' | 'checkWritable' | 'kind' | 'where'>;
  metrics: Metrics;
  alertmanager?: AlertmanagerClient;
  token?: string;
  maxAlerts: number;
  rateLimitPerMinute: number;
  /** How long `?wait=true` waits for a run before answering 202. */
  waitMs: number;
  isReady: () => string | undefined;
}

const labelSet = z.record(z.string(), z.string());
const manualAlertSchema = z.strictObject({
  alert: z.looseObject({
    labels: labelSet.refine((l) => typeof l.alertname === 'string' && l.alertname.length > 0, 'must include alertname'),
    annotations: labelSet.default({}),
    startsAt: z.iso.datetime({ offset: true }).optional(),
  }),
});
const fingerprintBodySchema = z.strictObject({ fingerprint: z.string().regex(/^[0-9a-f]{1,64}$/i, 'must be a hex fingerprint') });
const flag = (v: unknown) => v === 'true' || v === '1' || v === '';

/** Registers /webhook, /enrich, /diagnostics/:id, /healthz, /readyz and /metrics. */
export function registerEndpoints(app: FastifyInstance, deps: EndpointDeps): void {
  const { pipeline, metrics } = deps;
  // Alertmanager's payload or Grafana's contact point body (alertmanager/intake.ts)
  const parseWebhookBody = webhookBodyParser(deps.maxAlerts);

  const requireAuth = async (req: FastifyRequest, reply: FastifyReply) => {
    if (deps.token === undefined) return;
    if (!authorized(req.headers.authorization, deps.token)) {
      req.log.warn({ url: req.url.split('?')[0] }, 'unauthorized request');
      return reply.code(401).header('WWW-Authenticate', 'Bearer').send({ error: 'unauthorized' });
    }
  };

  const admit = async (group: AlertGroup, trigger: 'webhook' | 'manual', notify = true) => {
    try {
      return await pipeline.admit(group, trigger, { notify });
    } catch (e) {
      if (e instanceof StoreError) {
        metrics.storeErrors.inc({ operation: 'admit' });
        throw new HttpError(503, 'store_unavailable', 'the state store cannot be written', { message: 'the notification was not accepted; retry later' });
      }
      throw new HttpError(503, 'unavailable', (e as Error).message, { message: 'the receiver is shutting down; retry later' });
    }
  };

  const webhookOutcome: Record<number, string> = { 400: 'invalid', 401: 'unauthorized', 413: 'too_large', 415: 'invalid' };
  const countFailedWebhook = async (_req: FastifyRequest, reply: FastifyReply) => {
    if (reply.statusCode >= 400) metrics.webhooks.inc({ outcome: webhookOutcome[reply.statusCode] ?? (reply.statusCode >= 500 ? 'error' : 'rejected') });
  };

  app.post('/webhook', { onRequest: requireAuth, onResponse: countFailedWebhook }, async (req, reply) => {
    const parsed = parseWebhookBody(req.body);
    if (!parsed.ok) throw invalidPayload(parsed.issues);
    const result = await admit(parsed.group, 'webhook');
    metrics.webhooks.inc({ outcome: result.duplicate ? 'duplicate' : 'accepted' });
    return reply.code(202).send({ id: result.id, duplicate: result.duplicate });
  });

  app.post('/enrich', { onRequest: requireAuth, config: { rateLimit: { max: deps.rateLimitPerMinute, timeWindow: 60_000 } } }, async (req, reply) => {
    const query = req.query as Record<string, unknown>;
    const wait = flag(query.wait);
    const notify = !(query.notify === 'false' || query.notify === '0');
    const group = await groupFromEnrichBody(req.body, deps, parseWebhookBody, req.signal);
    const result = await admit(group, 'manual', notify);
    if (!wait) return reply.code(202).send({ id: result.id, duplicate: result.duplicate });
    try {
      const diagnostic = await pipeline.wait(result.id, AbortSignal.any([AbortSignal.timeout(deps.waitMs), req.signal]));
      return reply.code(200).send(diagnostic);
    } catch {
      return reply.code(202).send({
        id: result.id,
        duplicate: result.duplicate,
        state: 'running',
        message: `not finished within ${deps.waitMs} ms; GET /diagnostics/${result.id}`,
      });
    }
  });

  app.get('/diagnostics/:id', { onRequest: requireAuth }, async (req, reply) => {
    const { id } = req.params as { id: string };
    const run = await deps.store.getRun(id);
    if (!run) return reply.code(404).send({ error: 'not_found', message: `no diagnostic with id ${id}` });
    if (run.state !== 'done' || !run.diagnostic) return reply.code(202).send({ id, state: run.state });
    return reply.code(200).send(run.diagnostic);
  });

  app.get('/healthz', () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const reason = deps.isReady();
    if (reason) return reply.code(503).send({ status: 'not_ready', reason });
    try {
      await deps.store.checkWritable();
    } catch (e) {
      return reply.code(503).send({ status: 'not_ready', reason: (e as Error).message });
    }
    // which store this replica writes to: `where` is the file, or the database URL without its password
    return { status: 'ready', store: { kind: deps.store.kind, where: deps.store.where } };
  });

  app.get('/metrics', async (_req, reply) => {
    reply.header('Content-Type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}

async function groupFromEnrichBody(
  body: unknown,
  deps: EndpointDeps,
  parseWebhookBody: (body: unknown) => WebhookBodyResult,
  signal: AbortSignal,
): Promise<AlertGroup> {
  if (body && typeof body === 'object' && 'alerts' in body) {
    const p = parseWebhookBody(body);
    if (!p.ok) throw invalidPayload(p.issues);
    return p.group;
  }
  if (body && typeof body === 'object' && 'alert' in body) {
    const p = manualAlertSchema.safeParse(body, { error: requiredMessage });
    if (!p.success) throw invalidPayload(issuesOf(p.error));
    const a = p.data.alert;
    return await manualGroup(a.labels, a.annotations, a.startsAt ?? new Date().toISOString(), deps.store);
  }
  if (body && typeof body === 'object' && 'fingerprint' in body) {
    const p = fingerprintBodySchema.safeParse(body, { error: requiredMessage });
    if (!p.success) throw invalidPayload(issuesOf(p.error));
    if (!deps.alertmanager)
      throw new HttpError(400, 'alertmanager_not_configured', 'no Alertmanager', { message: 'looking up a fingerprint needs sources.alertmanager.url' });
    let found;
    try {
      found = await deps.alertmanager.alertByFingerprint(p.data.fingerprint, signal);
    } catch (e) {
      throw new HttpError(502, 'alertmanager_unavailable', 'Alertmanager lookup failed', { message: (e as Error).message });
    }
    if (!found) throw new HttpError(404, 'not_found', 'unknown fingerprint', { message: `Alertmanager has no alert with fingerprint ${p.data.fingerprint}` });
    const group = await manualGroup(found.labels, found.annotations, found.startsAt, deps.store);
    group.alerts[0]!.fingerprint = found.fingerprint;
    group.alerts[0]!.generatorURL = found.generatorURL ?? '';
    return group;
  }
  throw invalidPayload([{ path: '', message: 'expected one of: an Alertmanager webhook payload, {"alert": {...}}, {"fingerprint": "<hex>"}' }]);
}
