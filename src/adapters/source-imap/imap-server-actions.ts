/**
 * The delete policies: what the source does on the server to messages once they are archived
 * (`leave`, `mark-seen`, `delete`, `move`, `delete-and-expunge` with `expungeEvery`), and `\Seen`
 * on messages that failed to archive (`unseenOnly`). Every command runs on the action session,
 * and UIDs are removed only by `UID EXPUNGE` under UIDPLUS, never by a plain EXPUNGE.
 */
import type { Candidate } from '../../core/ports/mailbox-source.js';
import type { Logger } from '../../core/ports/logger.js';
import type { MailsluiceError } from '../../core/errors/index.js';
import { ImapCommandError } from './imap-wire-errors.js';
import { quoteMailbox } from './imap-command-text.js';
import type { ImapSourceConfig } from './imap-source-config.js';
import { moveRefusedError, refusalReason } from './imap-error-map.js';
import { toSequenceSets } from './imap-sequence-sets.js';

/** What the server actions need of their source. */
export interface ServerActionHost {
  readonly cfg: Pick<ImapSourceConfig, 'deletePolicy' | 'moveTo' | 'expungeEvery'>;
  readonly logger: Logger;
  /** The server's name, for messages. */
  readonly host: string;
  /** Whether the server offered the capability. */
  hasCap(name: string): boolean;
  /** Runs commands on the action session (after a NOOP, see ImapSource). */
  onAction(commands: string[]): Promise<void>;
  /** Any failure as a catalogue error. */
  wrap(err: unknown): MailsluiceError;
  /** A failure to flag `count` messages `\Seen`, as a catalogue error. */
  wrapMarkSeen(err: unknown, count: number): MailsluiceError;
}

/** `UID STORE` of `flag` on each set. */
function storeEach(sets: readonly string[], flag: string): string[] {
  return sets.map((set) => `UID STORE ${set} +FLAGS.SILENT (${flag})`);
}

/** The delete policy and the expunge batches of one source. */
export class ImapServerActions {
  /** Flagged \Deleted, waiting for UID EXPUNGE (expungeEvery). */
  private pendingExpunge: Candidate[] = [];
  private warnedNoUidplus = false;

  constructor(private readonly host: ServerActionHost) {}

  /** Warns, once the session is open, that `delete-and-expunge` cannot expunge on this server. */
  warnAtOpen(): void {
    if (this.host.cfg.deletePolicy === 'delete-and-expunge' && !this.host.hasCap('UIDPLUS')) {
      this.host.logger.warn('server lacks UIDPLUS: messages are flagged \\Deleted but never expunged, because a plain EXPUNGE could remove messages mailsluice did not archive');
      this.warnedNoUidplus = true;
    }
  }

  /** Applies the delete policy to archived messages; returns those it is done with (the rest wait for {@link flush}). */
  async apply(candidates: Candidate[]): Promise<Candidate[]> {
    if (candidates.length === 0) return [];
    const sets = toSequenceSets(candidates.map((c) => c.uid!));
    const { cfg } = this.host;
    try {
      switch (cfg.deletePolicy) {
        case 'leave':
          return candidates;
        case 'mark-seen':
          await this.host.onAction(storeEach(sets, '\\Seen'));
          return candidates;
        case 'delete':
          await this.host.onAction(storeEach(sets, '\\Deleted'));
          return candidates;
        case 'move': {
          for (const set of sets) {
            const refused = await this.moveUids(set, cfg.moveTo!);
            if (refused !== null) throw moveRefusedError(cfg.moveTo!, this.host.host, refused);
          }
          return candidates;
        }
        case 'delete-and-expunge':
          return await this.deleteAndExpunge(candidates, sets);
      }
    } catch (err) {
      throw this.host.wrap(err);
    }
  }

