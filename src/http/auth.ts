import { createHash, timingSafeEqual } from 'node:crypto';

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/**
 * True when the Authorization header carries `token` as `Bearer <token>` or as the password of
 * Basic auth (any user). Compared in constant time over SHA-256 digests, so neither content nor
 * length leaks through timing.
 */
export function authorized(header: string | undefined, token: string): boolean {
  if (!header) return false;
  const expected = digest(token);
  const space = header.indexOf(' ');
  if (space < 0) return false;
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  let presented: string;
  if (scheme === 'bearer') presented = value;
  else if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    presented = colon < 0 ? decoded : decoded.slice(colon + 1);
  } else return false;
  return timingSafeEqual(digest(presented), expected);
}
