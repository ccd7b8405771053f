/**
 * A route's every setting as the API shows it to an edit form (`GET /api/v1/routes/{name}`'s
 * `settings`), the counterpart of `connection-stored.ts`: the route's entry as the configuration
 * file writes it (its keys only, no default filled in), every secret shown as what an edit may
 * send back to keep it (`config/config-edit.ts`, `shownSecrets`): a reference by its name, a
 * literal by its path (`{ keep: PATH }`), never a value. A route's scenario is replaced whole by a
 * merge patch, so a form that starts from this loses nothing it does not show (ADR 0023).
 */
import type { RouteStoredSettings } from '../api/index.js';
import { shownSecrets } from '../config/config-edit.js';
import type { Config } from '../config/loader.js';

/** Every setting of route `name` of `config` for an edit form, without a secret; undefined when it has none of that name (or was built from an object). */
export function routeStored(config: Config, name: string): RouteStoredSettings | undefined {
  const i = config.routes.findIndex((r) => r.name === name);
  const written = i < 0 ? undefined : config.routesAsWritten?.[i];
  if (!written) return undefined;
  // `name` is the route's, shown beside; the rest is the entry as written.
  const { name: _, ...settings } = shownSecrets('route', written);
  return settings as RouteStoredSettings;
}
