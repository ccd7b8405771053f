/**
 * UID sequence sets: the UIDs a command names, compressed into ranges and split so that no
 * command line grows past what a server accepts, however scattered the UIDs are.
 */
import { IMAP_TUNING } from './imap-source-config.js';

/** Compresses sorted UIDs into an IMAP sequence set ("1:5,7,9:12"). */
export function toSequenceSet(uids: readonly number[]): string {
  return sequenceRanges(uids).join(',');
}

/**
 * `uids` as IMAP sequence sets of at most `maxChars` characters each, ascending. A command line
 * must stay short enough for any server (RFC 7162 section 4 advises clients to keep lines within
 * 8,192 octets), and the set of scattered UIDs (`unseenOnly` skipping seen mail, or batches merged
 * behind a slow expunge) can be far longer than its count suggests.
 */
export function toSequenceSets(uids: readonly number[], maxChars: number = IMAP_TUNING.maxSequenceSetChars): string[] {
  const sets: string[] = [];
  let current = '';
  for (const r of sequenceRanges(uids)) {
    if (current !== '' && current.length + 1 + r.length > maxChars) {
      sets.push(current);
      current = '';
    }
    current = current === '' ? r : `${current},${r}`;
  }
  if (current !== '') sets.push(current);
  return sets;
}

/** Ascending `n` and `n:m` ranges of `uids`. */
function sequenceRanges(uids: readonly number[]): string[] {
  const sorted = [...uids].sort((a, b) => a - b);
  const parts: string[] = [];
  let start = sorted[0];
  let prev = start;
  for (let i = 1; i <= sorted.length; i++) {
    const u = sorted[i];
    if (u !== undefined && prev !== undefined && u === prev + 1) {
      prev = u;
      continue;
    }
    if (start !== undefined && prev !== undefined) parts.push(start === prev ? String(start) : `${start}:${prev}`);
    start = u;
    prev = u;
  }
  return parts;
}

/** The index of the first element of ascending `sorted` above `value`. */
export function firstAbove(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
