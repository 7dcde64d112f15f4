/** Notifier names a route may list. */
export const NOTIFIER_NAMES = ['console', 'slack'] as const;
export type NotifierName = (typeof NOTIFIER_NAMES)[number];
