/**
 * Options of the postal-mime parser adapter and their defaults.
 */
import { availableParallelism } from 'node:os';
import { DEFAULT_PARSE_LIMITS, type ParseLimits } from '../../core/message/limits.js';

/** What a caller may set when creating the parser; everything is optional. */
export interface PostalMimeParserOptions {
  /**
   * Worker threads parsing in parallel. Default: one per CPU (`availableParallelism()`). The
   * drain's critical path is protected by pausing the index queue while a mailbox drains
   * (the index stage's `busy` hook), not by keeping the pool small: once the mailboxes are
   * drained, parsing gets every core. Idle workers cost memory only (each has its own heap,
   * see `workerHeapMb`).
   */
  workers?: number;
  /** Overrides of individual limits; the rest come from `DEFAULT_PARSE_LIMITS`. */
  limits?: Partial<ParseLimits>;
  /**
   * Heap ceiling of one worker in MB (V8 old generation). A message that needs more kills only
   * its worker and is reported as PARSE_LIMIT_EXCEEDED. Default 512.
   */
  workerHeapMb?: number;
  /**
   * When true, a Buffer that owns its whole ArrayBuffer is transferred to the worker instead of
   * copied, and is detached (zero length) in the caller afterwards. Only for callers that no
   * longer need the bytes (they are archived before parsing). Default false: one copy, which
   * costs far less than the parse itself.
   */
  transferRaw?: boolean;
}

/** The resolved, validated configuration. */
export interface PostalMimeParserConfig {
  readonly workers: number;
  readonly limits: ParseLimits;
  readonly workerHeapMb: number;
  readonly transferRaw: boolean;
}

/** The default worker count: `availableParallelism()` (at least one). */
export function defaultWorkerCount(): number {
  return Math.max(1, availableParallelism());
}

/** Applies defaults and rejects nonsense (non-positive or non-integer counts and limits). */
export function resolvePostalMimeParserConfig(options: PostalMimeParserOptions = {}): PostalMimeParserConfig {
  const workers = options.workers ?? defaultWorkerCount();
  positiveInt('workers', workers);
  const limits: ParseLimits = Object.freeze({ ...DEFAULT_PARSE_LIMITS, ...options.limits });
  for (const [k, v] of Object.entries(limits)) positiveInt(`limits.${k}`, v as number);
  const workerHeapMb = options.workerHeapMb ?? 512;
  positiveInt('workerHeapMb', workerHeapMb);
  return Object.freeze({ workers, limits, workerHeapMb, transferRaw: options.transferRaw ?? false });
}

function positiveInt(name: string, v: number): void {
  // A programming error in the composition root, not bad mail: thrown as a TypeError.
  if (!Number.isInteger(v) || v < 1) throw new TypeError(`postal-mime parser: ${name} must be a positive integer, got ${String(v)}`);
}
