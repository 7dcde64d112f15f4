import { spawnSync } from 'node:child_process';
import path from 'node:path';

/**
 * Issue 7, security: `npm audit --omit=dev --audit-level=high` finds no high or critical advisory
 * in what ships. The audit needs npm's advisory endpoint (a POST to the registry); where it cannot
 * be reached the test fails and says so, rather than passing without having audited anything.
 * Set AUDIT_OFFLINE_OK=1 to accept an unreachable endpoint explicitly (it is still printed).
 */

const ROOT = path.join(__dirname, '..', '..');

test('npm audit --omit=dev: no high or critical advisory', () => {
  const r = spawnSync('npm', ['audit', '--omit=dev', '--audit-level=high', '--json'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  const out = `${r.stdout}\n${r.stderr}`;
  let report: { message?: string; metadata?: { vulnerabilities?: Record<string, number> }; vulnerabilities?: Record<string, { severity: string; via: unknown[] }> } = {};
  try {
    report = JSON.parse(r.stdout);
  } catch {
    // not JSON: handled below
  }
  const unreachable = !report.metadata && /audit endpoint|E40[0-9]|ENOTFOUND|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|Method Not Allowed/i.test(out);
  if (unreachable) {
    const msg = `npm audit could not reach the advisory endpoint, so nothing was audited: ${(report.message ?? out).split('\n')[0]}`;
    if (process.env.AUDIT_OFFLINE_OK === '1') {
      console.warn(msg);
      return;
    }
    throw new Error(`${msg}\n(set AUDIT_OFFLINE_OK=1 to accept this on a machine without the endpoint)`);
  }
  expect(report.metadata?.vulnerabilities).toBeDefined();
  const high = Object.entries(report.vulnerabilities ?? {}).filter(([, v]) => v.severity === 'high' || v.severity === 'critical');
  expect(high.map(([name, v]) => `${name}: ${v.severity}`)).toEqual([]);
  expect(r.status).toBe(0);
}, 70_000);
