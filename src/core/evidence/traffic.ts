import { z } from 'zod';

/** `traffic`: request rate now against its baselines. */
export const trafficEvidenceSchema = z.object({
  verdict: z.enum(['spike', 'normal', 'drop', 'unknown']),
  /** Requests per second, summed over endpoints. */
  totalNow: z.number().nullable(),
  totalHourAgo: z.number().nullable(),
  totalDayAgo: z.number().nullable(),
  /** totalNow / the baseline used (hour ago, else day ago); null where no baseline. */
  ratio: z.number().nullable(),
  baseline: z.enum(['hour', 'day']).nullable(),
  endpoints: z.array(
    z.object({ endpoint: z.string(), now: z.number(), hourAgo: z.number().nullable(), dayAgo: z.number().nullable(), ratio: z.number().nullable() }),
  ),
  /** Endpoints sorted by absolute change, largest first (at most 5). */
  topMovers: z.array(z.string()),
  /** Thresholds used for the verdict. */
  spikeRatio: z.number(),
  dropRatio: z.number(),
});
export type TrafficEvidence = z.infer<typeof trafficEvidenceSchema>;