  /** `delete-and-expunge`: flags and expunges in batches of `expungeEvery` (0: at the end of the cycle). */
  private async deleteAndExpunge(candidates: Candidate[], sets: string[]): Promise<Candidate[]> {
    if (!this.host.hasCap('UIDPLUS')) {
      await this.host.onAction(storeEach(sets, '\\Deleted'));
      if (!this.warnedNoUidplus) this.host.logger.warn('server lacks UIDPLUS: flagged \\Deleted only');
      this.warnedNoUidplus = true;
      return candidates;
    }
    this.pendingExpunge.push(...candidates);
    const n = this.host.cfg.expungeEvery;
    if (n === 0) return []; // expunged at the end of the cycle (flush)
    const done: Candidate[] = [];
    while (this.pendingExpunge.length >= n) done.push(...(await this.expunge(this.pendingExpunge.splice(0, n))));
    // What stays pending is flagged now, so the count "flagged deleted" is what N bounds.
    if (this.pendingExpunge.length) await this.host.onAction(storeEach(toSequenceSets(this.pendingExpunge.map((c) => c.uid!)), '\\Deleted'));
    return done;
  }

  /**
   * Moves messages to `folder`: `UID MOVE`; without MOVE, `UID COPY`, flag `\Deleted` and
   * `UID EXPUNGE` (under UIDPLUS); without either, COPY and flag `\Deleted` only, since a plain
   * EXPUNGE would remove others' mail. Returns null when done, else the server's reason (nothing
   * was removed from this mailbox then).
   */
  async moveUids(set: string, folder: string): Promise<string | null> {
    const target = quoteMailbox(folder);
    const verb = this.host.hasCap('MOVE') ? 'MOVE' : 'COPY';
    try {
      await this.host.onAction([`UID ${verb} ${set} ${target}`]);
      if (verb === 'MOVE') return null;
    } catch (err) {
      if (err instanceof ImapCommandError) return refusalReason(err, `UID ${verb} to ${JSON.stringify(folder)}`, this.host.host);
      throw err;
    }
    if (this.host.hasCap('UIDPLUS')) {
      await this.host.onAction([`UID STORE ${set} +FLAGS.SILENT (\\Deleted)`, `UID EXPUNGE ${set}`]);
    } else {
      await this.host.onAction([`UID STORE ${set} +FLAGS.SILENT (\\Deleted)`]);
      this.host.logger.warn('server has neither MOVE nor UIDPLUS: messages copied and flagged \\Deleted, not expunged');
    }
    return null;
  }

  /** Flags and UID EXPUNGEs exactly these messages (UIDPLUS), never a plain EXPUNGE. */
  private async expunge(cands: Candidate[]): Promise<Candidate[]> {
    if (cands.length === 0) return [];
    await this.host.onAction(toSequenceSets(cands.map((c) => c.uid!)).flatMap((set) => [`UID STORE ${set} +FLAGS.SILENT (\\Deleted)`, `UID EXPUNGE ${set}`]));
    return cands;
  }

  /** Expunges what waits for the end of the cycle; on failure it stays pending. */
  async flush(): Promise<Candidate[]> {
    const pending = this.pendingExpunge;
    if (pending.length === 0) return [];
    this.pendingExpunge = [];
    try {
      return await this.expunge(pending);
    } catch (err) {
      this.pendingExpunge = pending;
      throw this.host.wrap(err);
    }
  }

  /**
   * Flags messages that could not be archived `\Seen` (`UID STORE +FLAGS.SILENT (\Seen)` on the
   * action session), so the `unseenOnly` listing skips them from now on. A refused STORE is an
   * error: a message left unflagged would be offered again.
   */
  async markFailed(candidates: Candidate[]): Promise<void> {
    if (candidates.length === 0) return;
    try {
      await this.host.onAction(storeEach(toSequenceSets(candidates.map((c) => c.uid!)), '\\Seen'));
    } catch (err) {
      throw this.host.wrapMarkSeen(err, candidates.length);
    }
  }
}
