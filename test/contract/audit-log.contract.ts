/**
 * The AuditLog port's contract, and `audit verify`'s walk of the chain over it
 * (`app/audit.ts`, `core/audit/audit-chain.ts`): records are sealed one to the next, listed by
 * time and principal, never carry a secret; a record removed or altered around the port (by
 * whoever can write the storage) is named by its sequence number. Run against SQLite and the
 * in-memory reference adapter (test/contract/audit-log.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHash } from 'node:crypto';
import type { AuditLog, AuditRecord } from '../../src/core/ports/audit-log.js';
import { GENESIS_HASH, recordHash } from '../../src/core/audit/audit-chain.js';
import { verifyAuditLog } from '../../src/app/audit.js';

/** An audit log on fresh storage, with ways to change it around the port (as someone with the file could). */
export interface AuditLogHarness {
  log: AuditLog;
  /** Sets fields of record `seq` in the storage, past every guard. */
  alter(seq: number, fields: Partial<Omit<AuditRecord, 'seq'>>): Promise<void>;
  /** Removes record `seq` from the storage, past every guard. */
  remove(seq: number): Promise<void>;
  cleanup(): Promise<void>;
}

/** Builds a fresh audit log for one test. */
export type AuditLogFactory = () => Promise<AuditLogHarness>;

const sha256 = (t: string): string => createHash('sha256').update(t, 'utf8').digest('hex');

async function withLog(factory: AuditLogFactory, fn: (h: AuditLogHarness) => Promise<void>): Promise<void> {
  const h = await factory();
  try {
    await fn(h);
  } finally {
    await h.cleanup();
  }
}

/** Appends `n` records: who alternates alice/bob, at 1000, 2000, … */
async function fill(log: AuditLog, n: number): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for (let i = 1; i <= n; i++) {
    out.push(await log.append({ at: i * 1000, who: i % 2 ? 'alice' : 'bob', origin: i % 3 ? 'cli' : '10.0.0.7', action: 'archive.search', detail: { text: `q${i}`, limit: 100 } }));
  }
  return out;
}

