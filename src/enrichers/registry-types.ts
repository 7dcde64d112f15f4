import type { z } from 'zod';
import type { Enricher } from '../core/enricher';
import type { SourceClients } from '../sources';
import type { AlertHistory } from '../store/history';

/** What every enricher factory may draw from: the shared source clients and the alert history. */
export interface EnricherDeps {
  clients: SourceClients;
  history: AlertHistory;
}

/**
 * An entry of the enricher registry: its name, its settings schema (parsing `{}` gives the
 * defaults; `enrichers.<name>` in the config and a route's `options` are parsed with it) and a
 * factory that picks the narrow dependencies it needs from `deps`.
 */
export interface EnricherModule<S = unknown> {
  name: string;
  settingsSchema: z.ZodType<S, unknown>;
  create(settings: S, deps: EnricherDeps): Enricher;
}
