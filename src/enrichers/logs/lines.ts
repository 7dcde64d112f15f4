/**
 * What the logs enricher does to each line it shows: mask secrets, and reduce it to a shape for
 * grouping (classifying is the signature table's, src/enrichers/logs/classify.ts).
 */

const MASK = '***';

/** Key names whose values are secrets in `key=value`, `key: value` and JSON `"key":"value"` forms. */
const SECRET_KEYS = String.raw`pass(?:word|wd)?|pwd|secret|client[_-]?secret|token|access[_-]?token|refresh[_-]?token|auth[_-]?token|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|private[_-]?key|credentials?`;

const MASKS: Array<[RegExp, string]> = [
  // credentials inside URLs: scheme://user:password@host
  [/\b([a-z][a-z0-9+.-]*:\/\/)([^\s:/@]*):([^\s@/]+)@/gi, `$1$2:${MASK}@`],
  // Authorization schemes
  [/\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{6,}/g, `$1 ${MASK}`],
  // JSON "key": "value"
  [new RegExp(String.raw`("(?:[\w-]*[_-])?(?:${SECRET_KEYS})")\s*:\s*"(?:[^"\\]|\\.)*"`, 'gi'), `$1:"${MASK}"`],
  // key=value, key: value, key='value'
  [new RegExp(String.raw`\b((?:[\w-]*[_-])?(?:${SECRET_KEYS}))(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&"'}\]]+)`, 'gi'), `$1$2${MASK}`],
  // well-known token formats: JWT, Slack, GitHub, AWS access key ids, sk- keys
  [/\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+/g, MASK],
  [/\bxox[abposr]-[A-Za-z0-9-]{8,}/g, MASK],
  [/\bgh[pousr]_[A-Za-z0-9]{20,}/g, MASK],
  [/\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, MASK],
  [/\bsk-[A-Za-z0-9_-]{16,}/g, MASK],
];

/** `line` with passwords in URLs, `password=...`-style values, bearer/basic credentials and known token formats replaced by ***. */
export function maskSecrets(line: string): string {
  let out = line;
  for (const [re, rep] of MASKS) out = out.replace(re, rep);
  return out;
}

/** Longest shape kept, characters. */
export const MAX_SHAPE_CHARS = 300;

/**
 * Spring Boot's console and file layout before the message: `LEVEL pid --- [app] [thread] logger : `
 * (spring-boot's logback defaults.xml CONSOLE_LOG_PATTERN / FILE_LOG_PATTERN; the `[app]` group
 * since 3.2). The level is kept, the rest is the same for every line of a logger and says nothing.
 */
const SPRING_BOOT_PREFIX = /^\s*(TRACE|DEBUG|INFO|WARN|ERROR)\s+\d+\s+---\s+(?:\[[^\]]*\]\s+)+\S.*?\s:\s/;

/**
 * The line's shape: leading timestamp and Spring Boot's logger prefix dropped; timestamps, UUIDs,
 * IP addresses (with port), quoted strings, hex ids (and Java's `@1b2c3d4e` identity hashes) and
 * numbers replaced by placeholders; whitespace collapsed; capped. Lines that differ only in those
 * parts have the same shape.
 */
export function lineShape(line: string): string {
  let s = line;
  s = s.replace(/^\[?\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\]?\s*/, '');
  s = s.replace(SPRING_BOOT_PREFIX, '$1 ');
  s = s
    .replace(/@[0-9a-f]{4,16}\b/gi, '@<hex>')
    .replace(/\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?/g, '<ts>')
    .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<uuid>')
    .replace(/\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b/g, '<ip>')
    .replace(/(?<![\w:])(?:[0-9a-f]{1,4}:){2,7}(?::|[0-9a-f]{1,4})(?![\w:])|::1\b/gi, '<ip>')
    .replace(/"(?:[^"\\]|\\.)*"/g, '"<str>"')
    .replace(/(?<![A-Za-z])'(?:[^'\\]|\\.)*'/g, "'<str>'")
    .replace(/\b0x[0-9a-f]+\b/gi, '<hex>')
    .replace(/\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b/gi, '<hex>')
    .replace(/(?<![A-Za-z_])\d+(?:\.\d+)?/g, '<n>')
    .replace(/\s+/g, ' ')
    .trim();
  return s.length > MAX_SHAPE_CHARS ? `${s.slice(0, MAX_SHAPE_CHARS - 1)}…` : s;
}
