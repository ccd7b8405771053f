/**
 * The key that signs probe messages (ADR 0027): `probe.key` in the data directory, 32 random
 * bytes, owner-only. A probe carries `X-Mailsluice-Probe: <id>.<mac>`, the MAC an HMAC-SHA256
 * of the id under this key; the index stage skips routes only for a header whose MAC verifies,
 * so nobody who can send mail to a journal mailbox can keep a message from its routes.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { MailsluiceError } from '../core/errors/index.js';
import type { ProbeVerifier } from '../core/ports/probe-verifier.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../adapters/fs-node/private-files.js';

/** The key file's name in the data directory. */
export const PROBE_KEY_FILE = 'probe.key';

const KEY_BYTES = 32;
/** 128 bits of MAC, base64url: plenty against guessing, short in a header. */
const MAC_CHARS = 22;
/** What the MAC covers besides the id: a key made for this purpose only signs this purpose. */
const DOMAIN = 'mailsluice-probe:';

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? String(err);
}

function readKey(file: string): Buffer {
  const key = readFileSync(file);
  if (key.length !== KEY_BYTES) throw new MailsluiceError('CONFIG_INVALID', `${file} holds ${key.length} bytes, not the ${KEY_BYTES} of a probe key: delete it to make a new one (probes sent before are then routed like any message)`);
  return key;
}

/**
 * The key in `dataDir`, made first if there is none. Synchronous (the index stage's wiring is):
 * written whole to a file of its own, synced, and linked into place, which fails if another
 * process (a `test-connection` beside a `start`) made it first; then that one is used.
 */
export function loadOrCreateProbeKey(dataDir: string): Buffer {
  const file = join(dataDir, PROBE_KEY_FILE);
  try {
    return readKey(file);
  } catch (err) {
    if (err instanceof MailsluiceError || errnoOf(err) !== 'ENOENT') throw err;
  }
  mkdirSync(dataDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fd = openSync(tmp, 'wx', PRIVATE_FILE_MODE);
    try {
      writeSync(fd, randomBytes(KEY_BYTES));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, file);
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw err;
    }
    const dir = openSync(dataDir, 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
  }
  return readKey(file);
}

function macOf(key: Buffer, id: string): string {
  return createHmac('sha256', key).update(DOMAIN + id).digest('base64url').slice(0, MAC_CHARS);
}

/** A probe this archive issues: its id (in the Message-ID) and the header value that proves it. */
export interface IssuedProbe {
  id: string;
  /** `<id>.<mac>`: the value of `X-Mailsluice-Probe`. */
  header: string;
  /** `probe-<id>@mailsluice.invalid`, without angle brackets (as the archive keeps it). */
  messageId: string;
}

/** Issues a fresh probe under `key`. */
export function issueProbe(key: Buffer): IssuedProbe {
  const id = randomBytes(12).toString('hex');
  return { id, header: `${id}.${macOf(key, id)}`, messageId: `probe-${id}@mailsluice.invalid` };
}

/** The verifier the index stage asks (`ProbeVerifier`): the MAC compared in constant time. */
export function probeVerifier(key: Buffer): ProbeVerifier {
  return {
    issued(headerValue) {
      const m = /^([0-9a-f]{24})\.([A-Za-z0-9_-]{22})$/.exec(headerValue.trim());
      if (!m) return false;
      const want = Buffer.from(macOf(key, m[1]!));
      const got = Buffer.from(m[2]!);
      return want.length === got.length && timingSafeEqual(want, got);
    },
  };
}
