/**
 * Parser benchmark behind docs/adr/0002-message-parser.md: measures, on ONE thread, how many
 * generated realistic messages per second (and MB/s) each candidate parser turns into the data
 * the attributes need (headers, bodies, decoded attachments hashed with SHA-256), then the
 * throughput of the adapter as built (worker pool, full attribute mapping).
 *
 * Run: `npx tsc -p tsconfig.json && node dist/bench/parser-bench.js [--seconds N] [--workers N]
 * [--only candidates|pool] [--write-corpus FILE]`. `--only pool` measures just the adapter as
 * built (1 worker, then `--workers`); `--write-corpus` saves the seeded 4 KB and mix corpora as
 * JSON (base64) for a profiling harness and exits.
 *
 * The corpus is generated, not read from disk, so the numbers measure parsing only; it is
 * seeded so two runs parse the same bytes.
 */
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { simpleParser, MailParser } from 'mailparser';
import PostalMime from 'postal-mime';
import { createPostalMimeParser } from '../src/adapters/parser-postal-mime/index.js';
import { seededRandom } from '../test/harness/random.js';

const args = process.argv.slice(2);
function argNum(name: string, dflt: number): number {
  const i = args.indexOf(name);
  const v = i >= 0 ? Number(args[i + 1]) : NaN;
  return Number.isFinite(v) && v > 0 ? v : dflt;
}
const SECONDS = argNum('--seconds', 3);
const WORKERS = argNum('--workers', availableParallelism());
function argStr(name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}
const ONLY = argStr('--only');
const WRITE_CORPUS = argStr('--write-corpus');


const WORDS = ('the quarterly report invoice meeting agenda please find attached review contract shipment ' +
  'delivery schedule budget forecast approval customer account payment reminder project status update ' +
  'Grüße café naïve résumé über Straße').split(' ');

function sentence(r: () => number, words: number): string {
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(WORDS[Math.floor(r() * WORDS.length)] ?? 'x');
  return out.join(' ');
}

/** Quoted-printable encoding, enough for generated UTF-8 text (soft breaks at 76). */
function qp(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  let line = '';
  const lines: string[] = [];
  for (const b of bytes) {
    let enc: string;
    if (b === 0x0a) {
      lines.push(line);
      line = '';
      continue;
    }
    if ((b >= 33 && b <= 126 && b !== 61) || b === 32) enc = String.fromCharCode(b);
    else enc = '=' + b.toString(16).toUpperCase().padStart(2, '0');
    if (line.length + enc.length > 75) {
      lines.push(line + '=');
      line = '';
    }
    line += enc;
  }
  lines.push(line);
  return lines.join('\r\n');
}

