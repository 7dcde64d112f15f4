/**
 * Stack frames read into code locations, and the application's own frame found among the
 * pool's, the framework's and the runtime's: the place in the application's code that a leak
 * warning or an error points at. Frame syntaxes: Java StackTraceElement.toString()
 * (`at [module/]pkg.Class.method(File.java:88)`), Node (`at fn (/path/file.js:12:5)`), CPython
 * traceback (`File "/path/x.py", line 88, in fn`), Go runtime traceback (a function line, then
 * `\t/path/file.go:88 +0x1d`).
 */

export type FrameLanguage = 'java' | 'node' | 'python' | 'go';

/** A place in code, as far as the frame names it. */
export interface CodeLocation {
  language: FrameLanguage;
  /** Java/Kotlin: the class; Go: the package (and receiver); Node and Python: null (the file says it). */
  class: string | null;
  method: string | null;
  file: string | null;
  line: number | null;
  /** The frame as written, trimmed. */
  frame: string;
}

const JAVA = /^at\s+(?:[^\s/()]*\/)*([\w$.]+)\.([\w$<>-]+)\(([^)]*)\)/;
const NODE = /^at\s+(?:(?:async\s+)?(.+?)\s+\()?(?:file:\/\/)?([^()\s][^()]*?):(\d+):(\d+)\)?\s*$/;
const PYTHON = /^File "([^"]+)", line (\d+), in (.+?)\s*$/;
const GO_FUNC = /^(?:created by )?([\w./*()[\]{}-]+?)\.((?:\(\*?[\w[\], ]+\)\.)?[\w-]+(?:\[[^\]]*\])?)\(.*\)(?: in goroutine \d+)?\s*$/;
const GO_FILE = /^(\S+\.go):(\d+)(?:\s|$)/;

/** One frame line (trimmed), or null when it is not a frame. Go frames need two lines: see goLocations. */
export function parseFrame(frame: string): CodeLocation | null {
  const f = frame.trim();
  let m = JAVA.exec(f);
  if (m && !/:\d+:\d+\)?\s*$/.test(f)) {
    const loc = /^(.*?)(?::(\d+))?$/.exec(m[3]!)!;
    const file = /^(?:Native Method|Unknown Source|<generated>)$/.test(loc[1]!) || !loc[1] ? null : loc[1];
    return { language: 'java', class: m[1]!, method: m[2]!, file, line: loc[2] ? Number(loc[2]) : null, frame: f };
  }
  m = NODE.exec(f);
  if (m) return { language: 'node', class: null, method: m[1] ?? null, file: m[2]!, line: Number(m[3]), frame: f };
  m = PYTHON.exec(f);
  if (m) return { language: 'python', class: null, method: m[3]!, file: m[1]!, line: Number(m[2]), frame: f };
  return null;
}

/** Go frames: each function line with the file line under it. */
export function goLocations(frames: readonly string[]): CodeLocation[] {
  const out: CodeLocation[] = [];
  for (let i = 0; i < frames.length; i++) {
    const fn = GO_FUNC.exec(frames[i]!.trim());
    const file = frames[i + 1] !== undefined ? GO_FILE.exec(frames[i + 1]!.trim()) : null;
    if (!fn || !file) continue;
    out.push({ language: 'go', class: fn[1]!, method: fn[2]!, file: file[1]!, line: Number(file[2]), frame: `${frames[i]!.trim()} ${frames[i + 1]!.trim()}` });
    i++;
  }
  return out;
}

/** Every location in `frames`, in the order written. */
export function locations(frames: readonly string[]): CodeLocation[] {
  const go = goLocations(frames);
  if (go.length > 0) return go;
  return frames.map(parseFrame).filter((l): l is CodeLocation => l !== null);
}

/**
 * Frames that are not the application's: the runtime, the pools, drivers, ORMs, frameworks and
 * the proxies they generate. A named list (not exhaustive): where the application's own package
 * starts with one of these, its frames are skipped too.
 */
export const FRAMEWORK_FRAMES: Record<FrameLanguage, RegExp> = {
  java: new RegExp(
    String.raw`^(?:java|javax|jakarta|jdk|sun|com\.sun|kotlin|kotlinx|scala|groovy|org\.springframework|org\.hibernate|com\.zaxxer\.hikari|org\.apache|org\.postgresql|com\.mysql|org\.mariadb|oracle\.jdbc|com\.microsoft\.sqlserver|org\.jooq|org\.mybatis|org\.jdbi|io\.micrometer|io\.netty|reactor|io\.reactivex|io\.vertx|io\.quarkus|io\.micronaut|io\.agroal|io\.r2dbc|com\.mchange|org\.eclipse|org\.glassfish|org\.jboss|com\.google|net\.bytebuddy|org\.aspectj|io\.opentelemetry|io\.undertow|com\.fasterxml|ch\.qos\.logback|org\.slf4j|io\.grpc|feign|okhttp3|io\.github\.resilience4j|com\.p6spy|net\.ttddyy)\.|\$\$|^com\.sun\.proxy\.|^jdk\.proxy\d*\.|\$Proxy\d`,
  ),
  node: /(?:^|[/\\])node_modules[/\\]|^node:|^internal[/\\]|^<anonymous>$|^native$/,
  python: /[/\\](?:site-packages|dist-packages)[/\\]|[/\\]lib[/\\]python\d(?:\.\d+)?[/\\]|^<frozen |^<string>$/,
  go: /^(?:runtime|net|net\/http|database\/sql|context|sync|reflect|testing)(?:\.|\/)|^(?:github\.com\/(?:jackc|lib\/pq|jmoiron|go-pg|uptrace)|gorm\.io)\//,
};

const GO_DEPENDENCY_FILE = /\/pkg\/mod\/|\/usr\/local\/go\/src\/|\/go\/src\/(?:runtime|net|database|sync|context)\//;

/** Whether the location is the application's (not runtime, pool, driver or framework). */
export function isApplicationFrame(l: CodeLocation): boolean {
  switch (l.language) {
    case 'java':
      return !FRAMEWORK_FRAMES.java.test(l.class ?? '');
    case 'node':
      return !FRAMEWORK_FRAMES.node.test(l.file ?? '');
    case 'python':
      return !FRAMEWORK_FRAMES.python.test(l.file ?? '');
    case 'go':
      return !FRAMEWORK_FRAMES.go.test(l.class ?? '') && !GO_DEPENDENCY_FILE.test(l.file ?? '');
  }
}

/**
 * The innermost frame of the application's own code in `frames` (Python tracebacks are read from
 * the end, the others from the start), or null when every frame is the framework's.
 */
export function applicationFrame(frames: readonly string[]): CodeLocation | null {
  const locs = locations(frames);
  const ordered = locs[0]?.language === 'python' ? [...locs].reverse() : locs;
  return ordered.find(isApplicationFrame) ?? null;
}

/** `Class.method (File.java:88)`, `fn (/app/x.js:12)`, `fn (/app/x.py:88)`: how a location is written in text. */
export function formatLocation(l: CodeLocation): string {
  const where = l.file ? `${l.file}${l.line !== null ? `:${l.line}` : ''}` : null;
  const what = l.class && l.method ? `${l.class}.${l.method}` : (l.method ?? l.class);
  return what && where ? `${what} (${where})` : (what ?? where ?? l.frame);
}
