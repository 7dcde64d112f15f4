import { z } from 'zod';
import { labelMatcherSchema, labelNameSchema, metricNameSchema } from '../../sources/promql';

const labelName = labelNameSchema;

/** Endpoints named as top movers (TrafficEvidence.topMovers: at most 5). */
export const MAX_TOP_MOVERS = 5;

/** `enrichers.traffic` and a route's options for it. Parsing `{}` gives the runbook's defaults. */
export const settingsSchema = z
  .strictObject({
    /** A request counter. */
    metric: metricNameSchema.default('http_requests_total'),
    /** The label rates are grouped by. */
    endpointLabel: labelName.default('endpoint'),
    /** The rate() window, a PromQL duration. */
    rateWindow: z
      .string()
      .regex(/^[0-9]+(ms|s|m|h|d|w|y)$/, 'must be a duration such as 5m')
      .default('5m'),
    matchers: z.array(labelMatcherSchema).default([]),
    /** Alert labels copied into the selector (e.g. service, namespace), escaped. */
    copyLabels: z.array(labelName).default([]),
    /** now / baseline at or above this: spike. */
    spikeRatio: z.number().positive().default(1.5),
    /** now / baseline at or below this: drop. */
    dropRatio: z.number().positive().default(0.5),
    topMovers: z.number().int().min(1).max(MAX_TOP_MOVERS).default(MAX_TOP_MOVERS),
    timeoutMs: z.number().int().positive().optional(),
  })
  .refine((s) => s.dropRatio < s.spikeRatio, { message: 'dropRatio must be below spikeRatio', path: ['dropRatio'] });
export type TrafficSettings = z.infer<typeof settingsSchema>;
