const OFFSET64 = 14695981039346656037n;
const PRIME64 = 1099511628211n;
const MASK64 = (1n << 64n) - 1n;
const SEPARATOR = 0xff;

/**
 * The fingerprint Alertmanager and Prometheus give a label set (prometheus/common
 * `labelSetToFingerprint`: FNV-1a 64 over sorted name, 0xff, value, 0xff), as 16 hex digits.
 */
export function fingerprintOf(labels: Record<string, string>): string {
  let h = OFFSET64;
  const add = (b: number) => {
    h ^= BigInt(b);
    h = (h * PRIME64) & MASK64;
  };
  for (const name of Object.keys(labels).sort()) {
    for (const b of Buffer.from(name, 'utf8')) add(b);
    add(SEPARATOR);
    for (const b of Buffer.from(labels[name]!, 'utf8')) add(b);
    add(SEPARATOR);
  }
  return h.toString(16).padStart(16, '0');
}
