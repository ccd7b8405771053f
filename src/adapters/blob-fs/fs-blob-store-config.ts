/**
 * Options of the file-system blob store, their defaults and the reason for each
 * (docs/adr/0001-blob-layout.md has the measurements behind them).
 */
import { MailsluiceError } from '../../core/errors/index.js';
import type { CodecName } from './pack-format.js';
import type { ArchiveKeyring } from './archive-keyring.js';

/** How new blobs are compressed; every codec stays readable whatever is configured. */
export interface FsBlobCompression {
  /** `brotli` (default), `deflate-raw` or `none`. */
  codec: CodecName;
  /** Brotli quality 0–11 or deflate level 1–9; ignored for `none`. */
  level?: number;
}

/** Options for {@link createFsBlobStore}. */
export interface FsBlobStoreOptions {
  /** Directory that holds the pack files; created if missing. Owned by this store alone. */
  directory: string;
  /** Compression of new blobs. Default: brotli quality 1. */
  compression?: FsBlobCompression;
  /** A writer starts a new pack once its pack reaches this size. Default 256 MiB. */
  packRollBytes?: number;
  /**
   * Bodies up to this size are buffered and compressed in one call on the libuv threadpool;
   * larger ones are compressed as a stream. Default 256 KiB.
   */
  streamThresholdBytes?: number;
  /**
   * Worker threads that hash and compress buffered bodies, off the main thread; 0 does that
   * work synchronously on the calling thread instead. Default 1.
   */
  compressionThreads?: number;
  /**
   * Bodies over `streamThresholdBytes` are streamed raw (codec none) into a staging pack per
   * writer, hashed but not compressed, and rewritten compressed later by the store's compactor
   * (`FsBlobStore.compact`, ADR 0018). Default true; false compresses them on the way in.
   */
  stageLargeBodies?: boolean;
  /**
   * The archive's keyring (ADR 0033): with a master key, every new record is encrypted; every
   * encrypted record is read with its data keys. Absent: records are written in clear, as before.
   */
  keyring?: ArchiveKeyring;
}

/** Options with every default applied; deep-frozen. */
export interface FsBlobStoreConfig {
  readonly directory: string;
  readonly compression: Readonly<Required<FsBlobCompression>>;
  readonly packRollBytes: number;
  readonly streamThresholdBytes: number;
  readonly compressionThreads: number;
  readonly stageLargeBodies: boolean;
}

/**
 * Brotli quality 1: in the benchmark it compressed as well as deflate level 1–3 (stored/raw
 * 0.41 vs 0.40–0.42 on typical mail) at 1.5–3× their speed, which is what keeps one writer
 * above 4,000 small messages/s on two cores.
 */
const DEFAULT_COMPRESSION: Required<FsBlobCompression> = { codec: 'brotli', level: 1 };
/** 256 MiB: few files per archive (4 per GiB) while a pack stays cheap to copy, scan or compact. */
const DEFAULT_PACK_ROLL_BYTES = 256 * 1024 * 1024;
/**
 * 256 KiB: covers nearly all mail in one buffered call (the stream API costs 3× more per small
 * message in the benchmark) while bounding what a single put holds in memory.
 */
const DEFAULT_STREAM_THRESHOLD_BYTES = 256 * 1024;

/**
 * 1 thread: the main thread is the drain's bottleneck; a worker takes SHA-256 and brotli of
 * small bodies off it (~20 µs left per message instead of ~50–100 µs) and one thread
 * compresses ~9,000 small messages/s, more than two cores leave for it next to the server and
 * the parser.
 */
const DEFAULT_COMPRESSION_THREADS = 1;

function invalid(message: string): MailsluiceError {
  return new MailsluiceError('CONFIG_INVALID', `blob store: ${message}`);
}

/** Applies defaults and validates; throws CONFIG_INVALID naming the bad option. */
export function resolveFsBlobStoreConfig(options: FsBlobStoreOptions): FsBlobStoreConfig {
  if (typeof options.directory !== 'string' || options.directory === '') throw invalid('directory must be a non-empty path');
  const codec = options.compression?.codec ?? DEFAULT_COMPRESSION.codec;
  if (codec !== 'brotli' && codec !== 'deflate-raw' && codec !== 'none') throw invalid(`compression.codec "${String(codec)}" is not one of brotli, deflate-raw, none`);
  const level = options.compression?.level ?? (codec === 'brotli' ? DEFAULT_COMPRESSION.level : codec === 'deflate-raw' ? 1 : 0);
  const [min, max] = codec === 'brotli' ? [0, 11] : codec === 'deflate-raw' ? [1, 9] : [0, 0];
  if (!Number.isInteger(level) || level < min || level > max) throw invalid(`compression.level ${level} is outside ${min}–${max} for ${codec}`);
  const packRollBytes = options.packRollBytes ?? DEFAULT_PACK_ROLL_BYTES;
  if (!Number.isSafeInteger(packRollBytes) || packRollBytes < 4096) throw invalid('packRollBytes must be an integer of at least 4096');
  const streamThresholdBytes = options.streamThresholdBytes ?? DEFAULT_STREAM_THRESHOLD_BYTES;
  if (!Number.isSafeInteger(streamThresholdBytes) || streamThresholdBytes < 1 || streamThresholdBytes > 64 * 1024 * 1024) {
    throw invalid('streamThresholdBytes must be an integer between 1 and 64 MiB');
  }
  const compressionThreads = options.compressionThreads ?? DEFAULT_COMPRESSION_THREADS;
  if (!Number.isInteger(compressionThreads) || compressionThreads < 0 || compressionThreads > 16) throw invalid('compressionThreads must be an integer between 0 and 16');
  const stageLargeBodies = options.stageLargeBodies ?? true;
  if (typeof stageLargeBodies !== 'boolean') throw invalid('stageLargeBodies must be true or false');
  return Object.freeze({
    directory: options.directory,
    compressionThreads,
    stageLargeBodies,
    compression: Object.freeze({ codec, level }),
    packRollBytes,
    streamThresholdBytes,
  });
}