/** Registers the audit log's contract tests for the adapter `name`. */
export function runAuditLogContract(name: string, factory: AuditLogFactory): void {
  test(`${name} audit log: records are numbered from 1 and each carries the hash of the one before`, () =>
    withLog(factory, async ({ log }) => {
      assert.equal(await log.head(), null);
      assert.deepEqual(await verifyAuditLog(log), { ok: true, records: 0, head: GENESIS_HASH });
      const rs = await fill(log, 4);
      assert.deepEqual(rs.map((r) => r.seq), [1, 2, 3, 4]);
      assert.equal(rs[0]!.prevHash, GENESIS_HASH);
      for (let i = 1; i < rs.length; i++) assert.equal(rs[i]!.prevHash, rs[i - 1]!.hash);
      for (const r of rs) assert.equal(recordHash(r, sha256), r.hash);
      assert.equal(rs[0]!.detail, '{"limit":100,"text":"q1"}', 'canonical JSON: keys sorted');
      assert.deepEqual(await log.head(), { seq: 4, hash: rs[3]!.hash });
      const all: AuditRecord[] = [];
      for await (const r of log.readAll()) all.push(r);
      assert.deepEqual(all, rs, 'stored as sealed');
      assert.deepEqual(await verifyAuditLog(log), { ok: true, records: 4, head: rs[3]!.hash });
    }));

  test(`${name} audit log: list filters by time (since inclusive, until exclusive), by who, and is cut at limit`, () =>
    withLog(factory, async ({ log }) => {
      await fill(log, 6);
      assert.deepEqual((await log.list()).map((r) => r.seq), [1, 2, 3, 4, 5, 6]);
      assert.deepEqual((await log.list({ since: 2000, until: 5000 })).map((r) => r.seq), [2, 3, 4]);
      assert.deepEqual((await log.list({ who: 'bob' })).map((r) => r.seq), [2, 4, 6]);
      assert.deepEqual((await log.list({ who: 'bob', since: 3000, limit: 1 })).map((r) => r.seq), [4]);
      assert.deepEqual(await log.list({ who: 'carol' }), []);
    }));

  test(`${name} audit log: list filters by action, pages with a cursor either way, and lists the newest first when asked`, () =>
    withLog(factory, async ({ log }) => {
      await fill(log, 5);
      await log.append({ at: 6000, who: 'alice', origin: 'cli', action: 'token.create', detail: { name: 't' } });
      assert.deepEqual((await log.list({ action: 'token.create' })).map((r) => r.seq), [6]);
      assert.deepEqual((await log.list({ action: 'archive.search', who: 'alice' })).map((r) => r.seq), [1, 3, 5]);
      assert.deepEqual((await log.list({ afterSeq: 2, limit: 2 })).map((r) => r.seq), [3, 4]);
      assert.deepEqual((await log.list({ newestFirst: true })).map((r) => r.seq), [6, 5, 4, 3, 2, 1]);
      assert.deepEqual((await log.list({ newestFirst: true, limit: 2 })).map((r) => r.seq), [6, 5]);
      assert.deepEqual((await log.list({ newestFirst: true, beforeSeq: 5, limit: 2 })).map((r) => r.seq), [4, 3]);
      assert.deepEqual((await log.list({ newestFirst: true, action: 'archive.search', who: 'bob' })).map((r) => r.seq), [4, 2]);
    }));

  test(`${name} audit log: a detail's secret-named keys are stored redacted`, () =>
    withLog(factory, async ({ log }) => {
      const r = await log.append({ at: 1, who: 'ops', origin: 'cli', action: 'config.change', detail: { connection: 'j', fields: { password: 'hunter2', host: 'h', auth: { clientSecret: 's3' } }, apiToken: 'msl_x' } });
      assert.ok(!r.detail.includes('hunter2') && !r.detail.includes('s3') && !r.detail.includes('msl_x'), r.detail);
      assert.deepEqual(JSON.parse(r.detail), { apiToken: '[redacted]', connection: 'j', fields: { auth: { clientSecret: '[redacted]' }, host: 'h', password: '[redacted]' } });
      assert.equal((await log.list())[0]!.detail, r.detail);
    }));

  test(`${name} audit log: a field altered in one record names that record`, () =>
    withLog(factory, async (h) => {
      await fill(h.log, 5);
      await h.alter(3, { who: 'mallory' });
      const v = await verifyAuditLog(h.log);
      assert.equal(v.ok, false);
      assert.ok(!v.ok && v.seq === 3 && /altered/.test(v.problem), JSON.stringify(v));
    }));

  test(`${name} audit log: a record rewritten with a fresh hash is named by the link of the next one`, () =>
    withLog(factory, async (h) => {
      const rs = await fill(h.log, 5);
      const forged = { ...rs[1]!, detail: '{"text":"nothing to see"}' };
      await h.alter(2, { detail: forged.detail, hash: recordHash(forged, sha256) });
      const v = await verifyAuditLog(h.log);
      assert.ok(!v.ok && v.seq === 2 && /rewritten/.test(v.problem), JSON.stringify(v));
    }));

  test(`${name} audit log: a removed record is named, in the middle, first or last, and after later appends`, () =>
    withLog(factory, async (h) => {
      await fill(h.log, 5);
      await h.remove(3);
      let v = await verifyAuditLog(h.log);
      assert.ok(!v.ok && v.seq === 3 && /missing/.test(v.problem), JSON.stringify(v));
      await h.remove(1);
      v = await verifyAuditLog(h.log);
      assert.ok(!v.ok && v.seq === 1 && /missing/.test(v.problem), JSON.stringify(v));
    }));

  test(`${name} audit log: a removed last record is named through the head, even once more records follow`, () =>
    withLog(factory, async (h) => {
      await fill(h.log, 4);
      await h.remove(4);
      let v = await verifyAuditLog(h.log);
      assert.ok(!v.ok && v.seq === 4 && /missing/.test(v.problem), JSON.stringify(v));
      const next = await h.log.append({ at: 9000, who: 'alice', origin: 'cli', action: 'archive.export', detail: {} });
      assert.equal(next.seq, 5, 'the next record does not take the removed one\'s place');
      v = await verifyAuditLog(h.log);
      assert.ok(!v.ok && v.seq === 4 && /missing/.test(v.problem), JSON.stringify(v));
    }));

  test(`${name} audit log: a retention move records the checkpoint, removes exactly the moved records and appends its record; a stale move is refused and changes nothing`, () =>
    withLog(factory, async ({ log }) => {
      const rs = await fill(log, 5);
      assert.equal(await log.checkpoint(), null);
      const move = { firstSeq: 1, lastSeq: 3, lastHash: rs[2]!.hash, file: 'audit-000000000001-000000000003.jsonl', fileSha256: 'f'.repeat(64), at: 9000 };
      const entry = { at: 9000, who: 'mailsluice', origin: 'retention', action: 'audit.retention', detail: { firstSeq: 1, lastSeq: 3, count: 3, fromHash: GENESIS_HASH, lastHash: rs[2]!.hash, file: move.file, fileSha256: move.fileSha256 } };
      // Not the oldest records, or not ending in that hash: refused, nothing changed.
      for (const wrong of [{ ...move, firstSeq: 2 }, { ...move, lastHash: 'e'.repeat(64) }]) {
        await assert.rejects(log.commitRetention(wrong, entry), (e: unknown) => (e as { code?: string }).code === 'AUDIT_CHAIN_BROKEN');
      }
      assert.equal((await log.list()).length, 5);
      assert.equal(await log.checkpoint(), null);
      const r = await log.commitRetention(move, entry);
      assert.equal(r.seq, 6);
      assert.equal(r.prevHash, rs[4]!.hash);
      assert.deepEqual(await log.checkpoint(), { seq: 3, hash: rs[2]!.hash, file: move.file, fileSha256: move.fileSha256, at: 9000 });
      assert.deepEqual((await log.list()).map((x) => x.seq), [4, 5, 6]);
      assert.deepEqual(await log.head(), { seq: 6, hash: r.hash });
      const v = await verifyAuditLog(log);
      assert.ok(v.ok && v.records === 3 && v.from === 4, JSON.stringify(v));
      // The same move again: the checkpoint is past it.
      await assert.rejects(log.commitRetention(move, entry), (e: unknown) => (e as { code?: string }).code === 'AUDIT_CHAIN_BROKEN');
    }));
}
