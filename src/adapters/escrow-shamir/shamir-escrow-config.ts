/**
 * What the escrow parts' files are (docs/encryption.md), with the reasons. No tunable: a part's
 * format is fixed by `core/archive/key-escrow.ts`.
 */

/**
 * The file of part `i` of `n` for `--out FILE`: `FILE.part-<i>-of-<n>`. The count in the name
 * says at a glance how many parts the set had; the threshold is inside each part.
 */
export function keyPartFile(out: string, i: number, n: number): string {
  return `${out}.part-${i}-of-${n}`;
}
