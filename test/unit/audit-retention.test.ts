/**
 * ADR 0029, the pure part (core/audit/audit-retention.ts, audit-chain.ts): the verifier started
 * at a checkpoint; the checkpoint held against the last `audit.retention` record (moved forward,
 * moved back, removed: each contradicts the chain); the archive walk over files (an altered
 * line, a trailer that lies, a file removed, files that do not end at the checkpoint).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ChainVerifier, sealRecord, type AuditRecord, type ChainHead } from '../../src/core/audit/audit-chain.js';
import {
  ArchiveWalk,
  archiveFileName,
  archiveRecordLine,
  archiveTrailerLine,
  CheckpointWitness,
  parseArchiveFileName,
  parseArchiveRecord,
  parseArchiveTrailer,
  RETENTION_ACTION,
  type AuditCheckpoint,
} from '../../src/core/audit/audit-retention.js';

const sha = (t: string): string => createHash('sha256').update(t, 'utf8').digest('hex');

/** `n` records sealed one to the next after `head`. */
function chain(n: number, head: ChainHead | null = null, action = 'archive.search'): AuditRecord[] {
  const out: AuditRecord[] = [];
  let h = head;
  for (let i = 0; i < n; i++) {
    const r = sealRecord(h, { at: 1000 * ((h?.seq ?? 0) + 1), who: 'ops', origin: 'cli', action, detail: { i } }, sha);
    out.push(r);
    h = { seq: r.seq, hash: r.hash };
  }
  return out;
}

/** An archive file's text and what the app measures of it. */
function file(records: AuditRecord[]): { name: string; text: string; recordsSha: string; fileSha: string } {
  const body = records.map(archiveRecordLine).join('');
  const recordsSha = sha(body);
  const text = body + archiveTrailerLine(records, recordsSha);
  return { name: archiveFileName(records[0]!.seq, records.at(-1)!.seq), text, recordsSha, fileSha: sha(text) };
}

/** Feeds a file's text to the walk as the app does. */
function walkFile(walk: ArchiveWalk, name: string, text: string): ReturnType<ArchiveWalk['endFile']> {
  const p = walk.beginFile(name);
  if (p) return p;
  const lines = text.split('\n').filter((l) => l !== '');
  const trailer = lines.pop()!;
  for (const l of lines) {
    const q = walk.record(name, parseArchiveRecord(l));
    if (q) return q;
  }
  const body = lines.map((l) => l + '\n').join('');
  return walk.endFile({ name, trailer: parseArchiveTrailer(trailer), recordsSha256: sha(body), fileSha256: sha(text) });
}

/** A history of two moves: records 1–3 to file A, its retention record 6; 4–6 to file B, its retention record 9. */
function history(): { a: ReturnType<typeof file>; b: ReturnType<typeof file>; live: AuditRecord[]; checkpoint: AuditCheckpoint } {
  const first = chain(5);
  const a = file(first.slice(0, 3));
  const ret1 = sealRecord({ seq: 5, hash: first[4]!.hash }, { at: 6000, who: 'mailsluice', origin: 'retention', action: RETENTION_ACTION, detail: { firstSeq: 1, lastSeq: 3, count: 3, fromHash: first[0]!.prevHash, lastHash: first[2]!.hash, file: a.name, fileSha256: a.fileSha } }, sha);
  const more = chain(2, { seq: ret1.seq, hash: ret1.hash });
  const all = [...first, ret1, ...more]; // 1..8
  const b = file(all.slice(3, 6)); // 4..6 (holds the first retention record)
  const ret2 = sealRecord({ seq: 8, hash: all[7]!.hash }, { at: 9000, who: 'mailsluice', origin: 'retention', action: RETENTION_ACTION, detail: { firstSeq: 4, lastSeq: 6, count: 3, fromHash: all[3]!.prevHash, lastHash: all[5]!.hash, file: b.name, fileSha256: b.fileSha } }, sha);
  const live = [...all.slice(6), ret2]; // 7, 8, 9
  return { a, b, live, checkpoint: { seq: 6, hash: all[5]!.hash, file: b.name, fileSha256: b.fileSha, at: 9000 } };
}

function verifyLive(live: AuditRecord[], c: AuditCheckpoint | null): ReturnType<ChainVerifier['next']> {
  const v = new ChainVerifier(sha, c ? { seq: c.seq, hash: c.hash } : undefined);
  const w = new CheckpointWitness(c);
  for (const r of live) {
    const p = v.next(r);
    if (p) return p;
    w.see(r);
  }
  const last = live.at(-1);
  return v.end(last ? { seq: last.seq, hash: last.hash } : null) ?? w.end();
}

test('names and lines: the file name sorts by sequence and parses back; record and trailer lines parse back', () => {
  assert.equal(archiveFileName(1, 1200), 'audit-000000000001-000000001200.jsonl');
  assert.deepEqual(parseArchiveFileName('audit-000000000001-000000001200.jsonl'), { firstSeq: 1, lastSeq: 1200 });
  assert.equal(parseArchiveFileName('notes.jsonl'), null);
  const rs = chain(2);
  assert.deepEqual(parseArchiveRecord(archiveRecordLine(rs[0]!)), rs[0]);
  assert.equal(parseArchiveRecord('{"seq":"1"}'), null);
  const t = parseArchiveTrailer(archiveTrailerLine(rs, 'f'.repeat(64)));
  assert.deepEqual(t, { trailer: 'mailsluice-audit-archive/1', count: 2, firstSeq: 1, lastSeq: 2, fromHash: '0'.repeat(64), lastHash: rs[1]!.hash, recordsSha256: 'f'.repeat(64) });
  assert.equal(parseArchiveTrailer(archiveRecordLine(rs[0]!)), null, 'a record is no trailer');
});

