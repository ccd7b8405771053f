/**
 * Background stages (index, compress) give the CPU to a draining connection, the critical path,
 * but only for so long: after `maxPauseMs` of continuous drain they run alongside it until the
 * drain next goes quiet, so a mailbox that never goes quiet is still indexed and compressed.
 */
import type { Clock } from '../ports/clock.js';

/** Tells a background stage whether to wait now. */
export class YieldToDrain {
  private pausedSince: number | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly busy: (() => boolean) | undefined,
    private readonly maxPauseMs: number,
  ) {}

  /** True while a drain is busy and the stage has not yet waited `maxPauseMs` for it. */
  shouldWait(): boolean {
    if (!this.busy?.()) {
      this.pausedSince = null;
      return false;
    }
    const now = this.clock.now();
    this.pausedSince ??= now;
    return now - this.pausedSince < this.maxPauseMs;
  }
}
