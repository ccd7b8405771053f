/**
 * What every mailbox source must do, whatever the protocol: the contract suite of the
 * MailboxSource port. Each adapter runs it against a real server (IMAP and, later, POP3 on
 * Dovecot).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MailboxSource } from '../../src/core/ports/mailbox-source.js';
import { makeMessage, sha256 } from '../harness/messages.js';

/** A fresh mailbox with the given messages and a way to open a source on it. */
export interface SourceFixture {
  /** Opens a new source on the mailbox (delete policy delete-and-expunge). */
  source(): MailboxSource;
  /** Messages now in the mailbox, counted independently of the adapter. */
  count(): Promise<number>;
  /** Delivers more messages. */
  deliver(raws: Buffer[]): Promise<void>;
  /**
   * Removes one message behind the adapter's back (another client). Absent where that cannot
   * happen to a listed message without rewriting the whole source (an mbox file).
   */
  removeBehind?(index: number): Promise<void>;
}

async function readAll(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/** What the source does with a message on the server once it is committed. */
export interface ContractOptions {
  /**
   * `remove` (the default: IMAP and POP3 under delete-and-expunge): "done" means gone. `leave`
   * (the files source of `import`, which never changes its source): "done" means untouched, and
   * what is new is listed above the watermark instead.
   */
  serverAction?: 'remove' | 'leave';
}

/** Registers the contract tests; `make` creates a fixture holding `raws` in a fresh mailbox. */
export function runMailboxSourceContract(name: string, make: (raws: Buffer[]) => Promise<SourceFixture>, options: ContractOptions = {}): void {
  const leaves = options.serverAction === 'leave';
  test(`${name}: lists every message oldest first with its size, and streams the exact bytes`, async () => {
    const raws = [makeMessage(1), makeMessage(2, { attachmentBytes: 50_000 }), makeMessage(3, { bodyBytes: 100 })];
    const fx = await make(raws);
    const src = fx.source();
    try {
      const session = await src.open();
      assert.equal(session.exists, 3);
      const cands = await src.listCandidates(100);
      assert.equal(cands.length, 3);
      // A size is either announced exactly or unknown (0): never wrong.
      cands.forEach((c, i) => assert.ok(c.size === 0 || c.size === raws[i]!.length, `size ${c.size} of message ${i}`));
      assert.equal(new Set(cands.map((c) => c.key)).size, 3, 'keys are distinct');
      const got: string[] = [];
      for await (const m of src.fetch(cands)) got.push(sha256(await readAll(m.body)));
      assert.deepEqual(got, raws.map(sha256));
    } finally {
      await src.close();
      await src.close(); // closing twice is safe
    }
  });

  test(`${name}: limit caps the listing, and keys stay stable across sessions`, async () => {
    const raws = Array.from({ length: 7 }, (_, i) => makeMessage(i));
    const fx = await make(raws);
    const a = fx.source();
    await a.open();
    const first = await a.listCandidates(5);
    assert.equal(first.length, 5);
    await a.close();
    const b = fx.source();
    await b.open();
    const again = await b.listCandidates(100);
    await b.close();
    assert.deepEqual(again.slice(0, 5).map((c) => c.key), first.map((c) => c.key));
  });

  test(`${name}: the server action plus flush ${leaves ? 'completes at once for exactly the messages given, and leaves them' : 'removes exactly the messages given'}`, async () => {
    const raws = Array.from({ length: 6 }, (_, i) => makeMessage(i));
    const fx = await make(raws);
    const src = fx.source();
    try {
      await src.open();
      const cands = await src.listCandidates(100);
      for await (const m of src.fetch(cands.slice(0, 4))) await readAll(m.body);
      const done = [...(await src.applyServerAction(cands.slice(0, 4))), ...(await src.flush())];
      assert.deepEqual(done.map((c) => c.key).sort(), cands.slice(0, 4).map((c) => c.key).sort());
    } finally {
      await src.close();
    }
    assert.equal(await fx.count(), leaves ? 6 : 2);
    if (leaves) {
      // Untouched: a new session streams every message's bytes as before.
      const again = fx.source();
      try {
        await again.open();
        const got: string[] = [];
        for await (const m of again.fetch(await again.listCandidates(100))) got.push(sha256(await readAll(m.body)));
        assert.deepEqual(got, raws.map(sha256));
      } finally {
        await again.close();
      }
    }
  });

  if (leaves) {
    test(`${name}: mail that arrives is listed above the watermark by the next session, and nothing is removed`, async () => {
      const fx = await make([makeMessage(1)]);
      const a = fx.source();
      let mark: { uidValidity: number; lastUid: number };
      try {
        const session = await a.open();
        const first = await a.listCandidates(100);
        assert.equal(first.length, 1);
        mark = { uidValidity: session.uidValidity, lastUid: Math.max(...first.map((c) => c.uid ?? 0)) };
      } finally {
        await a.close();
      }
      const more = [makeMessage(2), makeMessage(3)];
      await fx.deliver(more);
      const b = fx.source();
      try {
        const session = await b.open();
        const cands = await b.listCandidates(100, mark.uidValidity === session.uidValidity ? mark : undefined);
        const got: string[] = [];
        for await (const m of b.fetch(cands)) got.push(sha256(await readAll(m.body)));
        // A source whose identity changed lists everything again (the drain recognises the rest by key and hash).
        assert.deepEqual(got.slice(-2), more.map(sha256));
      } finally {
        await b.close();
      }
      assert.equal(await fx.count(), 3);
    });
  }

  if (!leaves) test(`${name}: mail that arrives during a session is taken and removed like the rest`, async () => {
    const fx = await make([makeMessage(1)]);
    const src = fx.source();
    const round = async (): Promise<number> => {
      const cands = await src.listCandidates(100);
      for await (const m of src.fetch(cands)) await readAll(m.body);
      const done = [...(await src.applyServerAction(cands)), ...(await src.flush())];
      return done.length;
    };
    try {
      await src.open();
      assert.equal(await round(), 1);
      await fx.deliver([makeMessage(2), makeMessage(3)]);
      assert.equal(await round(), 2);
    } finally {
      await src.close();
    }
    // "Done" must mean gone: an action reported complete that did nothing would strand mail.
    assert.equal(await fx.count(), 0);
  });

  test(`${name}: a message removed by someone else is skipped, not an error`, async (t) => {
    const raws = Array.from({ length: 3 }, (_, i) => makeMessage(i));
    const fx = await make(raws);
    if (!fx.removeBehind) return t.skip('nothing can remove one message of this source behind its back');
    const src = fx.source();
    try {
      await src.open();
      const cands = await src.listCandidates(100);
      await fx.removeBehind!(1);
      const got: string[] = [];
      for await (const m of src.fetch(cands)) got.push(sha256(await readAll(m.body)));
      assert.deepEqual(got, [sha256(raws[0]!), sha256(raws[2]!)]);
    } finally {
      await src.close();
    }
  });
}
