/**
 * The alerts' state kept across restarts (ADR 0026): `dataDir/alert-state.json`, owner-only,
 * replaced atomically, read back at the start so a restart neither repeats an alert nor forgets a
 * resolution. Writes are serialized and skipped when nothing worth keeping changed.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AlertBook, AlertBookSnapshot } from '../core/alerts/index.js';
import type { Clock } from '../core/ports/clock.js';
import type { Logger } from '../core/ports/logger.js';
import { writeFileAtomic } from '../adapters/fs-node/atomic-write.js';
import { PRIVATE_FILE_MODE } from '../adapters/fs-node/private-files.js';

/**
 * The runners' part of the state (their last success, which moves every cycle) is written with
 * the rules' next change, or at most this often: an fsynced write at every check would be churn
 * for a figure a minute does not stale (it only shifts a silent rule's count after a restart).
 */
export const RUNNER_STATE_EVERY_MS = 60_000;

/** The state file's format: a version, so a later build can tell an old file from its own. */
const STATE_VERSION = 1;

/** The alert state file in the data directory. */
export function alertStatePath(dataDir: string): string {
  return join(dataDir, 'alert-state.json');
}

/** The alert state file of one run. */
export class AlertStateFile {
  /** What the file holds: its rules' part (a change is written at once), all of it, and when it was written. */
  private written = { rules: '', all: '', at: 0 };
  /** One write at a time: a reload's and a check's could otherwise rename in the wrong order. */
  private writing: Promise<void> = Promise.resolve();

  constructor(
    readonly file: string,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /**
   * The saved state, or null when there is none or it cannot be read (then every rule starts
   * unknown, as before this file existed); a file that exists but is not readable is warned about.
   */
  async read(): Promise<AlertBookSnapshot | null> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.unreadable('could not be read', err);
      return null;
    }
    try {
      const parsed = JSON.parse(text) as { version?: unknown; rules?: unknown; runners?: unknown };
      if (parsed.version !== STATE_VERSION || !Array.isArray(parsed.rules)) throw new Error(`not an alert state of version ${STATE_VERSION}`);
      const snapshot = { rules: parsed.rules as AlertBookSnapshot['rules'], runners: (parsed.runners ?? {}) as AlertBookSnapshot['runners'] };
      this.written = { rules: JSON.stringify(snapshot.rules), all: '', at: this.clock.now() };
      return snapshot;
    } catch (err) {
      this.unreadable('is not readable', err);
      return null;
    }
  }

  /** Writes `book`'s state when it changed since the last write; a failure is logged, and the next call tries again. */
  save(book: AlertBook): Promise<void> {
    this.writing = this.writing.then(() => this.saveNow(book));
    return this.writing;
  }

  private async saveNow(book: AlertBook): Promise<void> {
    const snapshot = book.snapshot();
    const rulesText = JSON.stringify(snapshot.rules);
    // No rules, and no file from a run that had some: nothing worth keeping.
    if (snapshot.rules.length === 0 && this.written.rules === '') return;
    const text = JSON.stringify({ version: STATE_VERSION, ...snapshot });
    const now = this.clock.now();
    if (text === this.written.all || (rulesText === this.written.rules && now - this.written.at < RUNNER_STATE_EVERY_MS)) return;
    try {
      await writeFileAtomic(this.file, text + '\n', PRIVATE_FILE_MODE);
      this.written = { rules: rulesText, all: text, at: now };
    } catch (err) {
      this.logger.warn('alerts: the alert state could not be saved; tried again at the next check', { file: this.file, error: String((err as Error)?.message ?? err) });
    }
  }

  private unreadable(why: string, err: unknown): void {
    this.logger.warn(`alerts: the saved alert state ${why}; every rule starts unknown`, { file: this.file, error: String((err as Error)?.message ?? err) });
  }
}
