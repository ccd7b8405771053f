/**
 * The `inspect` use case: message files parsed by the archive's parser (postal-mime, on its
 * worker threads) without an archive or a configuration, each outcome handed back in the order
 * given. The CLI prints them; it does not know which parser runs.
 */
import { readFile } from 'node:fs/promises';
import { MailsluiceError } from '../core/errors/index.js';
import type { ParseOutcome } from '../core/ports/message-parser.js';
import { createPostalMimeParser } from '../adapters/parser-postal-mime/index.js';

/** Files read and parsed at once: enough to keep the parser's workers busy. */
const INSPECT_WINDOW = 8;

/** One file inspected: its parse outcome, or why it could not be read (`INPUT_NOT_FOUND`). */
export type Inspected = { file: string; error: MailsluiceError } | { file: string; outcome: ParseOutcome };

/**
 * Parses `files` concurrently across the parser's worker pool and calls `each` in the order
 * given; at most {@link INSPECT_WINDOW} files are read or parsed at once, so thousands of files
 * never sit in memory (or hold file handles) together.
 */
export async function inspectFiles(files: readonly string[], each: (r: Inspected) => void): Promise<void> {
  const parser = createPostalMimeParser();
  try {
    const start = async (file: string): Promise<Inspected> => {
      let raw: Buffer;
      try {
        raw = await readFile(file);
      } catch (err) {
        return { file, error: new MailsluiceError('INPUT_NOT_FOUND', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`) };
      }
      return { file, outcome: await parser.parse(raw) };
    };
    const window: Array<Promise<Inspected>> = [];
    let next = 0;
    while (next < files.length && window.length < INSPECT_WINDOW) window.push(start(files[next++]!));
    while (window.length > 0) {
      const r = await window.shift()!;
      if (next < files.length) window.push(start(files[next++]!));
      each(r);
    }
  } finally {
    await parser.close();
  }
}
