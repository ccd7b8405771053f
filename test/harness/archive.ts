/**
 * Reads the archive back the way an operator would: `mailsluice export` to a directory, every
 * `.eml` checked to hash to its own name (SPEC: `<sha256>.eml`, the raw bytes as received).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, type Workspace } from './cli.js';
import { sha256 } from './messages.js';

/** Exports the archive as eml (into `dir` under the workspace) and returns the files by content hash. */
export async function exportArchive(ws: Workspace, dir = 'export'): Promise<Map<string, Buffer>> {
  const out = join(ws.dir, dir);
  const r = await runCli(['export', '--out', out], ws);
  assert.equal(r.code, 0, r.stderr);
  const files = new Map<string, Buffer>();
  for (const f of readdirSync(out)) {
    const bytes = readFileSync(join(out, f));
    const h = sha256(bytes);
    assert.equal(`${h}.eml`, f, 'exported bytes must hash to their name');
    files.set(h, bytes);
  }
  return files;
}

/**
 * Asserts the archive holds exactly `expected` (by hash), each byte for byte, as an export into
 * `dir` (a new one each time reads everything again) shows it.
 */
export async function assertArchiveHolds(ws: Workspace, expected: Map<string, Buffer>, context = '', dir = 'export'): Promise<void> {
  const got = await exportArchive(ws, dir);
  assert.deepEqual([...got.keys()].sort(), [...expected.keys()].sort(), `archive content differs ${context}`.trim());
  for (const [h, bytes] of got) assert.ok(bytes.equals(expected.get(h)!), `${h}.eml is not byte-identical ${context}`.trim());
}
