import { readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { REPO_ROOT } from './cli.js';

/** The project's own source tree. */
export const SRC = join(REPO_ROOT, 'src');

/** Every `.ts` file below `dir` (not `.d.ts`), sorted, for tests that read the source as text. */
export function tsFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) tsFiles(path, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** A path relative to the repository, with forward slashes. */
export function repoRelative(path: string): string {
  return relative(REPO_ROOT, path).split(sep).join('/');
}
