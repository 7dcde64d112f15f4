import type { RouteConfig } from '../config/schema';

/** A route compiled for matching. */
export interface RouteMatcher {
  index: number;
  matches(labels: Record<string, string>): boolean;
}

/** Compiles a route's `match` (exact) and `matchRe` (anchored regex) into a predicate. */
export function compileMatcher(route: RouteConfig, index: number): RouteMatcher {
  const exact = Object.entries(route.match);
  const res = Object.entries(route.matchRe).map(([k, re]) => [k, new RegExp(`^(?:${re})$`)] as const);
  return {
    index,
    matches(labels) {
      return exact.every(([k, v]) => (labels[k] ?? '') === v) && res.every(([k, re]) => re.test(labels[k] ?? ''));
    },
  };
}

/** The first route whose matchers all hold for `labels`, or undefined. */
export function pickRoute<T extends RouteMatcher>(routes: readonly T[], labels: Record<string, string>): T | undefined {
  return routes.find((r) => r.matches(labels));
}
