import { z } from 'zod';

/** A zod error map that says "Required" for a missing value (zod 4 says "expected X, received undefined"). */
export const requiredMessage = (iss: z.core.$ZodRawIssue): string | undefined =>
  iss.code === 'invalid_type' && iss.input === undefined ? 'Required' : undefined;

/** A JavaScript regular expression's source (at most 1,000 characters), compiled once here so a bad one is refused at load. */
export const regexSourceSchema = z
  .string()
  .min(1)
  .max(1_000)
  .refine((p) => {
    try {
      new RegExp(p);
      return true;
    } catch {
      return false;
    }
  }, 'must be a valid regular expression');
