import { z } from 'zod';

/** `related_alerts`: what else is firing, history, silences. */
export const relatedAlertsEvidenceSchema = z.object({
  related: z.array(z.object({ alertname: z.string(), labels: z.record(z.string(), z.string()), startsAt: z.string(), state: z.string() })),
  /** Runs for this alertname in the last 24 hours, before this one. */
  firedBeforeCount: z.number(),
  lastFiredAt: z.string().nullable(),
  silenced: z.boolean(),
  silenceIds: z.array(z.string()),
});
export type RelatedAlertsEvidence = z.infer<typeof relatedAlertsEvidenceSchema>;