function b64lines(buf: Buffer): string {
  return (buf.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
}

function headers(r: () => number, i: number): string {
  const recips = Array.from({ length: 1 + Math.floor(r() * 6) }, (_, k) => `"Person ${k}" <person${k}.${i}@example.com>`).join(',\r\n ');
  const received = Array.from({ length: 3 + Math.floor(r() * 4) }, (_, k) =>
    `Received: from mx${k}.example.net (mx${k}.example.net [192.0.2.${k}])\r\n\tby mail.example.com (Postfix) with ESMTPS id ABC${i}${k}\r\n\tfor <journal@example.com>; Tue, 3 Mar 2026 10:0${k}:00 +0100`,
  ).join('\r\n');
  return [
    received,
    'DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=sel;\r\n\th=from:to:subject:date; bh=' + 'A'.repeat(44) + ';\r\n\tb=' + 'B'.repeat(200),
    `From: =?UTF-8?B?${Buffer.from('Jürgen Müller').toString('base64')}?= <jm${i}@example.com>`,
    `To: ${recips}`,
    `Cc: team${i}@example.com`,
    `Subject: =?UTF-8?Q?Re:_${sentence(r, 4).replace(/ /g, '_').replace(/[^\x21-\x7e]/g, (c) => Buffer.from(c).toString('hex').replace(/(..)/g, '=$1').toUpperCase())}?=`,
    `Date: Tue, 3 Mar 2026 10:${String(i % 60).padStart(2, '0')}:00 +0100`,
    `Message-ID: <msg${i}.${Math.floor(r() * 1e9)}@example.com>`,
    `In-Reply-To: <prev${i}@example.com>`,
    `References: <root${i}@example.com> <prev${i}@example.com>`,
    'MIME-Version: 1.0',
    'X-Mailer: bench',
  ].join('\r\n');
}

/** A text+html multipart/alternative message of about `target` bytes. */
function smallMessage(r: () => number, i: number, target: number): Buffer {
  const paras: string[] = [];
  let size = 0;
  while (size < target / 2.6) {
    const p = sentence(r, 20 + Math.floor(r() * 40));
    paras.push(p);
    size += p.length;
  }
  const text = paras.join('\n\n');
  const html = '<html><body>' + paras.map((p) => `<p style="margin:0">${p}</p>`).join('\n') + '</body></html>';
  const b = `alt_${i}_${Math.floor(r() * 1e9)}`;
  const body = [
    `Content-Type: multipart/alternative; boundary="${b}"`,
    '',
    `--${b}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    qp(text),
    `--${b}`,
    'Content-Type: text/html; charset=utf-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    qp(html),
    `--${b}--`,
    '',
  ].join('\r\n');
  return Buffer.from(headers(r, i) + '\r\n' + body, 'utf8');
}

/** A multipart/mixed message with a short text body and 1-2 base64 attachments of 200 KB-2 MB. */
function attachmentMessage(r: () => number, i: number): Buffer {
  const b = `mix_${i}`;
  const parts: string[] = [`Content-Type: multipart/mixed; boundary="${b}"`, '', `--${b}`, 'Content-Type: text/plain; charset=utf-8', '', sentence(r, 80)];
  const n = 1 + Math.floor(r() * 2);
  for (let k = 0; k < n; k++) {
    const size = 200_000 + Math.floor(r() * 1_800_000);
    const data = Buffer.alloc(size);
    for (let j = 0; j < size; j += 4) data.writeUInt32LE((r() * 0xffffffff) >>> 0, Math.min(j, size - 4));
    parts.push(`--${b}`, `Content-Type: application/pdf; name="report-${i}-${k}.pdf"`, 'Content-Transfer-Encoding: base64', `Content-Disposition: attachment; filename="report-${i}-${k}.pdf"`, '', b64lines(data));
  }
  parts.push(`--${b}--`, '');
  return Buffer.from(headers(r, i) + '\r\n' + parts.join('\r\n'), 'utf8');
}

function sha(data: Uint8Array | ArrayBuffer | string): string {
  return createHash('sha256').update(typeof data === 'string' ? data : data instanceof ArrayBuffer ? new Uint8Array(data) : data).digest('hex');
}

/** One candidate: parse a message and touch what the attributes need, so lazy work is counted. */
type Candidate = (raw: Buffer) => Promise<number>;

const candidates: Record<string, Candidate> = {
  'mailparser simpleParser': async (raw) => {
    const m = await simpleParser(raw, { skipTextToHtml: true, skipTextLinks: true, skipImageLinks: true });
    let n = (m.text?.length ?? 0) + (typeof m.html === 'string' ? m.html.length : 0);
    for (const a of m.attachments) n += sha(a.content).length;
    return n;
  },
  'mailparser MailParser stream': (raw) =>
    new Promise<number>((resolve, reject) => {
      const p = new MailParser({ skipTextToHtml: true, skipTextLinks: true, skipImageLinks: true, skipHtmlToText: true });
      let n = 0;
      p.on('headers', (h) => {
        n += h.size;
      });
      p.on('data', (d) => {
        if (d.type === 'text') {
          n += (d.text?.length ?? 0) + (typeof d.html === 'string' ? d.html.length : 0);
        } else {
          const h = createHash('sha256');
          d.content.on('data', (c: Buffer) => h.update(c));
          d.content.on('end', () => {
            n += h.digest('hex').length;
            d.release?.();
          });
        }
      });
      p.on('end', () => resolve(n));
      p.on('error', reject);
      p.end(raw);
    }),
  'postal-mime': async (raw) => {
    const m = await PostalMime.parse(raw, { forceRfc822Attachments: true });
    let n = (m.text?.length ?? 0) + (m.html?.length ?? 0);
    for (const a of m.attachments) n += sha(a.content).length;
    return n;
  },
};

async function measure(name: string, fn: Candidate, corpus: Buffer[]): Promise<{ msgs: number; mb: number }> {
  // Warm-up so the JIT has compiled the hot paths before the clock starts.
  for (let i = 0; i < Math.min(corpus.length, 50); i++) await fn(corpus[i]!);
  let count = 0;
  let bytes = 0;
  const start = performance.now();
  const deadline = start + SECONDS * 1000;
  while (performance.now() < deadline) {
    const raw = corpus[count % corpus.length]!;
    await fn(raw);
    count++;
    bytes += raw.length;
  }
  const secs = (performance.now() - start) / 1000;
  const res = { msgs: count / secs, mb: bytes / secs / 1e6 };
  console.log(`${name.padEnd(34)} ${res.msgs.toFixed(0).padStart(7)} msg/s ${res.mb.toFixed(1).padStart(7)} MB/s`);
  return res;
}

async function measurePool(label: string, corpus: Buffer[], workers: number): Promise<void> {
  const parser = createPostalMimeParser({ workers });
  try {
    await Promise.all(corpus.slice(0, 50).map((m) => parser.parse(m)));
    let done = 0;
    let bytes = 0;
    let failed = 0;
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    const deadline = start + SECONDS * 1000;
    // Keep a bounded number of messages in flight, as the pipeline does.
    const inflight = workers * 4;
    let next = 0;
    await Promise.all(
      Array.from({ length: inflight }, async () => {
        while (performance.now() < deadline) {
          const raw = corpus[next++ % corpus.length]!;
          const out = await parser.parse(raw);
          if (!out.ok) failed++;
          done++;
          bytes += raw.length;
        }
      }),
    );
    const secs = (performance.now() - start) / 1000;
    // CPU of the whole process (main thread, workers, GC threads) per message: steadier than
    // wall-clock rates on a shared machine, and what bounds the rate when the cores are free.
    const cpu = process.cpuUsage(cpu0);
    const cpuSecs = (cpu.user + cpu.system) / 1e6;
    console.log(
      `${label.padEnd(34)} ${(done / secs).toFixed(0).padStart(7)} msg/s ${(bytes / secs / 1e6).toFixed(1).padStart(7)} MB/s  ` +
        `(${workers} workers, ${failed} failed; ${((cpuSecs / done) * 1e6).toFixed(0)} µs CPU/msg, ${(cpuSecs / secs).toFixed(2)} cores busy)`,
    );
  } finally {
    await parser.close();
  }
}

async function main(): Promise<void> {
  const r = seededRandom(42);
  const small = Array.from({ length: 400 }, (_, i) => smallMessage(r, i, 4_000 + Math.floor(r() * 26_000)));
  const tiny = Array.from({ length: 400 }, (_, i) => smallMessage(r, i, 4_000));
  const big = Array.from({ length: 12 }, (_, i) => attachmentMessage(r, i));
  // The "mix" the throughput target names: mostly small mail, every 20th with attachments.
  const mix = small.slice(0, 240).flatMap((m, i) => (i % 20 === 0 ? [m, big[(i / 20) % big.length]!] : [m]));
  const avg = (c: Buffer[]): string => (c.reduce((s, b) => s + b.length, 0) / c.length / 1024).toFixed(1) + ' KB';
  if (WRITE_CORPUS) {
    const b64 = (c: Buffer[]): string[] => c.map((m) => m.toString('base64'));
    writeFileSync(WRITE_CORPUS, JSON.stringify({ tiny: b64(tiny), mix: b64(mix) }));
    return;
  }
  console.log(`node ${process.version}, ${availableParallelism()} CPUs, ${SECONDS}s per measurement`);
  console.log(`corpora: 4KB ${tiny.length} msgs avg ${avg(tiny)}; 4-30KB ${small.length} avg ${avg(small)}; attachments ${big.length} avg ${avg(big)}; mix ${mix.length} avg ${avg(mix)}\n`);

  for (const [label, corpus] of [
    ['small 4 KB text+html', tiny],
    ['small 4-30 KB text+html', small],
    ['200 KB-2 MB base64 attachments', big],
    ['mix (1 in 20 with attachments)', mix],
  ] as const) {
    if (ONLY === 'pool') break;
    console.log(`-- ${label}, one thread`);
    for (const name of Object.keys(candidates)) await measure(name, candidates[name]!, corpus);
    console.log();
  }

  if (ONLY === 'candidates') return;
  console.log('-- adapter as built (worker pool, full attribute mapping incl. SHA-256)');
  await measurePool('pool, small 4 KB', tiny, 1);
  await measurePool('pool, small 4 KB', tiny, WORKERS);
  await measurePool('pool, mix', mix, 1);
  await measurePool('pool, mix', mix, WORKERS);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
