/**
 * The SecretStore port on one file of AES-256-GCM values (ADR 0023): each value encrypted with
 * a random 96-bit IV and authenticated with its name, the file replaced atomically (0600) on
 * every change. The file is read whole when the store is opened; the key only when a value is
 * decrypted or stored, so a configuration without secrets in the store never needs it.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync, fsyncSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SecretStore } from '../../core/ports/secret-store.js';
import { MailsluiceError } from '../../core/errors/index.js';
import { writeFileAtomic } from '../fs-node/atomic-write.js';
import { makePrivateDirSync } from '../fs-node/private-files.js';
import { AESGCM_SECRETS, type AesGcmKeySource, type AesGcmSecretsOptions } from './aesgcm-secrets-config.js';
import { undecryptable, unreadable, unwritable } from './aesgcm-error-map.js';

/** One stored value, base64 parts. */
interface Sealed {
  iv: string;
  tag: string;
  data: string;
}

/** The file's content. */
interface StoreFile {
  version: number;
  cipher: 'aes-256-gcm';
  secrets: Record<string, Sealed>;
}

/** 32 bytes as given (raw), or base64 of 32 bytes; anything else is refused. */
export function parseKey(bytes: Buffer, origin: string): Buffer {
  if (bytes.length === AESGCM_SECRETS.keyBytes) return bytes;
  const text = bytes.toString('latin1').trim();
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
    const decoded = Buffer.from(text, 'base64');
    if (decoded.length === AESGCM_SECRETS.keyBytes) return decoded;
  }
  throw new MailsluiceError('SECRETS_UNREADABLE', `the secret store's key (${origin}) must be ${AESGCM_SECRETS.keyBytes} bytes, raw or base64 (e.g. openssl rand -base64 32)`);
}

/** Reads the key; with `create`, makes a new random one (0600, base64) when the file does not exist. */
function loadKey(source: AesGcmKeySource, create: boolean): Buffer {
  if ('text' in source) {
    if (source.text === undefined || source.text === '') throw new MailsluiceError('SECRETS_UNREADABLE', `the secret store's key (${source.origin}) is not set`);
    return parseKey(Buffer.from(source.text, 'latin1'), source.origin);
  }
  try {
    return parseKey(readFileSync(source.file), `file ${source.file}`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !create || !source.create) throw err instanceof MailsluiceError ? err : unreadable(`key file ${source.file}`, err);
  }
  const key = randomBytes(AESGCM_SECRETS.keyBytes);
  makePrivateDirSync(dirname(source.file));
  // `wx`: two writers racing to make it cannot both win and encrypt under different keys.
  const fd = openSync(source.file, 'wx', AESGCM_SECRETS.fileMode);
  try {
    writeSync(fd, `${key.toString('base64')}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return key;
}

function readStore(file: string): StoreFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: AESGCM_SECRETS.version, cipher: 'aes-256-gcm', secrets: {} };
    throw unreadable(`file ${file}`, err);
  }
  let parsed: StoreFile;
  try {
    parsed = JSON.parse(text) as StoreFile;
  } catch (err) {
    throw unreadable(`file ${file}`, err);
  }
  if (parsed?.version !== AESGCM_SECRETS.version || typeof parsed.secrets !== 'object' || parsed.secrets === null) {
    throw new MailsluiceError('SECRETS_UNREADABLE', `${file} is not a secret store of version ${AESGCM_SECRETS.version}`);
  }
  return parsed;
}

function seal(key: Buffer, name: string, value: string): Sealed {
  const iv = randomBytes(AESGCM_SECRETS.ivBytes);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: AESGCM_SECRETS.tagBytes });
  cipher.setAAD(Buffer.from(AESGCM_SECRETS.aadPrefix + name, 'utf8'));
  const data = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
  return { iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
}

function open(key: Buffer, name: string, sealed: Sealed, file: string): string {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'), { authTagLength: AESGCM_SECRETS.tagBytes });
    decipher.setAAD(Buffer.from(AESGCM_SECRETS.aadPrefix + name, 'utf8'));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    throw undecryptable(name, file);
  }
}

/**
 * Opens the store in `options.file` (an absent file is an empty store). Throws
 * `SECRETS_UNREADABLE` when the file exists but cannot be read or is not a store.
 */
export function openAesGcmSecretStore(options: AesGcmSecretsOptions): SecretStore {
  const { file } = options;
  const state = readStore(file);
  let key: Buffer | undefined;
  const keyFor = (create: boolean): Buffer => (key ??= loadKey(options.key, create));
  const save = async (): Promise<void> => {
    makePrivateDirSync(dirname(file));
    await writeFileAtomic(file, JSON.stringify(state, null, 1) + '\n', AESGCM_SECRETS.fileMode);
  };
  return {
    get(name) {
      const sealed = Object.hasOwn(state.secrets, name) ? state.secrets[name] : undefined;
      return sealed === undefined ? undefined : open(keyFor(false), name, sealed, file);
    },
    names: () => Object.keys(state.secrets).sort(),
    async set(name, value) {
      try {
        const k = keyFor(true);
        // A key other than the one the file was written under would leave values no key opens.
        const first = Object.keys(state.secrets)[0];
        if (first !== undefined) open(k, first, state.secrets[first]!, file);
        state.secrets[name] = seal(k, name, value);
        await save();
      } catch (err) {
        throw unwritable(file, err);
      }
    },
    async delete(name) {
      if (!Object.hasOwn(state.secrets, name)) return false;
      delete state.secrets[name];
      try {
        await save();
      } catch (err) {
        throw unwritable(file, err);
      }
      return true;
    },
  };
}
