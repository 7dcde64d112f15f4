import { z } from 'zod';

/**
 * What bench/load-worker.ts sends back: the parts of autocannon's result the figures use
 * (mcollina/autocannon README.md, "Results": `requests` and `latency` are hdr-histogram-percentiles-obj
 * objects with `average`, `p50`, `p99`, ...; `non2xx`, `errors`, `timeouts` counts; `statusCodeStats`
 * a count per status code). Read through zod: autocannon ships no types.
 */
export const loadResultSchema = z.object({
  requests: z.looseObject({ average: z.number() }),
  latency: z.looseObject({ p50: z.number(), p99: z.number() }),
  non2xx: z.number(),
  errors: z.number(),
  timeouts: z.number(),
  statusCodeStats: z.record(z.string(), z.unknown()).optional(),
});

export type LoadResult = z.infer<typeof loadResultSchema>;
