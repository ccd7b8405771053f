/**
 * Issue 14, item 7: per-connection log files have a size cap and rotation. With a tiny cap, the
 * logger rotates `<name>.log` to `<name>.log.1` … keeping N files, each under the cap, every file
 * 0600, and every record (of those the kept files can hold) present exactly once, whole, in order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonlLogger } from '../../src/adapters/logger-jsonl/index.js';
import { checkConfigText } from '../../src/config/loader.js';

function records(file: string): number[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { n: number }).n);
}

test('a capped connection log rotates to .1 … .N and keeps every record once across the files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-logrot-'));
  try {
    const file = join(dir, 'logs', 'box.log');
    const maxBytes = 1000;
    const parent = new JsonlLogger([]).with([{ level: 'debug', file, rotation: { maxBytes, keep: 3 } }], { connection: 'box' });
    const child = parent.child({ cycle: 1 }); // a child shares the file and its size
    const COUNT = 40;
    for (let n = 0; n < COUNT; n++) (n % 2 ? child : parent).info('message archived', { n, pad: 'x'.repeat(50) });

    const files = [`${file}.3`, `${file}.2`, `${file}.1`, file];
    for (const f of files) {
      assert.ok(existsSync(f), `${f} exists`);
      assert.ok(statSync(f).size <= maxBytes, `${f} is within the cap (${statSync(f).size})`);
      assert.equal(statSync(f).mode & 0o777, 0o600, `${f} is 0600`);
    }
    assert.equal(existsSync(`${file}.4`), false, 'no more than keep rotated files');
    const seen = files.flatMap(records);
    // The kept files hold the newest records, in order, each once; the oldest went with .4.
    const first = seen[0]!;
    assert.ok(first > 0, 'the oldest records were rotated out');
    assert.deepEqual(seen, Array.from({ length: COUNT - first }, (_, i) => first + i));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with enough files kept, nothing is lost across rotations, and a new logger continues the sizes it finds', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-logrot-'));
  try {
    const file = join(dir, 'box.log');
    const rotation = { maxBytes: 500, keep: 100 };
    for (let round = 0; round < 2; round++) {
      // A second logger (a restarted service) reads the size of the file it finds.
      const logger = new JsonlLogger([{ level: 'debug', file, rotation }]);
      for (let n = round * 30; n < round * 30 + 30; n++) logger.warn('w', { n });
    }
    const rotated: string[] = [];
    for (let i = 100; i >= 1; i--) if (existsSync(`${file}.${i}`)) rotated.push(`${file}.${i}`);
    assert.ok(rotated.length >= 3, `rotated ${rotated.length} times`);
    assert.deepEqual([...rotated, file].flatMap(records), Array.from({ length: 60 }, (_, i) => i));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('logging.maxFileMb and logging.keepFiles default to 50 and 5, and are checked', () => {
  const ok = checkConfigText('connections: []\n');
  assert.deepEqual(ok.config?.logging, { maxFileMb: 50, keepFiles: 5 });
  const bad = checkConfigText('logging: { maxFileMb: 0, keepFiles: 1.5 }\n');
  assert.deepEqual(bad.problems.map((p) => p.path).sort(), ['logging.keepFiles', 'logging.maxFileMb']);
});
