/**
 * Child process of the compactor's crash test: compacts an archive directory's staging packs and
 * prints a line after each step (each copy, the sync, the redirect, the delete), so the parent
 * can kill it anywhere. `node compactor-child.js <dir>`
 */
import { compact, openArchive } from './compactor-fixture.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: compactor-child.js <dir>');
const a = await openArchive(dir);
const totals = await compact(a, { onStep: (step) => void process.stdout.write(`step ${step}\n`) });
process.stdout.write(`done ${JSON.stringify(totals)}\n`);
await a.close();
