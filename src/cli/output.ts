/**
 * The one writer of the command line's output: every command prints through the {@link Io} that
 * main.ts makes here, so what happens when a reader goes away is decided once.
 *
 * A reader that closes the pipe early (`mailsluice logs NAME | head`) has taken what it wanted:
 * the command ends quietly with exit status 0 — no stack trace, no error line. Status 0 rather
 * than the 141 of a process killed by SIGPIPE: Node ignores SIGPIPE, the command did what it was
 * asked, and `set -o pipefail` scripts such as `mailsluice search x | head -1` should not fail
 * because `head` was satisfied (README, "Other commands").
 */

/** Output streams, injectable for tests. */
export interface Io {
  /** Writes to standard output; throws {@link OutputClosed} once its reader has gone. */
  out: (s: string) => void;
  /** Writes to standard error; dropped silently once its reader has gone. */
  err: (s: string) => void;
  /** Whether standard error is a terminal (progress lines are shown only then). */
  isTty: boolean;
}

/**
 * Thrown by `Io.out` once standard output's reader has closed the pipe: it unwinds the running
 * command (its resources closed by their `finally`), and main.ts ends with status 0 and no line.
 */
export class OutputClosed extends Error {
  constructor() {
    super('standard output was closed by its reader');
    this.name = 'OutputClosed';
  }
}

/**
 * Watches one standard stream: a write to a pipe whose reader has gone fails with EPIPE as an
 * `'error'` event (after the write returned); unhandled, Node prints it as a crash. Returns
 * whether the reader is known to be gone.
 */
function watch(stream: NodeJS.WriteStream): () => boolean {
  let gone = false;
  // EPIPE, and anything else on a standard stream (EIO on a vanished terminal, EBADF): the output
  // can no longer be shown, which is no reason to crash or to lose the work under way.
  stream.on('error', () => {
    gone = true;
  });
  return () => gone || stream.destroyed;
}

let processIo: Io | undefined;

/** The process's own {@link Io} (one per process: it owns the standard streams' error handlers). */
export function stdio(): Io {
  if (processIo) return processIo;
  const outGone = watch(process.stdout);
  const errGone = watch(process.stderr);
  processIo = {
    out: (s) => {
      if (outGone()) throw new OutputClosed();
      process.stdout.write(s);
    },
    err: (s) => {
      if (!errGone()) process.stderr.write(s);
    },
    isTty: Boolean(process.stderr.isTTY),
  };
  return processIo;
}
