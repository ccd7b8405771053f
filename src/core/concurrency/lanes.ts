/**
 * Work over a list with a bounded number of calls in flight: enough to keep a pool of worker
 * threads busy, few enough that what each call holds (a message read back, a parse) stays bounded.
 */

/**
 * `fn` of every item, at most `lanes` at a time, the results in the items' order; stops taking
 * new items once `signal` aborts (their results stay undefined).
 */
export async function mapInLanes<T, R>(items: readonly T[], lanes: number, fn: (item: T, index: number) => Promise<R>, signal?: AbortSignal): Promise<Array<R | undefined>> {
  const out: Array<R | undefined> = new Array(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length && !signal?.aborted) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(lanes, items.length)) }, lane));
  return out;
}
