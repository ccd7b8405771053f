/**
 * The file-system blob store with encryption at rest (ADR 0033), without a mail server: staged
 * large bodies compacted into encrypted records, an archive turned on later (its clear records
 * still read, new ones encrypted), a flipped byte in an encrypted record found by a streamed read
 * and by a whole read, and a data key another store of the archive made found by reading the
 * keyring again.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ArchiveKeyring, createFsBlobStore, scanPack } from '../../src/adapters/blob-fs/index.js';
import { isMailsluiceError } from '../../src/core/errors/index.js';
import { compact, markParsed, openArchive, seed, verifyAll } from './compactor-fixture.js';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'mailsluice-enc-'));
}

/** Encryption flags of every record of every pack under `blobs`, by pack name. */
async function flags(blobs: string): Promise<Map<string, boolean[]>> {
  const out = new Map<string, boolean[]>();
  for (const name of (await readdir(blobs)).filter((n) => n.endsWith('.mspack')).sort()) {
    const seen: boolean[] = [];
    await scanPack(join(blobs, name), (r) => void seen.push(r.encrypted === true));
    out.set(name, seen);
  }
  return out;
}

async function* chunks(b: Buffer): AsyncGenerator<Uint8Array> {
  for (let p = 0; p < b.length; p += 65_536) yield b.subarray(p, p + 65_536);
}

test('staged large bodies are compacted into encrypted records and read back exactly', async () => {
  const dir = await tempDir();
  try {
    const a = await openArchive(dir, await ArchiveKeyring.open(dir, randomBytes(32)));
    const expected = await seed(a, 9);
    await markParsed(a);
    const totals = await compact(a);
    assert.ok(totals.blobs >= 3, 'the large bodies were compacted');
    assert.deepEqual(await verifyAll(a, expected), []);
    for (const [name, f] of await flags(join(dir, 'blobs'))) assert.ok(f.every(Boolean), `every record of ${name} is encrypted`);
    await a.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('encryption turned on for an archive: its clear records still read, new ones are encrypted', async () => {
  const dir = await tempDir();
  try {
    const clear = await openArchive(dir);
    const before = await seed(clear, 4);
    await clear.close();
    const a = await openArchive(dir, await ArchiveKeyring.open(dir, randomBytes(32)));
    const after = await seed(a, 4, 4);
    assert.deepEqual(await verifyAll(a, new Map([...before, ...after])), []);
    const all = [...(await flags(join(dir, 'blobs'))).values()].flat();
    assert.ok(all.includes(false) && all.includes(true), 'clear and encrypted records side by side');
    await a.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a flipped byte in an encrypted record fails a whole read and a streamed read with STORE_CORRUPT', async () => {
  const dir = await tempDir();
  try {
    const keyring = await ArchiveKeyring.open(dir, randomBytes(32));
    const store = await createFsBlobStore({ directory: join(dir, 'blobs'), keyring, stageLargeBodies: false });
    const w = await store.openWriter();
    const body = randomBytes(600_000); // streamed (over the threshold), stored raw: one GCM over the stream
    const r = await w.put(chunks(body), () => false);
    await w.sync();
    await w.close();
    assert.ok(r.location);
    const pack = join(dir, 'blobs', (await readdir(join(dir, 'blobs'))).find((n) => n.endsWith('.mspack'))!);
    const bytes = await readFile(pack);
    const at = 16 + 64 + 300_000;
    bytes.writeUInt8(bytes.readUInt8(at) ^ 0x01, at);
    await writeFile(pack, bytes);
    await assert.rejects(store.read(r.location, r.sha256), (err) => isMailsluiceError(err, 'STORE_CORRUPT') && /pack-00000001/.test(err.message));
    await assert.rejects(
      (async () => {
        for await (const _ of store.stream(r.location!)) void _;
      })(),
      (err) => isMailsluiceError(err, 'STORE_CORRUPT') && /does not decrypt: its GCM tag does not match/.test(err.message),
    );
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a data key another store of the archive made is found by reading the keyring again', async () => {
  const dir = await tempDir();
  try {
    const master = randomBytes(32);
    const reader = await createFsBlobStore({ directory: join(dir, 'blobs'), keyring: await ArchiveKeyring.open(dir, master) });
    const writer = await createFsBlobStore({ directory: join(dir, 'blobs'), keyring: await ArchiveKeyring.open(dir, master) });
    const w = await writer.openWriter();
    const body = Buffer.from('a message body '.repeat(50));
    const r = await w.put(chunks(body), () => false);
    await w.sync();
    await w.close();
    // The reader opened its keyring before the writer made its data key.
    assert.ok((await reader.read(r.location!, r.sha256)).equals(body), 'a whole read finds the new key');
    const third = await createFsBlobStore({ directory: join(dir, 'blobs'), keyring: await ArchiveKeyring.open(dir, master) });
    const w3 = await third.openWriter();
    const body3 = Buffer.from('another message body '.repeat(50));
    const r3 = await w3.put(chunks(body3), () => false);
    await w3.sync();
    await w3.close();
    await third.close();
    const streamed: Buffer[] = [];
    for await (const c of reader.stream(r3.location!)) streamed.push(Buffer.from(c));
    assert.ok(Buffer.concat(streamed).equals(body3), 'a streamed read finds a newer key');
    // A wrong key now fails to open the keyring, with the key ids named.
    await assert.rejects(ArchiveKeyring.open(dir, randomBytes(32)), (err) => isMailsluiceError(err, 'ARCHIVE_KEY_INVALID') && /key id [0-9a-f]{16}/.test(err.message));
    await assert.rejects(ArchiveKeyring.open(dir, null), (err) => isMailsluiceError(err, 'ARCHIVE_KEY_INVALID') && /not configured/.test(err.message));
    await reader.close();
    await writer.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
