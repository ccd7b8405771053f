/**
 * ADR 0029, the app's move over real files (`app/audit-retention.ts`, `audit-archive.ts`) on the
 * in-memory reference log and a clock the test sets: a move larger than a file takes several
 * files that continue one another, each with its own retention record; leftovers of a move that never committed are removed first; a prefix that
 * does not verify is refused and nothing moves; `verifyAuditLog` with the archive holds, and
 * names a record altered in the first file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryAuditLog } from '../reference/memory-audit-log.js';
import { pruneAuditLog } from '../../src/app/audit-retention.js';
import { auditArchiveDir, verifyAuditLog } from '../../src/app/audit.js';
import type { Logger } from '../../src/core/ports/logger.js';

const DAY = 24 * 60 * 60 * 1000;
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child() { return quiet; }, with() { return quiet; } } as unknown as Logger;

test('a move over several files, leftovers removed, a broken prefix or a removed checkpoint refused; verify with the archive holds and names an altered file', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ms-audit-prune-'));
  try {
    let now = 100 * DAY;
    const clock = { now: () => now, sleep: async () => undefined };
    const log = new MemoryAuditLog();
    for (let i = 0; i < 7; i++) await log.append({ at: 10 * DAY + i, who: 'ops', origin: 'cli', action: 'archive.search', detail: { i } });
    await log.append({ at: 99 * DAY, who: 'ops', origin: 'cli', action: 'archive.search', detail: { recent: true } });
    const dir = auditArchiveDir(dataDir);
    // Leftovers of a move that crashed before its commit.
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, 'audit-000000000001-000000000002.jsonl'), 'half');
    writeFileSync(join(dir, '.tmp-audit-000000000001-000000000003.jsonl'), 'half');

    const r = await pruneAuditLog({ audit: log, clock, logger: quiet, dataDir, maxPerFile: 3 }, 30);
    assert.deepEqual(r.files.map((f) => [f.file, f.count]), [
      ['audit-000000000001-000000000003.jsonl', 3],
      ['audit-000000000004-000000000006.jsonl', 3],
      ['audit-000000000007-000000000007.jsonl', 1],
    ]);
    assert.equal(r.moved, 7);
    assert.deepEqual(readdirSync(dir).sort(), r.files.map((f) => f.file));
    assert.deepEqual(log.records.map((x) => [x.seq, x.action]), [[8, 'archive.search'], [9, 'audit.retention'], [10, 'audit.retention'], [11, 'audit.retention']]);
    const v = await verifyAuditLog(log, { archiveDir: dir });
    assert.ok(v.ok && v.archive?.files === 3 && v.archive.records === 7 && v.from === 8 && v.records === 4, JSON.stringify(v));

    // One record of the first file altered: named with that file.
    const first = join(dir, r.files[0]!.file);
    const kept = readFileSync(first, 'utf8');
    writeFileSync(first, kept.replace('"who":"ops"', '"who":"eve"'));
    const bad = await verifyAuditLog(log, { archiveDir: dir });
    assert.ok(!bad.ok && bad.file === r.files[0]!.file && bad.seq === 1, JSON.stringify(bad));
    writeFileSync(first, kept);

    // Later: records 8 and on are old too. With the checkpoint removed by hand, nothing moves and
    // the committed files are not taken for leftovers.
    now = 200 * DAY;
    const checkpoint = log.checkpointRow;
    log.checkpointRow = null;
    await assert.rejects(pruneAuditLog({ audit: log, clock, logger: quiet, dataDir, maxPerFile: 3 }, 30), (e: unknown) => (e as { code?: string }).code === 'AUDIT_CHAIN_BROKEN');
    assert.equal(readdirSync(dir).length, 3, 'every file kept');
    log.checkpointRow = checkpoint;
    // With record 9 altered in the store: nothing moves either.
    log.records[1] = { ...log.records[1]!, who: 'mallory' };
    await assert.rejects(pruneAuditLog({ audit: log, clock, logger: quiet, dataDir, maxPerFile: 3 }, 30), (e: unknown) => (e as { code?: string }).code === 'AUDIT_CHAIN_BROKEN' && /record 9: altered/.test(String((e as Error).message)));
    assert.equal(readdirSync(dir).length, 3, 'no file written');
    assert.equal(log.records.length, 4, 'no record removed');
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
