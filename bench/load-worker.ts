import { loadResultSchema } from './load-result';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- autocannon 8 ships no types (@types/autocannon describes 7.x): required, and its result read through zod
const autocannon = require('autocannon') as (opts: Record<string, unknown>) => Promise<unknown>;

/**
 * Runs one autocannon load in a child process (forked with the options as argv[2]), so the load
 * generator does not share the event loop of the servers it measures. `template` holds `__N__` where a unique number goes, so every
 * request is a new notification (no duplicates) at negligible generator cost.
 */
async function main(): Promise<void> {
  const { url, headers, template, duration, connections, rate } = JSON.parse(process.argv[2]!) as {
    url: string;
    headers: Record<string, string>;
    template: string;
    duration: number;
    connections: number;
    rate?: number;
  };
  let i = 0;
  const fill = (t: string, n: number) =>
    t
      .split('__G__')
      .join(String(n % 100))
      .split('__N__')
      .join(String(1_000_000 + n));
  const result = loadResultSchema.parse(
    await autocannon({
      url,
      method: 'POST',
      connections,
      duration,
      headers,
      ...(rate ? { overallRate: rate } : {}),
      requests: [{ setupRequest: (req: Record<string, unknown>) => ({ ...req, body: fill(template, i++) }) }],
    }),
  );
  process.send!(result);
}

main().catch((e) => {
  throw e;
});
