import { z } from 'zod';

/**
 * Label names: the one rule for what a configured label name may be. Prometheus 3 accepts any
 * non-empty valid UTF-8 string as a label (or metric) name (prometheus/common `model/metric.go`,
 * `ValidationScheme.IsValidLabelName`, UTF8Validation); where such a name is written into PromQL or
 * an Alertmanager matcher it is quoted (src/sources/promql.ts, src/sources/alertmanager.ts).
 */

/** A label name Prometheus 3 accepts: non-empty valid UTF-8 (`service.name`, `k8s.pod.name`, `pool`). */
export function isValidLabelName(name: string): boolean {
  // A JS string is valid UTF-8 once encoded unless it holds a lone surrogate (`isWellFormed`, ES2024).
  return name.length > 0 && name.isWellFormed();
}

/** A configured label name: any UTF-8 name; quoted where it is used in PromQL or Alertmanager matchers. */
export const labelNameSchema = z.string().refine(isValidLabelName, 'must be a label name (a non-empty UTF-8 string)');
