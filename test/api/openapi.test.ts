/**
 * The OpenAPI document is a published surface (ARCHITECTURE "Published surfaces are pinned"): it
 * is exactly `test/golden/openapi.json`, and it describes exactly the routes the server has.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiRoutes, ERROR_STATUS, OPENAPI_DOCUMENT, type ApiDeps } from '../../src/api/index.js';
import { REPO_ROOT } from '../harness/cli.js';

const GOLDEN = join(REPO_ROOT, 'test', 'golden', 'openapi.json');
const REGENERATE =
  "npm run build && node --input-type=module -e \"import('./dist/src/api/openapi.js').then((m) => process.stdout.write(JSON.stringify(m.OPENAPI_DOCUMENT, null, 2) + '\\n'))\" > test/golden/openapi.json";

test('the OpenAPI document equals test/golden/openapi.json', () => {
  assert.equal(JSON.stringify(OPENAPI_DOCUMENT, null, 2) + '\n', readFileSync(GOLDEN, 'utf8'), `the OpenAPI document changed: if on purpose, run\n  ${REGENERATE}\nand commit it`);
});

test('the document describes exactly the routes the server has, with their methods', () => {
  // Only the route table is read (paths and methods); no handler runs, so no archive is needed.
  const routes = apiRoutes({} as ApiDeps);
  const served = routes.map((r) => `${r.method.toLowerCase()} ${r.path}`).sort();
  const documented = Object.entries(OPENAPI_DOCUMENT.paths)
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`))
    .sort();
  assert.deepEqual(documented, served);
});

test('the error statuses the document promises are the ones the error mapping gives', () => {
  const op = OPENAPI_DOCUMENT.paths['/api/v1/messages/{archiveId}/attachments/{sha256}'].get;
  const documented = Object.keys(op.responses).filter((s) => s.startsWith('4')).map(Number).sort();
  const mapped = Object.values(ERROR_STATUS).filter((s) => s !== 405).sort();
  assert.deepEqual(documented, mapped);
  assert.equal(OPENAPI_DOCUMENT.openapi, '3.0.3');
});
