/**
 * Resuming a message whose transfer broke off (ADR 0015). On a link that resets every few
 * hundred KB, a message of a few MB never arrives whole in one session; the connection runner
 * keeps what did arrive ({@link TransferMemory}, across its sessions) and the next session asks
 * only for the rest: `UID FETCH uid (UID BODY.PEEK[]<offset.length>)` from the first byte not
 * kept, streamed, each new chunk kept as it arrives. The whole is checked against RFC822.SIZE
 * before it is handed on as complete, so what is archived is byte for byte what a single FETCH
 * would have returned (IMAP partial fetches address the same octets as `BODY[]`, RFC 3501 §6.4.5).
 */
import type { TransferMemory } from '../../core/ports/mailbox-source.js';
import { MailsluiceError } from '../../core/errors/index.js';
import type { ImapWire } from './imap-wire.js';

/** A message to resume: its UID and source key, and where its session goes (for messages). */
export interface ResumeTarget {
  uid: number;
  key: string;
  where: string;
}

/**
 * The body of a message the memory has a (possibly empty) record of: the bytes kept from earlier
 * sessions, then the rest from the server. Null when the message is gone (its record dropped).
 * If the session breaks while the rest arrives, the memory is told which message it broke
 * during, and keeps what came; the body then fails, as any broken fetch.
 */
export async function resumeBody(wire: ImapWire, target: ResumeTarget, memory: TransferMemory): Promise<AsyncIterable<Uint8Array> | null> {
  const { uid, key } = target;
  let size: number | undefined;
  try {
    size = (await wire.run(`UID FETCH ${uid} (UID RFC822.SIZE)`, { sizes: true })).sizes?.get(uid);
  } catch (err) {
    memory.interrupted(key);
    throw err;
  }
  if (size === undefined) {
    memory.forget(key);
    return null;
  }
  let kept = memory.resumable(key);
  // More kept than the message holds: not the message it was (cannot happen under one
  // UIDVALIDITY, which the key carries); start over rather than archive a mixture.
  if (kept && kept.bytes > size) {
    memory.forget(key);
    kept = undefined;
  }
  return rest(wire, target, memory, size, kept ? [...kept.parts] : [], kept?.bytes ?? 0);
}

async function* rest(wire: ImapWire, target: ResumeTarget, memory: TransferMemory, size: number, parts: Uint8Array[], offset: number): AsyncIterable<Uint8Array> {
  const { uid, key, where } = target;
  let received = offset;
  let keeping = true;
  try {
    for (const p of parts) yield p;
    if (offset < size) {
      // streamAbove 0: the rest streams whatever its size, so each chunk is kept as it comes.
      for await (const m of wire.fetch(String(uid), { streamAbove: 0, partial: { offset, length: size - offset } })) {
        const chunks: AsyncIterable<Uint8Array> | Uint8Array[] = m.stream ?? m.parts;
        if (m.uid !== uid || (m.offset ?? 0) !== offset) {
          if (m.stream) await m.stream[Symbol.asyncIterator]().return?.();
          continue;
        }
        for await (const c of chunks) {
          // The chunk is a view of the socket's read buffer: what is kept needs its own copy.
          if (keeping) keeping = memory.keep(key, Buffer.from(c));
          received += c.length;
          yield c;
        }
      }
    }
  } catch (err) {
    memory.interrupted(key, size);
    throw err;
  }
  memory.forget(key);
  if (received !== size) {
    throw new MailsluiceError('SOURCE_PROTOCOL', `${where} sent ${received} bytes of UID ${uid} where its RFC822.SIZE is ${size}; the message is fetched again from the start`);
  }
}
