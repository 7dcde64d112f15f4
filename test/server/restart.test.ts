import { startFakeLoki, type FakeLoki } from '../fakes/loki';
import { firingPayload } from '../support/fixtures';
import { ensureBuilt, receiverConfig, startServer, type ServerProcess } from '../support/process';
import { Store } from '../../src/store/store';
import { until } from '../support/wait';

const TOKEN = 'restart-token-0123456789abcdef';
let loki: FakeLoki;
const children: ServerProcess[] = [];

beforeAll(async () => {
  ensureBuilt();
  loki = await startFakeLoki();
}, 120_000);
afterAll(async () => {
  for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
  await loki.close();
});

describe('a run killed mid-enrichment', () => {
  test('is resumed at the next start and finishes exactly once', async () => {
    const { state, config } = receiverConfig('restart', TOKEN, [
      `sources: { logs: [ { name: api, loki: { url: "${loki.url}", query: '{container="api"}' } } ] }`,
      'pipeline: { enricherTimeoutMs: 30000, budgetMs: 30000 }',
      'routes: [ { match: { alertname: db_pool_exhausted }, enrichers: [logs] } ]',
    ]);
    const now = BigInt(Date.now()) * 1_000_000n;
    loki.entries.push({
      labels: { container: 'api' },
      ns: now,
      line: 'ERROR: sorry, too many clients already (pool: db, timeout exceeded when trying to connect)',
    });
    loki.delayMs = 120_000; // the source hangs: the run is stuck in enrichment

    const first = await startServer(['--config', config], {});
    children.push(first);
    const res = await fetch(`${first.url}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(firingPayload()),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    await until('the enrichment starting', () => loki.requests.length > 0, 10_000);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    expect(first.output()).not.toContain('FIRING db_pool_exhausted');

    const store = new Store(state);
    expect(store.getRun(id)!.state).toBe('enriching');
    store.close();

    loki.delayMs = 0;
    const second = await startServer(['--config', config], {});
    children.push(second);
    const diagnostic = await until(
      'the diagnostic after the restart',
      async () => {
        const r = await fetch(`${second.url}/diagnostics/${id}`, { headers: { authorization: `Bearer ${TOKEN}` } });
        return r.status === 200 ? ((await r.json()) as any) : undefined;
      },
      15_000,
    );
    expect(diagnostic.id).toBe(id);
    expect(diagnostic.enrichments).toEqual([expect.objectContaining({ enricher: 'logs', status: 'ok' })]);
    expect(diagnostic.notifications).toEqual([{ notifier: 'console', status: 'sent', detail: 'written to stdout' }]);
    expect(second.output()).toContain('resuming unfinished runs');
    expect(second.output().match(/FIRING db_pool_exhausted/g)).toHaveLength(1);

    // the same notification after the restart is still a duplicate
    const again = await fetch(`${second.url}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(firingPayload()),
    });
    expect(await again.json()).toEqual({ id, duplicate: true });
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });
});
