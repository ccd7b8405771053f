/**
 * Child process of the reclaim crash test (ADR 0036): runs a reclaim over an archive directory
 * and prints a line after each step (normalised, each pack's copy, sync, verify, switch, delete),
 * so the parent can kill it anywhere. `node reclaim-child.js <dir> [space|encrypt] [hex master key]`
 */
import { ArchiveKeyring } from '../../src/adapters/blob-fs/index.js';
import { openArchive } from './compactor-fixture.js';
import { reclaim } from './reclaim-fixture.js';

const [dir, purpose = 'space', keyHex] = process.argv.slice(2);
if (!dir || (purpose !== 'space' && purpose !== 'encrypt')) throw new Error('usage: reclaim-child.js <dir> [space|encrypt] [key]');
const a = await openArchive(dir, keyHex ? await ArchiveKeyring.open(dir, Buffer.from(keyHex, 'hex')) : undefined);
const totals = await reclaim(a, purpose, (step, pack) => void process.stdout.write(`step ${step} ${pack}\n`));
process.stdout.write(`done ${JSON.stringify(totals)}\n`);
await a.close();
