/**
 * The re-index job's decisions (core/archive/reindex.ts, ADR 0041): an index older than the
 * writer is rebuilt and a newer one left alone; a rebuild under way towards the same version is
 * resumed where it stopped, with the scope it began with; the last batch records the new version
 * and drops the progress. And the stored form of that state (store-sqlite/fts-version.ts) reads
 * back as written, an index without a version being one from before versions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rebuildNeeded, rebuildToRun, stateAfter } from '../../src/core/archive/reindex.js';
import { buildStateOf, metaWritesOf, SEARCH_INDEX_VERSION } from '../../src/adapters/store-sqlite/fts-version.js';
import type { IndexBuildState } from '../../src/core/ports/search-rebuild.js';

test('an older index is rebuilt, a current or newer one is not', () => {
  assert.equal(rebuildNeeded({ version: 1, rebuild: null }, 2), true);
  assert.equal(rebuildNeeded({ version: 2, rebuild: null }, 2), false);
  assert.equal(rebuildNeeded({ version: 3, rebuild: null }, 2), false);
});

test('a rebuild under way towards this version resumes with its scope; one towards another starts over', () => {
  const under = { target: 2, after: 1400, end: 4000, done: 1400, total: 3990 };
  assert.equal(rebuildToRun({ version: 1, rebuild: under }, { end: 9000, total: 8990 }, 2), under);
  assert.deepEqual(rebuildToRun({ version: 1, rebuild: { ...under, target: 3 } }, { end: 9000, total: 8990 }, 2), { target: 2, after: 0, end: 9000, done: 0, total: 8990 });
  assert.deepEqual(rebuildToRun({ version: 1, rebuild: null }, { end: 0, total: 0 }, 2), { target: 2, after: 0, end: 0, done: 0, total: 0 });
});

test('a batch records its progress under the old version; the last one the new version and no progress', () => {
  const before: IndexBuildState = { version: 1, rebuild: null };
  const p = { target: 2, after: 200, end: 4000, done: 200, total: 4000 };
  assert.deepEqual(stateAfter(before, p, false), { version: 1, rebuild: p });
  assert.deepEqual(stateAfter(before, p, true), { version: 2, rebuild: null });
});

test('search_meta: what is written reads back; nothing written is an index before versions', () => {
  assert.deepEqual(buildStateOf([]), { version: 1, rebuild: null });
  const states: IndexBuildState[] = [
    { version: 1, rebuild: { target: SEARCH_INDEX_VERSION, after: 17, end: 99, done: 12, total: 80 } },
    { version: SEARCH_INDEX_VERSION, rebuild: null },
  ];
  for (const s of states) {
    const rows = metaWritesOf(s).flatMap(([key, value]) => (value === null ? [] : [{ key, value }]));
    assert.deepEqual(buildStateOf(rows), s);
  }
});
