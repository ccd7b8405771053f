/**
 * The OpenAPI document is a published surface (ARCHITECTURE "Published surfaces are pinned"): it
 * is exactly `test/golden/openapi.json`, it is OpenAPI 3.1 made from the routes' own schemas, and
 * it describes exactly the routes the server has.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiRoutes, ERROR_STATUS, openApiDocument, type ApiDeps } from '../../src/api/index.js';
import { REPO_ROOT } from '../harness/cli.js';

const GOLDEN = join(REPO_ROOT, 'test', 'golden', 'openapi.json');
const REGENERATE =
  "npm run build && node --input-type=module -e \"import('./dist/src/api/openapi.js').then((m) => process.stdout.write(JSON.stringify(m.openApiDocument(), null, 2) + '\\n'))\" > test/golden/openapi.json";

type Operation = { responses: Record<string, unknown>; security?: unknown[] };
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>> };
const doc = openApiDocument() as Doc;

test('the OpenAPI document equals test/golden/openapi.json', () => {
  assert.equal(JSON.stringify(doc, null, 2) + '\n', readFileSync(GOLDEN, 'utf8'), `the OpenAPI document changed: if on purpose, run\n  ${REGENERATE}\nand commit it`);
});

test('the document describes exactly the routes the server has, with their methods', () => {
  // Only the route table is read (paths and methods); no handler runs, so no archive is needed.
  const served = apiRoutes({} as ApiDeps)
    .map((r) => `${r.method.toLowerCase()} ${r.path}`)
    .sort();
  const documented = Object.entries(doc.paths)
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`))
    .sort();
  assert.deepEqual(documented, served);
});

test('the error statuses the document promises are ones the error mapping gives; every path but the open ones needs credentials', () => {
  assert.equal(doc.openapi, '3.1.0');
  const mapped = new Set(Object.values(ERROR_STATUS));
  // The session path is where credentials are handed in (a token to sign in with, or the cookie it sets): it checks them itself.
  const open = ['/healthz', '/readyz', '/api/v1/openapi.json', '/api/v1/messages/{archiveId}/attachments/{sha256}', '/api/v1/session'];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      for (const s of Object.keys(op.responses).filter((s) => s.startsWith('4'))) assert.ok(mapped.has(Number(s)), `${method} ${path}: ${s} is a status of the error mapping`);
      const guarded = (op.security?.length ?? 0) > 0;
      assert.equal(guarded, !open.includes(path), `${method} ${path}: credentials ${guarded ? 'required' : 'not required'}`);
      if (guarded) assert.ok('401' in op.responses && '403' in op.responses, `${method} ${path} documents 401 and 403`);
    }
  }
});
