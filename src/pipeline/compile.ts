import type { Config } from '../config/schema';
import type { Enricher } from '../core/enricher';
import { enricherModule, type EnricherDeps } from '../enrichers';
import { defaultNotifiers, type NotifierName } from '../notifiers';
import type { CompiledRoute } from './pipeline';
import { compileMatcher } from './alert-routes';

/**
 * Instantiates each route's enrichers with their settings (`enrichers.<name>` merged with the
 * route's `options`) and resolves its notifiers (the route's, else the default). The config is
 * already validated, so unknown names cannot occur here.
 */
export function compileRoutes(config: Config, deps: EnricherDeps): { routes: CompiledRoute[]; fallback: CompiledRoute; notifierNames: Set<NotifierName> } {
  const settings = config.enrichers as Record<string, object | undefined>;
  const fallbackNotifiers = defaultNotifiers(config);
  const notifierNames = new Set<NotifierName>(fallbackNotifiers);
  const routes = config.routes.map((route, index): CompiledRoute => {
    const enrichers: Enricher[] = route.enrichers.map((entry) => {
      const name = typeof entry === 'string' ? entry : entry.name;
      const mod = enricherModule(name)!;
      const merged = { ...(settings[name] ?? {}), ...(typeof entry === 'string' ? {} : entry.options) };
      return mod.create(mod.settingsSchema.parse(merged), deps);
    });
    const notifiers = (route.notifiers ?? fallbackNotifiers) as NotifierName[];
    for (const n of notifiers) notifierNames.add(n);
    return { ...compileMatcher(route, index), enrichers, notifiers };
  });
  const fallback: CompiledRoute = { index: -1, matches: () => true, enrichers: [], notifiers: fallbackNotifiers };
  return { routes, fallback, notifierNames };
}
