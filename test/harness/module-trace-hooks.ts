/**
 * The loader hook of module-trace.ts (it runs on the loader's own thread): appends each loaded
 * module's URL to the file named by `MAILSLUICE_MODULE_TRACE`.
 */
import { appendFileSync } from 'node:fs';

type Next = (url: string, context: unknown) => Promise<unknown>;

/** Node's `load` hook: loads as usual, then notes the URL. */
export async function load(url: string, context: unknown, next: Next): Promise<unknown> {
  const loaded = await next(url, context);
  const file = process.env.MAILSLUICE_MODULE_TRACE;
  if (file) appendFileSync(file, `${url}\n`);
  return loaded;
}
