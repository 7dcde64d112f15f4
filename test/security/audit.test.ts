import { spawnSync } from 'node:child_process';
import path from 'node:path';

/**
 * Issue 7, security: `npm audit --omit=dev --audit-level=high` finds no high or critical advisory
 * in what ships. The audit needs npm's advisory endpoint (a POST to the registry). Where that
 * endpoint cannot be reached (this sandbox's registry mirror answers 405 to it), nothing can be
 * audited: the test is then reported as skipped, with the reason in its name, never as passed.
 */

const ROOT = path.join(__dirname, '..', '..');

interface AuditReport {
  message?: string;
  metadata?: { vulnerabilities?: Record<string, number> };
  vulnerabilities?: Record<string, { severity: string; via: unknown[] }>;
}

const run = spawnSync('npm', ['audit', '--omit=dev', '--audit-level=high', '--json'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
const output = `${run.stdout}\n${run.stderr}`;
let report: AuditReport = {};
try {
  report = JSON.parse(run.stdout) as AuditReport;
} catch {
  // not JSON: the endpoint check below decides
}
const unreachable = !report.metadata && /audit endpoint|E40[0-9]|ENOTFOUND|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|Method Not Allowed/i.test(output);
const reason = unreachable ? `: SKIPPED, the advisory endpoint is unreachable here (${(report.message ?? output).split('\n')[0]!.slice(0, 120)})` : '';

(unreachable ? test.skip : test)(`npm audit --omit=dev: no high or critical advisory${reason}`, () => {
  expect(report.metadata?.vulnerabilities).toBeDefined();
  const high = Object.entries(report.vulnerabilities ?? {}).filter(([, v]) => v.severity === 'high' || v.severity === 'critical');
  expect(high.map(([name, v]) => `${name}: ${v.severity}`)).toEqual([]);
  expect(run.status).toBe(0);
});
