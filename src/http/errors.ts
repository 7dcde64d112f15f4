import type { FastifyError, FastifyInstance } from 'fastify';

/** An HTTP error answered as `{"error": code, ...extra}` with its status. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** A 400 with the contract's issue list. */
export function invalidPayload(issues: Array<{ path: string; message: string }>): HttpError {
  return new HttpError(400, 'invalid_payload', 'invalid payload', { issues });
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Replaces Fastify's JSON parser: the body must be UTF-8 and JSON, else 400 invalid_payload with
 * the reason; bodies over the limit are 413 before parsing. Registers the error handler that
 * answers every error as JSON without 5xx internals.
 */
export function installBodyHandling(app: FastifyInstance): void {
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser(['application/json'], { parseAs: 'buffer' }, (_req, body, done) => {
    let text: string;
    try {
      text = UTF8.decode(body as Buffer);
    } catch {
      return done(invalidPayload([{ path: '', message: 'body is not valid UTF-8' }]), undefined);
    }
    if (text.trim() === '') return done(invalidPayload([{ path: '', message: 'body is empty' }]), undefined);
    try {
      done(null, JSON.parse(text));
    } catch (e) {
      done(invalidPayload([{ path: '', message: `body is not valid JSON: ${(e as Error).message}` }]), undefined);
    }
  });

  app.setErrorHandler((err: FastifyError | HttpError, req, reply) => {
    if (err instanceof HttpError) {
      req.log.info({ status: err.statusCode, error: err.code, issues: err.extra.issues }, err.message);
      return reply.code(err.statusCode).send({ error: err.code, ...err.extra });
    }
    const status = err.statusCode ?? 500;
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || status === 413) {
      req.log.info({ status: 413 }, 'body too large');
      return reply.code(413).send({ error: 'payload_too_large', message: 'the body is larger than server.bodyLimitBytes' });
    }
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || status === 415) {
      return reply.code(415).send({ error: 'unsupported_media_type', message: 'send Content-Type: application/json' });
    }
    if (status === 429) return reply.code(429).send({ error: 'rate_limited', message: err.message });
    if (status >= 400 && status < 500) {
      req.log.info({ status, code: err.code }, 'bad request');
      return reply.code(status).send({ error: 'bad_request', message: err.message });
    }
    req.log.error({ err }, 'request failed');
    return reply.code(500).send({ error: 'internal_error' });
  });

  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'not_found' }));
}
