/**
 * Options of the S3 blob store, their defaults and the reason for each (docs/adr/0049-s3-raw-store.md
 * has the measurements behind them).
 */
import { MailsluiceError } from '../../core/errors/index.js';
import { OBJECT_LOCK_MODES, type ObjectLockMode } from '../../core/archive/object-lock.js';
import type { RecordKeys } from '../crypto-node/record-cipher.js';

/** S3 Object Lock (WORM) of every object the store writes. */
export interface S3ObjectLockOptions {
  /** `GOVERNANCE` (a user with `s3:BypassGovernanceRetention` can still remove) or `COMPLIANCE` (nobody can, until it ends). */
  mode: ObjectLockMode;
  /** Days every object is locked at least, from its write; a message's own retain-until lengthens its object's lock. */
  days: number;
}

/** Options for {@link createS3BlobStore}. */
export interface S3BlobStoreOptions {
  /** The S3 endpoint, e.g. `http://127.0.0.1:7480` or `https://s3.example.net`. Path-style addressing is used. */
  endpoint: string;
  /** The bucket; it must exist (the store never creates one) and belong to this archive alone. */
  bucket: string;
  /** Signing region. Default `us-east-1`, what Ceph RGW and most S3-compatible servers expect. */
  region?: string;
  accessKeyId: string;
  secretAccessKey: string;
  /**
   * Bodies up to this size are put in one request; larger ones go by multipart upload in parts of
   * this size. Default 8 MiB; at least 5 MiB (S3's smallest part but the last).
   */
  partBytes?: number;
  /**
   * Bodies of 1 byte up to this size are packed with others into pack objects (one PUT per
   * `packBytes`); larger ones, and empty ones, are stored alone at their content address. 0 stores
   * every blob alone. Default 256 KiB.
   */
  packBodyLimit?: number;
  /** A writer's pack object is sent once it holds this many bytes (and at every `sync`). Default 8 MiB. */
  packBytes?: number;
  /** Parts of one multipart upload sent at once. Default 2. */
  partsInFlight?: number;
  /**
   * Single-request PUTs (packs and blobs stored alone) a writer keeps in flight before a put
   * waits: a put resolves once its bytes are packed or its request sent (they are served from
   * memory until the server acknowledges them) and `sync` waits for all. Default 8.
   */
  putsInFlight?: number;
  /** Sockets the HTTP agent keeps open (keep-alive) to the endpoint. Default 64. */
  maxSockets?: number;
  /** Milliseconds a request may wait for the server before it fails. Default 30,000. */
  requestTimeoutMs?: number;
  /**
   * The archive's keyring (ADR 0033; blob-fs's `ArchiveKeyring`, handed over by the composition
   * root): with a master key every new packed record and object is sealed with AES-256-GCM, and
   * sealed ones are read with its data keys. Absent: written in clear.
   */
  keyring?: RecordKeys;
  /**
   * S3 Object Lock: every object is written locked. The bucket must have been created with Object
   * Lock enabled; `check()` refuses it otherwise (CONFIG_INVALID naming the bucket). Absent: no lock.
   */
  objectLock?: S3ObjectLockOptions;
}

/** Options with every default applied; frozen. */
export interface S3BlobStoreConfig {
  readonly endpoint: string;
  readonly bucket: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly partBytes: number;
  readonly packBodyLimit: number;
  readonly packBytes: number;
  readonly partsInFlight: number;
  readonly putsInFlight: number;
  readonly maxSockets: number;
  readonly requestTimeoutMs: number;
  readonly keyring: RecordKeys | null;
  readonly objectLock: Readonly<S3ObjectLockOptions> | null;
}

/** S3 refuses parts under 5 MiB except the last. */
const MIN_PART_BYTES = 5 * 1024 * 1024;
/**
 * 8 MiB: nearly all mail goes in one request (multipart costs three round trips more), while a
 * 100 MB body holds at most `partsInFlight` + 1 parts (~24 MiB) in memory.
 */
