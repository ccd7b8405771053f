/**
 * Scenario responses on the IMAP action session (`applyResponses`): flags added to a message and
 * moves to a folder, asked for by a route's scenario. One `UID FETCH (FLAGS)` finds which
 * messages are still here; then one `UID STORE +FLAGS.SILENT` per distinct set of flags, and one
 * move per folder (after the flags, so a moved message carries them).
 */
import type { ResponseOutcome, ResponseRequest } from '../../core/ports/mailbox-source.js';
import type { MailsluiceError } from '../../core/errors/index.js';
import { ResponseOutcomes } from '../../core/archive/response-outcomes.js';
import { ImapCommandError } from './imap-wire-errors.js';
import { flagList } from './imap-command-text.js';
import { refusalReason } from './imap-error-map.js';
import { toSequenceSet } from './imap-sequence-sets.js';
import type { OpenedSession } from './imap-session.js';

/** What applying responses needs of its source. */
export interface ResponseHost {
  /** The mailbox the responses are about, for messages. */
  readonly mailbox: string;
  /** The server's name, for messages. */
  readonly host: string;
  /** The action session, opened on first use. */
  act(): Promise<OpenedSession>;
  /** Moves a UID set to `folder` (the `move` policy's way); null when done, else the server's reason. */
  moveUids(set: string, folder: string): Promise<string | null>;
  /** Any failure as a catalogue error. */
  wrap(err: unknown): MailsluiceError;
}

/** A request with its UID (the core hands IMAP only those, `responsesBy` 'uid'). */
type UidRequest = ResponseRequest & { uid: number };

/** One run of {@link applyResponses}: the session, what is still in the mailbox, the outcomes. */
interface Run {
  a: OpenedSession;
  host: ResponseHost;
  outcomes: ResponseOutcomes;
  /** The FLAGS of each UID still in the mailbox. */
  flagsOf: Map<number, string[]>;
}

/**
 * Applies scenario responses on the action session. A message the connection's delete policy
 * flagged `\Deleted` has that flag taken off just before its move, so it does not arrive in the
 * folder marked for removal (put back if the move is refused). Flags the mailbox does not accept
 * (PERMANENTFLAGS) fail rather than being dropped silently.
 */
export async function applyResponses(requests: ResponseRequest[], host: ResponseHost): Promise<ResponseOutcome[]> {
  if (requests.length === 0) return [];
  const outcomes = new ResponseOutcomes();
  const mailbox = JSON.stringify(host.mailbox);
  try {
    const withUid = requests.filter((r): r is UidRequest => {
      if (r.uid !== undefined) return true;
      outcomes.skip([r.id], `the message (${r.key}) was taken without a UID`);
      return false;
    });
    if (withUid.length === 0) return requests.map((r) => outcomes.of(r));
    const a = await host.act();
    const uids = [...new Set(withUid.map((r) => r.uid))];
    const [, fetched] = await a.wire.sequence(['NOOP', `UID FETCH ${toSequenceSet(uids)} (UID FLAGS)`]);
    const run: Run = { a, host, outcomes, flagsOf: fetched!.flags ?? new Map<number, string[]>() };
    const present = withUid.filter((r) => {
      if (run.flagsOf.has(r.uid)) return true;
      outcomes.skip([r.id], `UID ${r.uid} is no longer in ${mailbox}`);
      return false;
    });
    await addFlags(run, present);
    await moveToFolders(run, present);
  } catch (err) {
    throw host.wrap(err);
  }
  return requests.map((r) => outcomes.of(r));
}

/** Flags, one `UID STORE` per identical (normalised) set; flags the mailbox refuses fail. */
async function addFlags(run: Run, present: readonly UidRequest[]): Promise<void> {
  const { a, outcomes } = run;
  const mailbox = JSON.stringify(run.host.mailbox);
  const permanent = a.permanentFlags;
  // \Recent belongs to the server (RFC 3501): no client can set it, whatever PERMANENTFLAGS say.
  const accepted = (flag: string): boolean =>
    flag.toLowerCase() !== '\\recent' && (!permanent || permanent.has('\\*') || [...permanent].some((p) => p.toLowerCase() === flag.toLowerCase()));
  const flagGroups = new Map<string, { flags: string[]; requests: UidRequest[] }>();
  for (const r of present) {
    const flags = [...new Set(r.response.addFlags ?? [])].sort();
    if (flags.length === 0) continue;
    const key = JSON.stringify(flags);
    const g = flagGroups.get(key) ?? { flags, requests: [] };
    g.requests.push(r);
    flagGroups.set(key, g);
  }
  for (const g of flagGroups.values()) {
    const ids = g.requests.map((r) => r.id);
    const refusedFlags = g.flags.filter((f) => !accepted(f));
    if (refusedFlags.length > 0) {
      outcomes.fail(ids, `${mailbox} does not accept the flag${refusedFlags.length === 1 ? '' : 's'} ${refusedFlags.join(' ')} (not in its PERMANENTFLAGS, or \\Recent, which only the server sets)`);
      continue;
    }
    try {
      await a.wire.run(`UID STORE ${toSequenceSet([...new Set(g.requests.map((r) => r.uid))])} +FLAGS.SILENT ${flagList(g.flags)}`);
    } catch (err) {
      if (!(err instanceof ImapCommandError)) throw err;
      outcomes.fail(ids, refusalReason(err, `UID STORE +FLAGS ${flagList(g.flags)}`, run.host.host));
    }
  }
}

/** Moves, grouped by folder, in the order of their first request; a message moved by one is gone for the next. */
async function moveToFolders(run: Run, present: readonly UidRequest[]): Promise<void> {
  const { a, outcomes, flagsOf } = run;
  const moved = new Map<number, string>();
  const moveGroups = new Map<string, UidRequest[]>();
  for (const r of present) {
    if (r.response.moveTo === undefined) continue;
    moveGroups.set(r.response.moveTo, [...(moveGroups.get(r.response.moveTo) ?? []), r]);
  }
  for (const [folder, group] of moveGroups) {
    const here = group.filter((r) => {
      const to = moved.get(r.uid);
      if (to === undefined) return true;
      outcomes.skip([r.id], `UID ${r.uid} was moved to ${JSON.stringify(to)} by another response`);
      return false;
    });
    if (here.length === 0) continue;
    const set = toSequenceSet([...new Set(here.map((r) => r.uid))]);
    const keepsDeleted = (r: UidRequest): boolean => (r.response.addFlags ?? []).some((f) => f.toLowerCase() === '\\deleted');
    const unflag = [...new Set(here.filter((r) => !keepsDeleted(r) && flagsOf.get(r.uid)!.some((f) => f.toLowerCase() === '\\deleted')).map((r) => r.uid))];
    if (unflag.length > 0) await a.wire.run(`UID STORE ${toSequenceSet(unflag)} -FLAGS.SILENT (\\Deleted)`);
    const refused = await run.host.moveUids(set, folder);
    if (refused === null) {
      for (const r of here) moved.set(r.uid, folder);
      continue;
    }
    outcomes.fail(
      here.map((r) => r.id),
      refused,
    );
    if (unflag.length > 0) await a.wire.run(`UID STORE ${toSequenceSet(unflag)} +FLAGS.SILENT (\\Deleted)`);
  }
}
