/**
 * Every adapter folder has the same shape, so a reader who knows one knows where to look in any
 * other, and a new adapter is written by copying the layout (issue 13): `src/adapters/<role>-<tech>/`
 * holds
 *
 * - `index.ts`: the public names, the only file other code imports;
 * - `<tech>-<role>.ts`: the port implemented;
 * - `<tech>-<role>-config.ts`: its options, defaults and tunables, each with its reason;
 * - `<tech>-error-map.ts`: the technology's failures → catalogue codes (where nothing fails,
 *   the file says so and why);
 * - `README.md`: what the adapter is, its files, what it guarantees, where it is tested.
 *
 * Exempt by design are the `*-node` folders (`tls-node`, `fs-node`): stateless helpers over Node's
 * own modules that implement no port, which any adapter may import (docs/architecture.md, "The
 * dependency rule"); they have no role, hence no `<tech>-<role>.ts` to hold.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SRC } from '../harness/source-files.js';

const ADAPTERS = join(SRC, 'adapters');

/** Helper folders with no port (see the module comment): `*-node`. */
const isHelperFolder = (name: string): boolean => name.endsWith('-node');

/**
 * How a role may be spelled in file names besides the folder's own word: the blob role's files
 * are named after its port, `BlobStore` (`fs-blob-store.ts`), which says more than `fs-blob.ts`.
 * Either spelling passes; the port file and the config file must use the same one.
 */
const ROLE_SPELLINGS: Readonly<Record<string, readonly string[]>> = { blob: ['blob', 'blob-store'] };

/** The files `folder` must hold, by its name `<role>-<tech>` (the port file's spelling chosen from what is there). */
function requiredFiles(folder: string, present: ReadonlySet<string>): string[] {
  const dash = folder.indexOf('-');
  const role = folder.slice(0, dash);
  const tech = folder.slice(dash + 1);
  const spellings = ROLE_SPELLINGS[role] ?? [role];
  const spelling = spellings.find((s) => present.has(`${tech}-${s}.ts`)) ?? spellings[0]!;
  return ['index.ts', `${tech}-${spelling}.ts`, `${tech}-${spelling}-config.ts`, `${tech}-error-map.ts`, 'README.md'];
}

const folders = readdirSync(ADAPTERS)
  .filter((name) => statSync(join(ADAPTERS, name)).isDirectory())
  .sort();
const adapterFolders = folders.filter((name) => !isHelperFolder(name));

test('src/adapters holds adapter folders named <role>-<tech> (and the *-node helper folders)', () => {
  assert.ok(adapterFolders.length > 0, 'no adapter folder found');
  const misnamed = adapterFolders.filter((name) => !/^[a-z0-9]+-[a-z0-9]+(-[a-z0-9]+)*$/.test(name));
  assert.deepEqual(misnamed, [], 'folder names are <role>-<tech>, lower case, words joined by "-"');
});

for (const folder of adapterFolders) {
  test(`adapters/${folder} holds index.ts, <tech>-<role>.ts, <tech>-<role>-config.ts, <tech>-error-map.ts, README.md`, () => {
    const dir = join(ADAPTERS, folder);
    const present = new Set(readdirSync(dir));
    const missing = requiredFiles(folder, present).filter((file) => !existsSync(join(dir, file)));
    assert.deepEqual(missing, [], `src/adapters/${folder}/ lacks ${missing.join(', ')}`);
  });
}

test('the expected names follow the folder name (the rule itself)', () => {
  assert.deepEqual(requiredFiles('action-webhook', new Set()), ['index.ts', 'webhook-action.ts', 'webhook-action-config.ts', 'webhook-error-map.ts', 'README.md']);
  // A technology of two words keeps both.
  assert.deepEqual(requiredFiles('parser-postal-mime', new Set()), ['index.ts', 'postal-mime-parser.ts', 'postal-mime-parser-config.ts', 'postal-mime-error-map.ts', 'README.md']);
  assert.deepEqual(requiredFiles('blob-fs', new Set(['fs-blob-store.ts'])), ['index.ts', 'fs-blob-store.ts', 'fs-blob-store-config.ts', 'fs-error-map.ts', 'README.md']);
  assert.deepEqual(requiredFiles('blob-fs', new Set(['fs-blob.ts'])), ['index.ts', 'fs-blob.ts', 'fs-blob-config.ts', 'fs-error-map.ts', 'README.md']);
  assert.ok(isHelperFolder('tls-node') && isHelperFolder('fs-node') && !isHelperFolder('source-imap'));
});
