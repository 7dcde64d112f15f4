import { createHmac, timingSafeEqual } from 'node:crypto';

/** Slack rejects requests whose timestamp is more than five minutes from now (docs.slack.dev "Verifying requests from Slack"); so do we, both ways. */
export const MAX_SIGNATURE_AGE_MS = 5 * 60_000;

/** Why a request from "Slack" was refused. */
export type SignatureFailure = 'missing' | 'malformed' | 'replay' | 'mismatch';

export type SignatureCheck = { ok: true } | { ok: false; reason: SignatureFailure };

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Checks a request as Slack signs it: `X-Slack-Signature: v0=<hex HMAC-SHA256 of
 * "v0:{X-Slack-Request-Timestamp}:{raw body}" keyed with the signing secret>`, compared in
 * constant time, and the timestamp within MAX_SIGNATURE_AGE_MS of `now` (older or in the future:
 * `replay`). `raw` must be the body exactly as received. Never throws.
 */
export function verifySlackSignature(secret: string, headers: Record<string, string | string[] | undefined>, raw: Buffer, now: number): SignatureCheck {
  const signature = header(headers['x-slack-signature']);
  const timestamp = header(headers['x-slack-request-timestamp']);
  if (!signature || !timestamp) return { ok: false, reason: 'missing' };
  if (!/^\d{1,12}$/.test(timestamp) || !/^v0=[0-9a-f]{64}$/i.test(signature)) return { ok: false, reason: 'malformed' };
  if (Math.abs(now - Number(timestamp) * 1000) > MAX_SIGNATURE_AGE_MS) return { ok: false, reason: 'replay' };
  const expected = createHmac('sha256', secret).update(`v0:${timestamp}:`, 'utf8').update(raw).digest();
  const presented = Buffer.from(signature.slice(3), 'hex');
  return presented.length === expected.length && timingSafeEqual(presented, expected) ? { ok: true } : { ok: false, reason: 'mismatch' };
}
