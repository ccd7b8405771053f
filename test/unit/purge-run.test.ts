/**
 * `runPurge` (app/purge.ts) over a real archive.db: what expired goes in batches, what a hold
 * keeps is counted per hold name and stays, a dry run (and one judged at a later date) changes
 * nothing, compaction is asked once after the rows went and never on a dry run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteStore } from '../../src/adapters/store-sqlite/index.js';
import { parsePeriod } from '../../src/core/archive/retention.js';
import { runPurge, type PurgeDeps } from '../../src/app/purge.js';
import type { TakenRecord } from '../../src/core/ports/drain-ledger.js';
import type { Logger } from '../../src/core/ports/logger.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2030, 0, 1);
const rec = (connection: string, i: number, takenAt: number): TakenRecord => ({
  connection,
  sourceKey: `imap:INBOX:1:${i}`,
  mailbox: 'INBOX',
  uidValidity: 1,
  uid: i,
  uidl: null,
  sha256: i.toString(16).padStart(64, '0'),
  size: 1000,
  blob: { ref: `pack-00000001:${i}:10`, storedSize: 10 },
  takenAt,
});

test('expired ones go, held ones stay counted per hold, a dry run changes nothing, compaction asked after', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-purge-'));
  const store = createSqliteStore({ file: join(dir, 'archive.db') });
  try {
    // 1..1200 on old (taken 100 days ago), 1201..1210 on fresh (taken a day ago).
    const old = Array.from({ length: 1200 }, (_, i) => rec('old', i + 1, NOW - 100 * DAY));
    for (let i = 0; i < old.length; i += 400) await store.commitTaken(old.slice(i, i + 400));
    await store.commitTaken(Array.from({ length: 10 }, (_, i) => rec('fresh', 1201 + i, NOW - DAY)));
    store.connection().db.exec('UPDATE messages SET parse_state = 1; UPDATE source_keys SET action_state = 1');
    let reclaimed = 0;
    const asked: number[] = [];
    const deps: PurgeDeps = {
      store: store.retention,
      policy: { default: parsePeriod('30d')!, rules: [] },
      clock: { now: () => NOW, sleep: async () => undefined },
      logger: {} as Logger, // never logs: runPurge reports, createPurger logs
      held: async (ids) => {
        asked.push(ids.length);
        return new Map(ids.filter((id) => id % 100 === 0).map((id) => [id, id % 200 === 0 ? ['case-a', 'case-b'] : ['case-a']]));
      },
      reclaimSpace: async () => {
        reclaimed++;
        return { packsRewritten: 0, bytesBefore: 10, bytesAfter: 10 };
      },
      who: 'test',
      origin: 'test',
    };

    const dry = await runPurge(deps, { dryRun: true, keepItems: true });
    assert.deepEqual([dry.scanned, dry.expired, dry.purged, dry.keptByHolds], [1210, 1200, 1188, 12]);
    assert.deepEqual(dry.holds, { 'case-a': 12, 'case-b': 6 });
    assert.equal(dry.items!.length, 1000, 'kept items capped');
    assert.equal(dry.space, null);
    assert.equal(reclaimed, 0);
    const later = await runPurge(deps, { dryRun: true, asOf: NOW + 40 * DAY });
    assert.equal(later.purged, 1198, 'forty days on, the fresh ones too');
    assert.equal(store.connection().db.prepare('SELECT count(*) FROM messages').pluck().get(), 1210);

    const done = await runPurge(deps);
    assert.deepEqual([done.purged, done.keptByHolds, done.bytesPurged, done.auditRecords.length], [1188, 12, 1188 * 1000, 3]);
    assert.equal(reclaimed, 1);
    assert.ok(asked.every((n) => n <= 1000), 'holds asked a page at a time');
    const left = store.connection().db.prepare("SELECT id FROM messages WHERE connection = 'old' ORDER BY id").pluck().all() as number[];
    assert.deepEqual(left, Array.from({ length: 12 }, (_, i) => (i + 1) * 100));
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
