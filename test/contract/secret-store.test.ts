/**
 * The secret store's contract run against the AES-256-GCM file (adapters/secrets-aesgcm, a fresh
 * directory per test) and the in-memory reference adapter; and what only the file store must
 * do: no value in clear in the file, mode 0600, a wrong key or a changed byte refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openAesGcmSecretStore } from '../../src/adapters/secrets-aesgcm/index.js';
import { MailsluiceError } from '../../src/core/errors/index.js';
import { MemorySecretStore } from '../reference/memory-secret-store.js';
import { runSecretStoreContract } from './secret-store.contract.js';

function fileStore(): { dir: string; open: () => ReturnType<typeof openAesGcmSecretStore> } {
  const dir = mkdtempSync(join(tmpdir(), 'ms-secrets-'));
  const open = () => openAesGcmSecretStore({ file: join(dir, 'secrets.enc'), key: { file: join(dir, 'secrets.key'), create: true } });
  return { dir, open };
}

runSecretStoreContract('aes-256-gcm file', async () => {
  const { dir, open } = fileStore();
  return { store: open(), reopen: open, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

runSecretStoreContract('memory', async () => {
  const store = new MemorySecretStore();
  return { store, reopen: () => store, cleanup: async () => undefined };
});

const unreadable = (e: unknown): boolean => e instanceof MailsluiceError && e.code === 'SECRETS_UNREADABLE';

test('aes-256-gcm file: the file and its default key are 0600, and the file holds no value in clear', async () => {
  const { dir, open } = fileStore();
  try {
    const store = open();
    await store.set('connection.a.auth.password', 'S3cret-Pa55word');
    await store.set('connection.b.auth.password', 'S3cret-Pa55word');
    const text = readFileSync(join(dir, 'secrets.enc'), 'utf8');
    assert.ok(!text.includes('S3cret'), 'the value is not in the file in clear');
    assert.ok(!text.includes(Buffer.from('S3cret-Pa55word').toString('base64')), 'nor in base64');
    const sealed = JSON.parse(text).secrets;
    assert.notEqual(sealed['connection.a.auth.password'].iv, sealed['connection.b.auth.password'].iv, 'a fresh IV per value');
    assert.notEqual(sealed['connection.a.auth.password'].data, sealed['connection.b.auth.password'].data);
    assert.equal(statSync(join(dir, 'secrets.enc')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'secrets.key')).mode & 0o777, 0o600);
    assert.equal(Buffer.from(readFileSync(join(dir, 'secrets.key'), 'utf8').trim(), 'base64').length, 32);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('aes-256-gcm file: a wrong key, a changed byte, or a value moved to another name is refused (SECRETS_UNREADABLE)', async () => {
  const { dir, open } = fileStore();
  try {
    await open().set('connection.a.auth.password', 'one');
    await open().set('connection.b.auth.password', 'two');
    const wrongKey = openAesGcmSecretStore({ file: join(dir, 'secrets.enc'), key: { text: randomBytes(32).toString('base64'), origin: 'environment variable K' } });
    assert.throws(() => wrongKey.get('connection.a.auth.password'), unreadable);
    await assert.rejects(wrongKey.set('connection.c.auth.password', 'x'), (e: unknown) => e instanceof MailsluiceError && e.code === 'SECRETS_WRITE_FAILED');
    const file = join(dir, 'secrets.enc');
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    // Moved: b's sealed value under a's name.
    doc.secrets['connection.a.auth.password'] = doc.secrets['connection.b.auth.password'];
    writeFileSync(file, JSON.stringify(doc));
    assert.throws(() => open().get('connection.a.auth.password'), unreadable);
    // One byte of b's ciphertext changed.
    const data = Buffer.from(doc.secrets['connection.b.auth.password'].data, 'base64');
    data[0] = data[0]! ^ 1;
    doc.secrets['connection.b.auth.password'].data = data.toString('base64');
    writeFileSync(file, JSON.stringify(doc));
    assert.throws(() => open().get('connection.b.auth.password'), unreadable);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('aes-256-gcm file: a key from the environment must be 32 bytes (raw or base64); an empty store needs no key', async () => {
  const { dir } = fileStore();
  try {
    const file = join(dir, 'secrets.enc');
    const noKey = openAesGcmSecretStore({ file, key: { text: undefined, origin: 'environment variable K' } });
    assert.equal(noKey.get('x'), undefined, 'nothing stored: the key is not needed');
    await assert.rejects(noKey.set('x', 'y'), (e: unknown) => e instanceof MailsluiceError && e.code === 'SECRETS_WRITE_FAILED' && /variable K\) is not set/.test(e.message));
    const short = openAesGcmSecretStore({ file, key: { text: 'c2hvcnQ=', origin: 'environment variable K' } });
    await assert.rejects(short.set('x', 'y'), (e: unknown) => e instanceof MailsluiceError && /32 bytes/.test(e.message));
    const raw = randomBytes(32).toString('latin1');
    const good = openAesGcmSecretStore({ file, key: { text: raw, origin: 'environment variable K' } });
    await good.set('x', 'y');
    const b64 = openAesGcmSecretStore({ file, key: { text: Buffer.from(raw, 'latin1').toString('base64'), origin: 'environment variable K' } });
    assert.equal(b64.get('x'), 'y', 'the same key in base64 opens what the raw key stored');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
