/**
 * The configuration edits' request bodies in the OpenAPI document are the configuration's own
 * schema (issue 14: every request has a schema): every key of a connection and a route, the
 * same required keys, every secret field write-only and taking the literal, { env }, { file } and
 * { secret } forms, the patch the same with nothing required and null allowed (a merge patch),
 * every $ref of the document resolving, and the examples shown accepted by the config loader.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { openApiDocument } from '../../src/api/index.js';
import { connectionSchema, routeSchema } from '../../src/config/schema.js';
import { checkConfigText } from '../../src/config/loader.js';

type Schema = Record<string, any>;
const doc = openApiDocument() as { paths: Record<string, Record<string, Schema>>; components: { schemas: Record<string, Schema> } };
const schemas = doc.components.schemas;

/** Every node of a JSON value, with its path. */
function* walk(v: unknown, path = '#'): Generator<[string, Schema]> {
  if (typeof v !== 'object' || v === null) return;
  yield [path, v as Schema];
  for (const [k, x] of Object.entries(v)) yield* walk(x, `${path}/${k}`);
}

test('the config edits take the ConnectionInput/Patch and RouteInput/Patch components', () => {
  const body = (path: string, method: string) => doc.paths[path]![method]!.requestBody.content['application/json'].schema.$ref;
  assert.equal(body('/api/v1/connections', 'post'), '#/components/schemas/ConnectionInput');
  assert.equal(body('/api/v1/connections/{name}', 'patch'), '#/components/schemas/ConnectionPatch');
  assert.equal(body('/api/v1/routes', 'post'), '#/components/schemas/RouteInput');
  assert.equal(body('/api/v1/routes/{name}', 'patch'), '#/components/schemas/RoutePatch');
});

test('the bodies have every key of the configuration schema, its required keys, and no free-form object', () => {
  for (const [name, zod] of [['ConnectionInput', connectionSchema], ['RouteInput', routeSchema]] as const) {
    const s = schemas[name]!;
    assert.equal(s.type, 'object');
    assert.equal(s.additionalProperties, false, `${name}: unknown keys are refused, as config check refuses them`);
    assert.deepEqual(Object.keys(s.properties).sort(), Object.keys(zod.shape).sort());
    assert.ok(!('$schema' in s));
  }
  // host: required for imap and pop3 by config check, not by the schema (for ews the host of ews.url is taken, for graph that of graph.endpoint).
  assert.deepEqual(schemas.ConnectionInput!.required, ['name', 'protocol']);
  assert.deepEqual(schemas.RouteInput!.required, ['name', 'connection', 'scenario']);
  assert.deepEqual(schemas.ConnectionInput!.properties.protocol.enum, ['imap', 'pop3', 'ews', 'graph']);
});

test('secrets are write-only and take the literal, { env }, { file } and { secret } forms', () => {
  const password = schemas.ConnectionInput!.properties.auth.properties.password;
  assert.equal(password.writeOnly, true);
  assert.deepEqual(
    password.anyOf.map((f: Schema) => (f.type === 'string' ? 'literal' : f.required[0])),
    ['literal', 'env', 'file', 'secret'],
  );
  for (const name of ['ConnectionInput', 'RouteInput', 'ConnectionPatch', 'RoutePatch']) {
    const writeOnly = [...walk(schemas[name])].filter(([, n]) => n.writeOnly === true);
    assert.ok(writeOnly.length > 0, `${name} marks its secrets`);
    for (const [path, n] of writeOnly) assert.ok(JSON.stringify(n).includes('"secret"'), `${name} ${path}: a write-only node is a secret`);
  }
  // The route's webhook signing secret too.
  assert.ok([...walk(schemas.RouteInput)].some(([path, n]) => /secret$/.test(path) && n.writeOnly === true), JSON.stringify(schemas.RouteInput).slice(0, 200));
  // A webhook's header values are secrets too; in a patch every secret also takes { keep: PATH }.
  assert.ok([...walk(schemas.RouteInput)].some(([path, n]) => /headers\/additionalProperties$/.test(path) && n.writeOnly === true), 'header values are write-only');
  const patchSecrets = [...walk(schemas.RoutePatch)].filter(([, n]) => n.writeOnly === true);
  assert.ok(patchSecrets.length > 0 && patchSecrets.every(([, n]) => JSON.stringify(n).includes('"keep"')), 'every secret of a patch takes { keep }');
});

test('the patches: the same keys, none required outside secrets and arrays, null allowed (a merge patch)', () => {
  for (const [patch, input] of [['ConnectionPatch', 'ConnectionInput'], ['RoutePatch', 'RouteInput']] as const) {
    const p = schemas[patch]!;
    assert.deepEqual(Object.keys(p.properties).sort(), Object.keys(schemas[input]!.properties).sort());
    assert.equal(p.required, undefined);
    for (const [key, v] of Object.entries(p.properties as Record<string, Schema>)) {
      assert.ok(v.anyOf?.some((b: Schema) => b.type === 'null'), `${patch}.${key} takes null (removes the key)`);
    }
    const inner = [...walk(p)].filter(([path, n]) => Array.isArray(n.required) && !/\/items\b|\/anyOf\/\d+\/anyOf\//.test(path) && !JSON.stringify(n).match(/^\{"type":"object","properties":\{"(env|file|secret|keep)"/));
    assert.deepEqual(inner.map(([path]) => path), [], `${patch}: nested objects merge, so nothing is required`);
  }
});

test("every $ref of the document resolves; the bodies' examples are accepted by the config loader", () => {
  for (const [path, n] of walk(doc)) {
    if (typeof n.$ref !== 'string') continue;
    const target = n.$ref.replace(/^#\//, '').split('/').reduce((o: any, k: string) => o?.[k], doc);
    assert.ok(target !== undefined, `${path}: ${n.$ref} resolves`);
  }
  const connection = schemas.ConnectionInput!.example;
  const route = schemas.RouteInput!.example;
  const { problems } = checkConfigText(stringify({ dataDir: '/tmp/ms-doc', connections: [connection], routes: [route] }));
  assert.deepEqual(problems, []);
});
