/**
 * What the crash tests read of archive.db directly: every message's SHA-256, and how many source
 * keys were taken and how many of them had their server action confirmed.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import './sqlite-keep.js';

/** The archive's messages and source keys, read from `dataDir`'s archive.db. */
export function archivedRows(dataDir: string): { messages: string[]; keys: number; done: number } {
  const db = new Database(join(dataDir, 'archive.db'), { readonly: true });
  try {
    const messages = (db.prepare('SELECT sha256 FROM messages').all() as Array<{ sha256: string }>).map((r) => r.sha256);
    const k = db.prepare('SELECT COUNT(*) AS n, SUM(action_state = 1) AS done FROM source_keys').get() as { n: number; done: number };
    return { messages, keys: k.n, done: k.done ?? 0 };
  } finally {
    db.close();
  }
}
