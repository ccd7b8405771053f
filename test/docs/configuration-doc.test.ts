/**
 * `docs/configuration.md` is a published surface: it is generated from the schema and must be
 * exactly what the generator renders now (ARCHITECTURE "Published surfaces are pinned").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MINIMAL_EXAMPLE, renderConfigReference } from '../../src/config/reference.js';
import { checkConfigText } from '../../src/config/loader.js';
import { configSchema, connectionSchema, routeSchema } from '../../src/config/schema.js';
import { REPO_ROOT } from '../harness/cli.js';

const DOC = join(REPO_ROOT, 'docs', 'configuration.md');
const REGENERATE = 'docs/configuration.md is stale: run `npm run build && node dist/src/config/write-reference.js` and commit the result';

test('docs/configuration.md equals what the schema renders', () => {
  const committed = readFileSync(DOC, 'utf8');
  const rendered = renderConfigReference();
  if (committed !== rendered) {
    // Name the first differing line, so the failure says what changed, not only that something did.
    const a = committed.split('\n');
    const b = rendered.split('\n');
    let i = 0;
    while (i < Math.max(a.length, b.length) && a[i] === b[i]) i++;
    assert.fail(`${REGENERATE}\nfirst difference at line ${i + 1}:\n  committed: ${a[i] ?? '(end of file)'}\n  rendered:  ${b[i] ?? '(end of file)'}`);
  }
});

test('the reference has a row for every key of the schema', () => {
  const rendered = renderConfigReference();
  const expect = [
    ...Object.keys(configSchema.shape).filter((k) => k !== 'connections' && k !== 'routes'),
    ...Object.keys(connectionSchema.shape).map((k) => `connections[].${k}`),
    ...Object.keys(routeSchema.shape).map((k) => `routes[].${k}`),
  ];
  const missing = expect.filter((path) => !rendered.includes(`| \`${path}\` |`));
  assert.deepEqual(missing, [], `keys without a row in the reference: ${missing.join(', ')}`);
});

test('the minimal example in the reference is a valid configuration', () => {
  const { config, problems } = checkConfigText(MINIMAL_EXAMPLE, { env: { JOURNAL_PASSWORD: 'x', HOOK_SECRET: 'y' } });
  assert.deepEqual(problems, []);
  assert.ok(config);
  assert.equal(config.connections[0]?.name, 'journal');
  assert.ok(renderConfigReference().includes(MINIMAL_EXAMPLE), 'the example is shown verbatim');
});