test('the verifier started at a checkpoint counts from there and names a record not chained to it, a gap after it, and an end past the head', () => {
  const { live, checkpoint } = history();
  assert.equal(verifyLive(live, checkpoint), null);
  const v = new ChainVerifier(sha, { seq: 6, hash: checkpoint.hash });
  for (const r of live) assert.equal(v.next(r), null);
  assert.equal(v.verified, 3);
  assert.equal(v.startSeq, 6);
  // The checkpoint's hash altered: the first live record is not chained to it.
  const p = verifyLive(live, { ...checkpoint, hash: 'e'.repeat(64) });
  assert.ok(p && p.seq === 7 && /not chained to the checkpoint \(seq 6\)/.test(p.problem), JSON.stringify(p));
  // A live record deleted after the checkpoint.
  const gap = verifyLive([live[1]!, live[2]!], checkpoint);
  assert.ok(gap && gap.seq === 7 && /record 7 is missing/.test(gap.problem), JSON.stringify(gap));
});

test('a moved or removed checkpoint contradicts the last audit.retention record on the chain', () => {
  const { live, checkpoint } = history();
  // Moved forward past 7 (record 7 deleted to hide it, checkpoint set to 7's seq and hash): the chain still links, the retention record says 6.
  const forward: AuditCheckpoint = { ...checkpoint, seq: 7, hash: live[0]!.hash };
  const p = verifyLive(live.slice(1), forward);
  assert.ok(p && p.seq === 9 && /contradicts this audit.retention record \(records up to 6/.test(p.problem), JSON.stringify(p));
  // Moved past the retention record itself: no retention record after the checkpoint.
  const past: AuditCheckpoint = { ...checkpoint, seq: 9, hash: live[2]!.hash };
  const q = verifyLive([], past);
  assert.ok(q && q.seq === 9 && /on no audit.retention record after it/.test(q.problem), JSON.stringify(q));
  // Another file or hash recorded in the checkpoint.
  const r = verifyLive(live, { ...checkpoint, fileSha256: 'a'.repeat(64) });
  assert.ok(r && r.seq === 9 && /contradicts/.test(r.problem), JSON.stringify(r));
  // Removed: the walk starts at the genesis and the first records are missing.
  const s = verifyLive(live, null);
  assert.ok(s && s.seq === 1 && /records 1 to 6 are missing/.test(s.problem), JSON.stringify(s));
  // A retention record with no checkpoint at all (the witness alone).
  const w = new CheckpointWitness(null);
  w.see(live[2]!);
  assert.match(w.end()!.problem, /keeps no checkpoint/);
});

test('the archive walk: intact files end at the checkpoint; an altered byte, a lying trailer, a removed file and a stale checkpoint are named with the file', () => {
  const { a, b, checkpoint } = history();
  const walk = (files: Array<{ name: string; text: string }>, c: AuditCheckpoint | null = checkpoint) => {
    const w = new ArchiveWalk(sha);
    for (const f of files) {
      const p = walkFile(w, f.name, f.text);
      if (p) return { w, p };
    }
    return { w, p: w.end(c) };
  };
  const ok = walk([a, b]);
  assert.equal(ok.p, null);
  assert.equal(ok.w.files, 2);
  assert.equal(ok.w.verified, 6);

  // One byte of a record in the first file: that record, in that file.
  const altered = walk([{ name: a.name, text: a.text.replace('"who":"ops"', '"who":"opz"') }, b]);
  assert.ok(altered.p && altered.p.file === a.name && altered.p.seq === 1 && /altered/.test(altered.p.problem), JSON.stringify(altered.p));
  // A record line dropped and the trailer left: the trailer no longer matches.
  const lines = a.text.split('\n');
  const cut = walk([{ name: a.name, text: [lines[0], lines[1], lines[3], ''].join('\n') }, b]);
  assert.ok(cut.p && cut.p.file === a.name && /trailer does not match/.test(cut.p.problem), JSON.stringify(cut.p));
  // The first file removed: its records are in no file.
  const removed = walk([b]);
  assert.ok(removed.p && removed.p.file === b.name && /records 1 to 3 are in no archive file/.test(removed.p.problem), JSON.stringify(removed.p));
  // The last file removed: the files end before the checkpoint.
  const short = walk([a]);
  assert.ok(short.p && /records 4 to 6 are in no archive file/.test(short.p.problem), JSON.stringify(short.p));
  // The last file replaced by a rewrite that verifies alone (other SHA-256): the checkpoint's hash names it.
  const other = walk([a, b], { ...checkpoint, fileSha256: 'c'.repeat(64) });
  assert.ok(other.p && other.p.file === b.name && /SHA-256 is not the one, the checkpoint recorded/.test(other.p.problem), JSON.stringify(other.p));
  // The trailer line removed.
  const noTrailer = walk([{ name: a.name, text: lines.slice(0, 3).join('\n') + '\n' }, b]);
  assert.ok(noTrailer.p && noTrailer.p.file === a.name, JSON.stringify(noTrailer.p));
  // No files and no checkpoint: nothing to say.
  assert.equal(new ArchiveWalk(sha).end(null), null);
});
