/**
 * The core of verification and the scrub (ADR 0031) over in-memory ports: what is a problem and
 * how each is named, what a repair may set right, when the scrub's next pass is due, its pacer,
 * and the `archive-damaged` alert rule's condition.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { repairArchive, verifyArchive, REPAIRED_CONNECTION } from '../../src/core/archive/archive-verify.js';
import { FIRST_SCRUB_DELAY_MS, nextScrubAt, ScrubPacer } from '../../src/core/archive/scrub.js';
import { checkRule, RunnerMemory } from '../../src/core/alerts/index.js';
import type { ArchiveIndexCheck, BlobScanner, CatalogueRow, IndexedMessage, ScannedBlob } from '../../src/core/ports/archive-check.js';
import type { Clock } from '../../src/core/ports/clock.js';

const sha = (c: string): string => c.repeat(64);

function fakeClock(): Clock & { slept: number[] } {
  let t = 1_000_000;
  const slept: number[] = [];
  return { slept, now: () => t, sleep: async (ms) => void (slept.push(ms), (t += ms)) };
}

function fixture(
  records: ScannedBlob[],
  catalogue: CatalogueRow[],
  messages: IndexedMessage[],
): { scanner: BlobScanner; index: ArchiveIndexCheck; added: Array<[string, string]>; largestRead: () => number } {
  const added: Array<[string, string]> = [];
  // The most rows any one read of the index answered or was asked about.
  let largest = 0;
  const read = <T>(rows: T[], asked = 0): T[] => {
    largest = Math.max(largest, rows.length, asked);
    return rows;
  };
  const bySha = [...catalogue].sort((a, b) => (a.sha256 < b.sha256 ? -1 : a.sha256 > b.sha256 ? 1 : 0));
  const byId = [...messages].sort((a, b) => a.id - b.id);
  const scanner: BlobScanner = {
    async scan(visit) {
      for (const r of records) visit(r);
      return { containers: 1, records: records.length, bytesRead: 1000, rawBytes: 2000, damaged: [{ container: 'pack-00000001', from: 900, to: 1000, why: 'record magic is missing at offset 900', tail: true }] };
    },
    resolve: async (ref) => ref,
    newerThanScan: (ref) => ref.startsWith('pack-00000009'),
  };
  const index: ArchiveIndexCheck = {
    cataloguePage: async (after, limit) => read(bySha.filter((c) => after === null || c.sha256 > after).slice(0, limit)),
    messagesPage: async (after, limit) => read(byId.filter((m) => m.id > after).slice(0, limit)),
    catalogueRowsOf: async (shas) => read(catalogue.filter((c) => shas.includes(c.sha256)), shas.length),
    messagesOf: async (shas) => read(messages.filter((m) => shas.includes(m.sha256)), shas.length),
    reindex: async (blob, connection) => {
      added.push([blob.sha256, connection]);
      return 99;
    },
  };
  return { scanner, index, added, largestRead: () => largest };
}

const row = (c: string, ref: string): CatalogueRow => ({ sha256: sha(c), ref, size: 10, storedSize: 5 });
const msg = (id: number, c: string): IndexedMessage => ({ id, sha256: sha(c), connection: 'journal', messageId: `<${id}@x>`, subject: null });
const rec = (c: string, ref: string, problem: string | null = null): ScannedBlob => ({ ref, sha256: sha(c), size: 10, storedSize: 5, problem });

test('verify: each problem named by its messages; a torn tail, a duplicate and a row written during the scan are not problems; repair indexes only the orphan', async () => {
  const { scanner, index, added } = fixture(
    [rec('a', 'pack-00000001:16:5'), rec('b', 'pack-00000001:85:5', 'payload checksum does not match'), rec('c', 'pack-00000001:154:5'), rec('a', 'pack-00000001:223:5'), rec('e', 'pack-00000001:292:5', 'unreadable')],
    [row('a', 'pack-00000001:16:5'), row('b', 'pack-00000001:85:5'), row('d', 'pack-00000002:16:5'), row('f', 'pack-00000009:16:5')],
    [msg(1, 'a'), msg(2, 'b'), msg(3, 'd'), msg(4, 'f')],
  );
  const clock = fakeClock();
  const report = await verifyArchive({ scanner, index, clock });
  assert.equal(report.ok, false);
  assert.equal(report.duplicates, 1);
  assert.equal(report.tornTails, 1);
  assert.equal(report.newerThanScan, 1);
  const got = report.problems.map((p) => [p.kind, p.archiveId?.[0] ?? null, p.messages.map((m) => m.id), p.repairable]);
  assert.deepEqual(
    got.sort(),
    [
      ['blob-corrupt', 'b', [2], false],
      ['blob-missing', 'd', [3], false],
      ['damaged-record', null, [], false],
      ['orphan-blob', 'c', [], true],
    ].sort(),
  );
  const repaired = await repairArchive(index, report, clock.now());
  assert.deepEqual(added, [[sha('c'), REPAIRED_CONNECTION]]);
  assert.deepEqual(repaired.repair, { reindexed: 1, left: 3 });
  assert.equal(repaired.ok, false);
});

test('verify reads the index a page at a time: with pages of 1, 2 or 3 rows the report is the one of a single page', async () => {
  // Every kind of problem, and rows on both sides of page boundaries: messages sharing a blob,
  // a message whose blob has no row, a row without a message.
  const records = [rec('a', 'pack-00000001:16:5'), rec('b', 'pack-00000001:85:5', 'payload checksum does not match'), rec('c', 'pack-00000001:154:5'), rec('g', 'pack-00000001:223:5'), rec('h', 'pack-00000001:292:5'), rec('e', 'pack-00000001:361:5', 'unreadable')];
  const catalogue = [row('a', 'pack-00000001:16:5'), row('b', 'pack-00000001:85:5'), row('d', 'pack-00000002:16:5'), row('f', 'pack-00000009:16:5'), row('g', 'pack-00000001:223:5'), row('h', 'pack-00000001:292:5')];
  const messages = [msg(1, 'a'), msg(2, 'b'), msg(3, 'd'), msg(4, 'f'), msg(5, 'a'), msg(6, 'g'), msg(7, 'i')];
  const reportWith = async (pageRows?: number): Promise<{ report: unknown; largest: number }> => {
    const { scanner, index, largestRead } = fixture(records, catalogue, messages);
    const report = await verifyArchive({ scanner, index, clock: fakeClock(), ...(pageRows ? { pageRows } : {}) });
    return { report, largest: largestRead() };
  };
  const whole = await reportWith();
  const kinds = (whole.report as { problems: Array<{ kind: string; archiveId: string | null }> }).problems.map((p) => `${p.kind}:${p.archiveId?.[0] ?? '-'}`).sort();
  assert.deepEqual(kinds, ['blob-corrupt:b', 'blob-missing:d', 'blob-missing:i', 'damaged-record:-', 'orphan-blob:c', 'orphan-blob:h']);
  for (const pageRows of [1, 2, 3]) {
    const paged = await reportWith(pageRows);
    assert.deepEqual(paged.report, whole.report, `pages of ${pageRows}`);
    assert.ok(paged.largest <= pageRows, `no read of the index above ${pageRows} rows (${paged.largest})`);
  }
});

test('scrub: the first pass waits ten minutes (or a period if shorter), then a period after the last; the pacer holds the rate', async () => {
  const now = 5_000_000;
  assert.equal(nextScrubAt(null, now, { everyHours: 168 }), now + FIRST_SCRUB_DELAY_MS);
  assert.equal(nextScrubAt(null, now, { everyHours: 0.001 }), now + 3600);
  assert.equal(nextScrubAt(null, now + 1000, { everyHours: 0.001 }, now), now + 3600, 'counted from the start, not from each look');
  assert.equal(nextScrubAt({ finishedAt: now - 3_600_000, ok: true, problems: 0, first: [] }, now, { everyHours: 2 }), now + 3_600_000);
  assert.equal(nextScrubAt({ finishedAt: now - 10 * 3_600_000, ok: true, problems: 0, first: [] }, now, { everyHours: 2 }), now);
  const clock = fakeClock();
  const pacer = new ScrubPacer(clock, 1000);
  await pacer.pace(500);
  await pacer.pace(1500);
  assert.deepEqual(clock.slept, [500, 1500]);
});

test('the archive-damaged rule: unknown before a first pass, firing on problems, resolved when intact', () => {
  const rule = { name: 'scrub', kind: 'archive-damaged' as const, enabled: true, channels: ['hook'] };
  const memory = new RunnerMemory();
  assert.equal(checkRule(rule, {}, memory, 0), undefined);
  const firing = checkRule(rule, { archive: { ok: false, problems: 2, first: 'blob-corrupt: archive id x: message 3' } }, memory, 0);
  assert.equal(firing?.holds, true);
  assert.match(firing!.summary, /2 problems .*message 3/);
  assert.equal(checkRule(rule, { archive: { ok: true } }, memory, 0)?.holds, false);
});
