/**
 * Child process of the compress stage's crash test: runs the stage over an archive directory with
 * one blob per sync + transaction, and prints a line after each step so the parent can kill it
 * anywhere. `node compress-stage-child.js <dir>`
 */
import { runCompressStage } from '../../src/core/archive/compress-stage.js';
import type { MessageStore } from '../../src/core/ports/message-store.js';
import { openArchive, realClock, silent } from './compress-fixture.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: compress-stage-child.js <dir>');
const a = await openArchive(dir);
// Announce every relocation, so the parent can aim its SIGKILL just after one.
const store = new Proxy(a.store, {
  get(target, prop, receiver) {
    const v = Reflect.get(target, prop, receiver) as unknown;
    if (prop === 'relocateBlobs') {
      return async (...args: Parameters<MessageStore['relocateBlobs']>) => {
        const n = await target.relocateBlobs(...args);
        process.stdout.write(`relocated ${n}\n`);
        return n;
      };
    }
    return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(target) : v;
  },
});
const totals = await runCompressStage({ store, blobs: a.blobs, logger: silent, clock: realClock, batchBytes: 1, deleteGraceMs: 0 }, () => true);
process.stdout.write(`done ${JSON.stringify(totals)}\n`);
await a.close();
