/**
 * The request bodies of the configuration edits (`POST`/`PATCH /api/v1/connections` and
 * `/routes`, ADR 0023) described by the one configuration schema (`config/schema.ts`): the
 * connection's and the route's settings converted to JSON Schema (zod's own `toJSONSchema`, as
 * the input the file takes: defaults are optional), every secret field marked `writeOnly` (it
 * takes the literal, `{ env }`, `{ file }` and `{ secret }` forms and never comes back), and the
 * patch as the same schema with every key optional and `null` allowed (a JSON merge patch, RFC
 * 7386), its secrets also `{ keep: PATH }`. For the document and its clients only: the request is still checked by the config
 * loader, with the messages of `config check`. Made once, when the document is first asked for
 * (about 20 ms), so the API's start pays nothing for it.
 *
 * The one import of `src/config` by the API (ADR 0023, amended; the dependency rule allows this
 * file, and `schema.ts` only): the schema is declarative data with no I/O, and converting it here
 * keeps `openApiDocument()` whole without a composition root, as the golden test builds it.
 */
import { z } from 'zod';
import { alertRuleSchema, connectionSchema, isSecretSchema, routeSchema } from '../config/schema.js';

type JsonSchema = Record<string, unknown>;

/** The component names the config edits' request bodies are registered under (schemas.ts). */
export const CONFIG_BODY_COMPONENTS = {
  ConnectionInput: { schema: connectionSchema, patch: false },
  ConnectionPatch: { schema: connectionSchema, patch: true },
  RouteInput: { schema: routeSchema, patch: false },
  RoutePatch: { schema: routeSchema, patch: true },
  AlertRulePatch: { schema: alertRuleSchema, patch: true },
} as const;

/** `schema` as the JSON Schema (2020-12, OpenAPI 3.1's dialect) of what the file takes, secrets write-only. */
function inputSchema(schema: z.ZodType): JsonSchema {
  const out = z.toJSONSchema(schema, {
    io: 'input',
    // A refinement or transform has no JSON Schema: the input it checks is described, the check is the loader's.
    unrepresentable: 'any',
    override: (ctx) => {
      if (isSecretSchema(ctx.zodSchema)) ctx.jsonSchema.writeOnly = true;
    },
  }) as JsonSchema;
  delete out.$schema;
  return out;
}

/**
 * `s` as a merge patch of itself: every property optional and nullable (null removes the key),
 * down through nested objects (they merge); arrays and secrets are replaced whole, so their
 * items keep their shape.
 */
function mergePatch(s: JsonSchema): JsonSchema {
  if (s.writeOnly === true) return s;
  const out: JsonSchema = { ...s };
  delete out.required;
  delete out.default;
  if (s.properties && typeof s.properties === 'object') {
    out.properties = Object.fromEntries(Object.entries(s.properties as Record<string, JsonSchema>).map(([k, v]) => [k, nullable(mergePatch(v))]));
  }
  for (const key of ['anyOf', 'oneOf'] as const) {
    if (Array.isArray(s[key])) out[key] = (s[key] as JsonSchema[]).map(mergePatch);
  }
  return out;
}

/** The fifth form a secret takes in a patch: the secret the entry holds at PATH now (ADR 0023, amendment). */
const KEEP: JsonSchema = {
  type: 'object',
  properties: { keep: { type: 'string', description: 'A secret position of the entry as GET shows it (`scenario[0].secret`): the secret it holds now, kept as written.' } },
  required: ['keep'],
  additionalProperties: false,
};

/** Every write-only (secret) node of `s`, wherever it is (array items and record values too), also taking `{ keep: PATH }`. In place. */
function withKeep(s: unknown): void {
  if (Array.isArray(s)) s.forEach(withKeep);
  if (typeof s !== 'object' || s === null) return;
  const node = s as JsonSchema;
  if (node.writeOnly === true && Array.isArray(node.anyOf)) node.anyOf = [...(node.anyOf as JsonSchema[]), KEEP];
  else Object.values(node).forEach(withKeep);
}

/** `s` or null, its description kept on the outside where a reader looks. */
function nullable(s: JsonSchema): JsonSchema {
  const { description, writeOnly, ...rest } = s;
  return { ...(description !== undefined ? { description } : {}), ...(writeOnly !== undefined ? { writeOnly } : {}), anyOf: [rest, { type: 'null' }] };
}

/**
 * The document's config body components (registered as free objects by the routes, since the
 * loader validates) replaced by the configuration's schema; the description and example of each
 * placeholder kept. Returns `doc`, changed.
 */
export function withConfigBodySchemas<T>(doc: T): T {
  const schemas = (doc as { components?: { schemas?: Record<string, JsonSchema> } }).components?.schemas;
  if (!schemas) return doc;
  for (const [name, { schema, patch }] of Object.entries(CONFIG_BODY_COMPONENTS)) {
    const placeholder = schemas[name];
    if (!placeholder) continue;
    const input = inputSchema(schema);
    const body = patch ? mergePatch(input) : input;
    if (patch) withKeep(body);
    schemas[name] = { ...body, description: placeholder.description, ...(placeholder.example !== undefined ? { example: placeholder.example } : {}) };
  }
  return doc;
}
