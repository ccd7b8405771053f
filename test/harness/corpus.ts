/**
 * The shared real-world corpus (`../shared/corpus` beside the repository) and what a drain of it
 * must leave behind: every server message taken once, every archived message parsed or marked
 * unparsable, the archive byte for byte what the server served. Used by the corpus drain and the
 * mutated-corpus regression.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import './sqlite-keep.js';
import { ImapFlow } from 'imapflow';
import type { DovecotInstance, TestUser } from './dovecot.js';
import { REPO_ROOT, type Workspace } from './cli.js';
import { sha256 } from './messages.js';

/** The corpus directory. */
export const CORPUS = resolve(REPO_ROOT, '..', 'shared', 'corpus');

/** Throws unless the corpus is in place (it must sit beside the repository). */
export function assertCorpusPresent(): void {
  if (!existsSync(join(CORPUS, 'manifest.json'))) throw new Error(`the shared corpus is missing at ${CORPUS}; it must sit beside the repository`);
}

/** Wire format: IMAP serves CRLF, so LF-only files are converted (corpus/README.md). */
export function toCrlf(b: Buffer): Buffer {
  return Buffer.from(b.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

/** Every corpus message, in manifest order, in wire format. */
export function loadCorpus(): Buffer[] {
  const manifest = JSON.parse(readFileSync(join(CORPUS, 'manifest.json'), 'utf8')) as { items: Array<{ file: string }> };
  return manifest.items.map((i) => toCrlf(readFileSync(join(CORPUS, i.file))));
}

/**
 * What the server serves over IMAP, read independently of the code under test (Dovecot may alter
 * NUL bytes, for example), by content hash; and how many messages the mailbox holds.
 */
export async function servedOverImap(dovecot: DovecotInstance, user: TestUser): Promise<{ served: Map<string, Buffer>; count: number }> {
  const client = new ImapFlow({ host: dovecot.host, port: dovecot.imapPort, secure: false, doSTARTTLS: false, auth: { user: user.username, pass: user.password }, logger: false });
  await client.connect();
  await client.mailboxOpen('INBOX');
  const served = new Map<string, Buffer>();
  let count = 0;
  for await (const m of client.fetch('1:*', { uid: true, source: true })) {
    count++;
    if (m.source) served.set(sha256(m.source), m.source);
  }
  await client.logout();
  return { served, count };
}

/** The archive's counts after a drain, read from archive.db directly. */
export interface ArchiveCounts {
  keys: number;
  messages: number;
  parsed: number;
  unparsable: number;
  waiting: number;
}

/** Reads {@link ArchiveCounts} from the workspace's archive. */
export function archiveCounts(ws: Workspace): ArchiveCounts {
  const db = new Database(join(ws.dataDir, 'archive.db'), { readonly: true });
  try {
    const keys = (db.prepare('SELECT COUNT(*) AS n FROM source_keys').get() as { n: number }).n;
    const m = db.prepare('SELECT COUNT(*) AS n, SUM(parse_state = 1) AS ok, SUM(parse_state = 2) AS bad, SUM(parse_state = 0) AS waiting FROM messages').get() as {
      n: number;
      ok: number | null;
      bad: number | null;
      waiting: number | null;
    };
    return { keys, messages: m.n, parsed: m.ok ?? 0, unparsable: m.bad ?? 0, waiting: m.waiting ?? 0 };
  } finally {
    db.close();
  }
}

/** Asserts a drain of `taken` server messages took each once and parsed (or set aside as unparsable) every one. */
export function assertEveryMessageTaken(ws: Workspace, taken: number, distinct: number, context: string): ArchiveCounts {
  const c = archiveCounts(ws);
  assert.equal(c.keys, taken, `every server message taken once ${context}`);
  // Identical bytes from one connection are one archived message (single instance).
  assert.equal(c.messages, distinct, `one archived message per distinct content ${context}`);
  assert.equal(c.waiting, 0, `every message parsed or marked unparsable ${context}`);
  return c;
}
