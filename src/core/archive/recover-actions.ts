/**
 * Recovery at the start of a session: the server actions committed but not confirmed before a
 * crash or a disconnect are finished first, so those messages leave the server without being
 * archived again (docs/pipeline.md, stage 2).
 */
import type { Candidate, SourceSession } from '../ports/mailbox-source.js';
import type { DrainDeps } from './drain-cycle.js';

/** What recovery needs of a cycle's dependencies. */
export type RecoverDeps = Pick<DrainDeps, 'connection' | 'source' | 'store' | 'logger' | 'maxMessagesPerCycle'>;

/**
 * Finishes server actions that were committed but not confirmed before a crash or disconnect,
 * so those messages are removed without being archived again. Returns how many completed.
 */
export async function recoverPendingActions(session: SourceSession, deps: RecoverDeps): Promise<number> {
  const { store, source, connection, logger } = deps;
  const superseded = await store.supersedePending(connection, session.mailbox, session.uidValidity);
  if (superseded > 0) {
    logger.warn('UIDVALIDITY changed: pending server actions of the old UIDs are superseded; those messages are recognised by content hash', {
      superseded,
    });
  }
  const pending = await store.pendingActions(connection, session.mailbox, session.uidValidity);
  if (pending.length === 0) return 0;
  logger.info('finishing server actions committed before an interruption', { count: pending.length });
  const candidates: Candidate[] = pending.map((p) => ({
    key: p.sourceKey,
    size: 0,
    ...(p.uid !== null ? { uid: p.uid } : {}),
    ...(p.uidl !== null ? { uidl: p.uidl } : {}),
  }));
  let done = 0;
  for (let i = 0; i < candidates.length; i += deps.maxMessagesPerCycle) {
    const chunk = candidates.slice(i, i + deps.maxMessagesPerCycle);
    const completed = await source.applyServerAction(chunk);
    await store.markActionDone(connection, completed.map((c) => c.key));
    done += completed.length;
  }
  const flushed = await source.flush();
  await store.markActionDone(connection, flushed.map((c) => c.key));
  return done + flushed.length;
}
