/**
 * Writes `docs/configuration.md` from the schema: `npm run build && node dist/src/config/write-reference.js`.
 * A script entry, not a module to import: it writes when run.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderConfigReference } from './reference.js';

/** The repository root: the nearest folder above this file whose package.json is mailsluice's. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'mailsluice') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the mailsluice repository root above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

const target = join(repoRoot(), 'docs', 'configuration.md');
writeFileSync(target, renderConfigReference());
process.stdout.write(`wrote ${target}\n`);