const DEFAULT_PART_BYTES = 8 * 1024 * 1024;
/**
 * 256 KiB: per-object PUTs ran at 110–190/s on the measured Ceph whatever the concurrency, packs
 * at 6,700–19,000 small messages/s (ADR 0049); nearly all mail is under 256 KiB, and a body
 * above it is few enough that its own request costs little.
 */
const DEFAULT_PACK_BODY_LIMIT = 256 * 1024;
/** 8 MiB: one request per ~2,000 typical messages, while a writer holds at most one open pack plus those in flight. */
const DEFAULT_PACK_BYTES = 8 * 1024 * 1024;
/** 2: the upload of one part overlaps the reading of the next; more buys nothing on one socket's worth of body. */
const DEFAULT_PARTS_IN_FLIGHT = 2;
/** 8: requests (packs or blobs alone) a writer has in flight; the measured per-object rate did not grow past 4 (ADR 0049). */
const DEFAULT_PUTS_IN_FLIGHT = 8;
const DEFAULT_MAX_SOCKETS = 64;
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

function invalid(message: string): MailsluiceError {
  return new MailsluiceError('CONFIG_INVALID', `S3 blob store: ${message}`);
}

function positiveInt(name: string, v: number | undefined, dflt: number, min = 1): number {
  const n = v ?? dflt;
  if (!Number.isInteger(n) || n < min) throw invalid(`${name} must be an integer of at least ${min}, got ${String(v)}`);
  return n;
}

/** Applies defaults and validates; throws CONFIG_INVALID naming the bad option. */
export function resolveS3BlobStoreConfig(options: S3BlobStoreOptions): S3BlobStoreConfig {
  const lock = options.objectLock;
  if (lock !== undefined) {
    if (!OBJECT_LOCK_MODES.includes(lock.mode)) throw invalid(`objectLock.mode must be ${OBJECT_LOCK_MODES.join(' or ')}, got ${String(lock.mode)}`);
    positiveInt('objectLock.days', lock.days, 1);
  }
  let url: URL;
  try {
    url = new URL(options.endpoint);
  } catch {
    throw invalid(`endpoint "${String(options.endpoint)}" is not a URL (e.g. http://127.0.0.1:7480)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(`endpoint "${options.endpoint}" must be http:// or https://`);
  // Bucket names per S3's rules (3–63 lower-case letters, digits, dots, hyphens): path-style URLs carry it verbatim.
  if (typeof options.bucket !== 'string' || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(options.bucket)) {
    throw invalid(`bucket "${String(options.bucket)}" is not a valid S3 bucket name (3–63 lower-case letters, digits, dots, hyphens)`);
  }
  if (typeof options.accessKeyId !== 'string' || options.accessKeyId === '') throw invalid('accessKeyId is required');
  if (typeof options.secretAccessKey !== 'string' || options.secretAccessKey === '') throw invalid('secretAccessKey is required');
  return Object.freeze({
    endpoint: options.endpoint.replace(/\/+$/, ''),
    bucket: options.bucket,
    region: options.region ?? 'us-east-1',
    accessKeyId: options.accessKeyId,
    secretAccessKey: options.secretAccessKey,
    partBytes: positiveInt('partBytes', options.partBytes, DEFAULT_PART_BYTES, MIN_PART_BYTES),
    packBodyLimit: positiveInt('packBodyLimit', options.packBodyLimit, DEFAULT_PACK_BODY_LIMIT, 0),
    packBytes: positiveInt('packBytes', options.packBytes, DEFAULT_PACK_BYTES),
    partsInFlight: positiveInt('partsInFlight', options.partsInFlight, DEFAULT_PARTS_IN_FLIGHT),
    putsInFlight: positiveInt('putsInFlight', options.putsInFlight, DEFAULT_PUTS_IN_FLIGHT),
    maxSockets: positiveInt('maxSockets', options.maxSockets, DEFAULT_MAX_SOCKETS),
    requestTimeoutMs: positiveInt('requestTimeoutMs', options.requestTimeoutMs, DEFAULT_REQUEST_TIMEOUT_MS),
    keyring: options.keyring ?? null,
    objectLock: lock ? Object.freeze({ mode: lock.mode, days: lock.days }) : null,
  });
}
