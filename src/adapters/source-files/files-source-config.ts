/**
 * Options of the local-files source (`mailsluice import`): what is read, in which shape, and the
 * tunables with their reasons.
 */

/** The shapes of mail on disk the source reads. */
export type FilesFormat = 'mbox' | 'maildir' | 'eml';

/**
 * How `From ` lines inside messages were quoted by the program that wrote the mbox (RFC 4155):
 * `mboxrd` quotes every `>*From ` line with one more `>` (so reading removes one from each), as
 * mailsluice's own export, mutt and Thunderbird's recent versions write; `mboxo` quotes only
 * `From ` (so reading turns `>From ` back into `From ` and leaves `>>From ` alone). An mboxo file
 * whose messages held `>From ` lines cannot be read back exactly by anyone: that is the format's.
 */
export type MboxVariant = 'mboxrd' | 'mboxo';

/** Something in the source that is not a message and was not imported, named by file and offset. */
export interface ImportProblem {
  /** The file, as given (absolute). */
  file: string;
  /** The byte offset in `file` where the problem is (0 for a whole file). */
  offset: number;
  /** What is wrong, in a few words. */
  reason: string;
}

/** What a files source reads. */
export interface FilesSourceOptions {
  /** An mbox file, a Maildir (with `cur/` and/or `new/`), a folder of `.eml` files, or one `.eml` file; absolute. */
  path: string;
  format: FilesFormat;
  /** For `mbox`: how `From ` lines were quoted (default `mboxrd`). */
  mbox?: MboxVariant;
  /** Told of each item that is not a message (it is skipped; the rest goes on). */
  onProblem?: (p: ImportProblem) => void;
}

/** The source's tunables. */
export const FILES_TUNING = {
  /**
   * A message up to this size is read whole and handed over buffered (stored while later ones are
   * read); a larger one is streamed in `streamChunkBytes` pieces, so a 100 MB message never sits
   * whole in memory. 4 MiB is where the IMAP source streams too.
   */
  bufferedUpToBytes: 4 * 1024 * 1024,
  /** The pieces a large message is streamed in, and the window the mbox scan reads. */
  streamChunkBytes: 1024 * 1024,
  /**
   * Buffered files read ahead of the one being handed over: the drain stores buffered bodies
   * concurrently, and a read waits on the disk, so a few in flight keep the blob writer fed.
   */
  readAhead: 16,
} as const;
