/**
 * The service's background stages (index, compress) on a full disk: instead of stopping the
 * process (a crash loop under a supervisor while the disk stays full), the stage is paused,
 * logged, and run again at intervals until its writes succeed. What it had not saved is still
 * queued in the archive (the parse queue, the staged blobs), so running it again picks it up.
 */
import { backoffDelay } from '../core/connection/backoff.js';
import { DISK_FULL_BACKOFF, isDiskFull } from '../core/archive/disk-full.js';
import type { Clock } from '../core/ports/clock.js';
import type { Logger } from '../core/ports/logger.js';

/** What {@link runPausingWhileDiskFull} needs. */
export interface DiskFullPauseDeps {
  /** The stage's name in the log ("index stage", "compress stage"). */
  stage: string;
  logger: Logger;
  clock: Clock;
  random: () => number;
  signal: AbortSignal;
}

/**
 * Runs `run` until it returns; when it fails because the disk is full (and the service is not
 * stopping), waits and runs it again. Any other failure is thrown, as before.
 */
export async function runPausingWhileDiskFull<T>(run: () => Promise<T>, deps: DiskFullPauseDeps): Promise<T | undefined> {
  let failures = 0;
  for (;;) {
    try {
      return await run();
    } catch (err) {
      if (deps.signal.aborted) return undefined;
      if (!isDiskFull(err)) throw err;
      failures++;
      const inMs = backoffDelay(failures, deps.random(), DISK_FULL_BACKOFF);
      deps.logger.warn(`the disk is full: the ${deps.stage} is paused and tries again (what it had not saved is still queued)`, {
        inMs,
        error: String((err as Error)?.message ?? err),
      });
      await deps.clock.sleep(inMs, deps.signal).catch(() => undefined);
      if (deps.signal.aborted) return undefined;
    }
  }
}
