/**
 * `export` through a running service (ADR 0025): the service selects, reads and records; the
 * files are written here. Apart from the other commands' control-socket calls
 * (`service-commands.ts`) so that `search`, which loads those, loads no zip writer (ADR 0039).
 */
import { createWriteStream } from 'node:fs';
import { chmod, open, rename, stat, unlink } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { MailsluiceError } from '../core/errors/index.js';
import type { ControlClient } from './control-client.js';
import { zipEntries } from './zip-entries.js';
import { writeWhole, zipTarget, type ExportRequest } from './export.js';
import { verifyExportZip } from './export-verify.js';

/** What an export through the service wrote. */
export interface ServiceExport {
  /** Messages written (`eml`: files new in the directory; `mbox`, `zip`: messages in the file). */
  written: number;
  /** `zip`: the SHA-256 of its manifest before the last line. */
  manifestSha256?: string;
}

/** Counts mbox `From ` separator lines as the bytes pass (mboxrd quotes every other such line). */
function fromLineCounter(): { transform: Transform; count: () => number } {
  let n = 0;
  let atLineStart = true;
  let carry = '';
  const transform = new Transform({
    transform(chunk: Buffer, _enc, done) {
      const s = carry + chunk.toString('latin1');
      let i = 0;
      for (;;) {
        if (atLineStart) {
          if (s.length - i < 5) {
            carry = s.slice(i);
            break;
          }
          if (s.startsWith('From ', i)) n++;
        }
        const nl = s.indexOf('\n', i);
        if (nl < 0) {
          atLineStart = false;
          carry = '';
          break;
        }
        i = nl + 1;
        atLineStart = true;
      }
      done(null, chunk);
    },
  });
  return { transform, count: () => n };
}

/**
 * Exports the messages `req.query` selects (all without; `core/archive/export-selection.ts`, run
 * by the service) through the service: `mbox` as the API's mbox in `archive.mbox` in `req.out`;
 * `zip` as the API's zip in the file `req.out` (checked against its manifest before it is given
 * its name, `verifyExportZip`); `eml` as the API's zip, downloaded into `req.out` under a
 * temporary name and unpacked into `<sha256>.eml` files (each checked against its name, written
 * under a temporary name and renamed, one already there left as it is), the zip then removed.
 * Files get `req.mode`.
 */
export async function exportThroughService(service: ControlClient, req: Pick<ExportRequest, 'out' | 'format' | 'mode' | 'query'>): Promise<ServiceExport> {
  const { out, format, mode } = req;
  const res = await service.stream('/api/v1/messages/export', {
    format: format === 'mbox' ? 'mbox' : 'zip',
    ...(req.query.text ? { text: req.query.text } : {}),
    ...(req.query.connection ? { connection: req.query.connection } : {}),
  });
  if (format === 'mbox') {
    const counter = fromLineCounter();
    await writeWhole(join(out, 'archive.mbox'), res, mode, counter.transform);
    return { written: counter.count() };
  }
  if (format === 'zip') {
    const file = zipTarget(out);
    const tmp = `${file}.${process.pid}.part`;
    try {
      await writeWhole(tmp, res, mode);
      const verdict = await verifyExportZip(tmp);
      if (!verdict.ok) throw new MailsluiceError('EXPORT_INVALID', `the export the service sent does not hold what its manifest says: ${verdict.problems[0]}`);
      await rename(tmp, file);
      return { written: verdict.messages, manifestSha256: verdict.manifestSha256! };
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }
  const tmp = join(out, `.mailsluice-export.${process.pid}.tmp`);
  try {
    await pipeline(res, createWriteStream(tmp, { mode: 0o600 }));
    return { written: await unpack(tmp, out, mode) };
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

const EML = /^([0-9a-f]{64})\.eml$/;

/** The `.eml` entries of the zip at `zipPath` written into `out`; how many were new. */
async function unpack(zipPath: string, out: string, mode: number): Promise<number> {
  const fh = await open(zipPath, 'r');
  let n = 0;
  try {
    for (const entry of await zipEntries(fh)) {
      const m = EML.exec(entry.name);
      if (!m) continue; // manifest.json
      if (!entry.stored) throw new MailsluiceError('INTERNAL', `the export the service sent holds ${entry.name} compressed, which this build does not unpack`);
      const path = join(out, entry.name);
      if (await stat(path).then(() => true, () => false)) {
        await chmod(path, mode); // same content, same name: already written
        continue;
      }
      const part = `${path}.${process.pid}.tmp`;
      const hash = createHash('sha256');
      const source = entry.size === 0 ? [] : fh.createReadStream({ start: entry.start, end: entry.start + entry.size - 1, autoClose: false });
      await pipeline(
        source,
        new Transform({ transform: (c: Buffer, _e, done) => (hash.update(c), done(null, c)) }),
        createWriteStream(part, { mode }),
      ).catch(async (err: unknown) => {
        await unlink(part).catch(() => undefined);
        throw err;
      });
      if (hash.digest('hex') !== m[1]) {
        await unlink(part).catch(() => undefined);
        throw new MailsluiceError('INTERNAL', `the export the service sent holds ${entry.name} with other bytes than its name says`);
      }
      await chmod(part, mode);
      await rename(part, path);
      n++;
    }
  } finally {
    await fh.close();
  }
  return n;
}
