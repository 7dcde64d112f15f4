import fs from 'node:fs';
import path from 'node:path';
import { hikariLeakWarning, LEAK_CHECKOUT_FRAME } from '../../demo/backend/leak-warning';
import { analyzeLogs } from '../../src/enrichers/logs/analyze';
import { lineShape, maskSecrets } from '../../src/enrichers/logs/lines';
import { lineTime } from '../../src/sources/logs/file';

describe("the demo backend's HikariCP leak warning", () => {
  test('names the line of demo/backend/scenarios.ts where the leak scenario takes its connections', () => {
    const source = fs.readFileSync(path.join(__dirname, '../../demo/backend', LEAK_CHECKOUT_FRAME.file), 'utf8').split('\n');
    expect(source[LEAK_CHECKOUT_FRAME.line - 1]).toContain("await db.checkout({ scenario: 'leak' })");
  });

  test('is read by the logs enricher as a leak warning with that code location', () => {
    const text = hikariLeakWarning({
      at: new Date('2026-11-30T10:00:02.500Z'),
      pid: 4242,
      connection: 'org.postgresql.jdbc.PgConnection@3039',
      thread: 'leak-scenario-3',
    });
    expect(text.split('\n')[0]).toBe(
      '2026-11-30 10:00:02.500  WARN 4242 --- [l-1 housekeeper] com.zaxxer.hikari.pool.ProxyLeakTask     : Connection leak detection triggered for org.postgresql.jdbc.PgConnection@3039 on thread leak-scenario-3, stack trace follows',
    );
    const lines = text.split('\n').map((l) => {
      const t = lineTime(l);
      return { time: t.time, text: t.text };
    });
    const a = analyzeLogs([{ name: 'backend', lines }], {
      filter: /connection|pool|database/i,
      matchSignatures: true,
      window: null,
      newest: 5,
      mask: maskSecrets,
      shape: lineShape,
    });
    expect(a.sources.get('backend')!.events).toBe(1);
    expect(a.leaks).toEqual([
      expect.objectContaining({
        library: 'HikariCP',
        threads: ['leak-scenario-3'],
        firstSeen: '2026-11-30T10:00:02.500Z',
        where: `demo.backend.ScenarioController.leak (scenarios.ts:${LEAK_CHECKOUT_FRAME.line})`,
      }),
    ]);
  });
});
