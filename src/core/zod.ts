import type { z } from 'zod';

/** A zod error map that says "Required" for a missing value (zod 4 says "expected X, received undefined"). */
export const requiredMessage = (iss: z.core.$ZodRawIssue): string | undefined =>
  iss.code === 'invalid_type' && iss.input === undefined ? 'Required' : undefined;
