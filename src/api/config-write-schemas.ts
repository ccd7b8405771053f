/**
 * The schemas of the configuration edits (ADR 0023): what an edit answers (the object edited,
 * the file's new version, what applying it did) and the request bodies, whose components
 * `config-body-schemas.ts` fills with the configuration's own schema.
 */
import { z } from '@hono/zod-openapi';
import { AlertSchema, ConnectionSchema, RouteSchema } from './schemas.js';

/** What applying the configuration file again did (`ReloadReport`). */
export const ReloadReportSchema = z
  .object({
    started: z.array(z.string()).openapi({ description: 'Connections whose runners started (new, or enabled).' }),
    restarted: z.array(z.string()).openapi({ description: 'Connections whose settings changed: their runners stopped after the in-flight batch committed, and started again.' }),
    stopped: z.array(z.string()).openapi({ description: 'Connections removed or disabled: their runners stopped after the in-flight batch committed.' }),
    routesChanged: z.boolean(),
    waitingForRestart: z.array(z.string()).openapi({ description: 'Settings saved that apply only at the next start (dataDir, api.listen, buses, …), as config paths.' }),
  })
  .openapi('ReloadReport');

/** What every configuration edit answers besides the object edited. */
const ConfigWriteFields = {
  etag: z.string().openapi({ description: 'The new version of the configuration file (SHA-256 of its bytes), also the ETag header: send it as If-Match with the next edit.' }),
  changed: z.array(z.string()).openapi({ description: 'The keys the edit set or removed, dotted (never a value).' }),
  applied: z.boolean().openapi({ description: 'Whether the running service applied the edit; false: it is saved and waits for the next start.' }),
  reload: z.union([ReloadReportSchema, z.null()]).openapi({ description: 'What applying it did; null when nothing runs here to apply it to.' }),
};

/** The answer of a write to a connection. */
export const ConnectionWriteSchema = z.object({ connection: ConnectionSchema, ...ConfigWriteFields }).openapi('ConnectionWrite');
/** The answer of a write to a route. */
export const RouteWriteSchema = z.object({ route: RouteSchema, ...ConfigWriteFields }).openapi('RouteWrite');
/** The answer of a deletion. */
export const ConfigDeleteSchema = z.object({ deleted: z.string(), ...ConfigWriteFields }).openapi('ConfigDelete');

/** A rule as the configuration file holds it (an edit's answer). */
export const AlertRuleSchema = AlertSchema.pick({ rule: true, kind: true, enabled: true, channels: true, settings: true }).openapi('AlertRule');
/** The answer of a write to an alert rule. */
export const AlertWriteSchema = z.object({ alert: AlertRuleSchema, ...ConfigWriteFields }).openapi('AlertWrite');

/** The configuration file's version. */
export const ConfigVersionSchema = z
  .object({ etag: z.string().openapi({ description: 'SHA-256 of the file as it is now (64 hex digits); the ETag header carries it quoted.' }) })
  .openapi('ConfigVersion');

/**
 * A request body of a configuration edit: validated here as any JSON object (the config loader
 * checks it, with the messages of `config check`); named, so that the document describes it with
 * the configuration's own schema (`config-body-schemas.ts` fills the component in).
 */
function configBody(component: string, description: string, example: Record<string, unknown>) {
  return z.record(z.string(), z.unknown()).openapi(component, { description, example });
}

const SECRETS_NOTE =
  'Secrets (passwords, tokens, signing secrets, header values; marked writeOnly) given as text go to the encrypted secret store and the file holds { secret: NAME }; { env }, { file } and { secret } are kept as given. They are never shown again.';
const PATCH_NOTE =
  'A JSON merge patch (RFC 7386) of the entry in the file\'s shape: only the keys given change, objects merge, null removes a key, arrays are replaced whole. name cannot change. A secret sent as { keep: PATH } (as GET shows a secret written in the file) is what the entry holds at PATH now, kept as written.';

/** One connection in the YAML's shape, as JSON (docs/configuration.md). */
export const ConnectionInputSchema = configBody('ConnectionInput', `One connection in the configuration file's shape, as JSON (the keys of connections[] in docs/configuration.md), checked as config check checks the file. ${SECRETS_NOTE}`, {
  name: 'journal',
  protocol: 'imap',
  host: 'mail.example.com',
  security: 'tls',
  auth: { type: 'basic', username: 'journal@example.com', password: '…' },
});
/** A merge patch of one connection. */
export const ConnectionPatchSchema = configBody('ConnectionPatch', `${PATCH_NOTE} ${SECRETS_NOTE}`, { pollIntervalMs: 30000 });
/** One route in the YAML's shape, as JSON. */
export const RouteInputSchema = configBody('RouteInput', `One route in the configuration file's shape, as JSON (the keys of routes[] in docs/configuration.md), checked as config check checks the file. ${SECRETS_NOTE}`, {
  name: 'crm',
  connection: 'journal',
  scenario: [{ action: 'webhook', url: 'https://crm.example.com/mail' }],
});
/** A merge patch of one route. */
export const RoutePatchSchema = configBody('RoutePatch', `${PATCH_NOTE} ${SECRETS_NOTE}`, { enabled: false });
/** A merge patch of one alert rule. */
export const AlertRulePatchSchema = configBody('AlertRulePatch', `${PATCH_NOTE} Applied to the running service at once: a rule whose condition (kind, threshold, subject) is unchanged keeps its state.`, { minutes: 15 });
