/**
 * Hostile variants of real messages, made from a seeded PRNG (random.ts) so that a run can be
 * replayed from its seed: byte flips, truncations, header lines duplicated or removed, broken
 * MIME boundaries, huge header lines, NUL bytes, wrong or unknown charsets.
 */

/** One kind of damage, applied to a message's bytes. */
type Mutation = (raw: Buffer, rnd: () => number) => Buffer;

const int = (rnd: () => number, n: number): number => Math.floor(rnd() * n);

/** Where the header ends (the first empty line), or the whole message. */
function headerEnd(raw: Buffer): number {
  const i = raw.indexOf('\r\n\r\n');
  return i < 0 ? raw.length : i + 2;
}

/** Header lines (with their CRLF), each a [start, end) pair. */
function headerLines(raw: Buffer): Array<[number, number]> {
  const end = headerEnd(raw);
  const lines: Array<[number, number]> = [];
  let at = 0;
  while (at < end) {
    const nl = raw.indexOf('\r\n', at);
    const stop = nl < 0 || nl + 2 > end ? end : nl + 2;
    lines.push([at, stop]);
    at = stop;
  }
  return lines;
}

const MUTATIONS: Record<string, Mutation> = {
  flipBytes(raw, rnd) {
    const out = Buffer.from(raw);
    for (let k = 1 + int(rnd, 8); k > 0 && out.length > 0; k--) out[int(rnd, out.length)] = int(rnd, 256);
    return out;
  },
  truncate(raw, rnd) {
    return raw.subarray(0, int(rnd, raw.length));
  },
  duplicateHeaderLine(raw, rnd) {
    const lines = headerLines(raw);
    if (lines.length === 0) return raw;
    const [a, b] = lines[int(rnd, lines.length)]!;
    const copies = 1 + int(rnd, 50);
    return Buffer.concat([raw.subarray(0, b), ...Array<Buffer>(copies).fill(raw.subarray(a, b)), raw.subarray(b)]);
  },
  removeHeaderLine(raw, rnd) {
    const lines = headerLines(raw);
    if (lines.length === 0) return raw;
    const [a, b] = lines[int(rnd, lines.length)]!;
    return Buffer.concat([raw.subarray(0, a), raw.subarray(b)]);
  },
  breakBoundary(raw, rnd) {
    const text = raw.toString('latin1');
    const m = /boundary="?([^";\r\n]+)"?/i.exec(text);
    if (!m) return MUTATIONS.truncate!(raw, rnd);
    const boundary = m[1]!;
    // Remove, shorten or rename some of its delimiter lines (the closing one included).
    let seen = 0;
    const out = text.replace(new RegExp(`--${boundary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(--)?`, 'g'), (d) => {
      seen++;
      const r = rnd();
      if (seen === 1 || r < 0.5) return d;
      if (r < 0.7) return '';
      if (r < 0.85) return d.slice(0, Math.max(2, d.length - 3));
      return `--${boundary}X`;
    });
    return Buffer.from(out, 'latin1');
  },
  hugeHeaderLine(raw, rnd) {
    const len = 1000 + int(rnd, 300_000);
    const folded = rnd() < 0.5;
    const value = folded ? Array.from({ length: Math.ceil(len / 70) }, () => 'x'.repeat(70)).join('\r\n ') : 'y'.repeat(len);
    return Buffer.concat([Buffer.from(`X-Huge: ${value}\r\n`, 'latin1'), raw]);
  },
  insertNuls(raw, rnd) {
    const out: Buffer[] = [];
    let at = 0;
    for (let k = 1 + int(rnd, 20); k > 0; k--) {
      const to = Math.min(raw.length, at + int(rnd, Math.max(1, raw.length - at)));
      out.push(raw.subarray(at, to), Buffer.alloc(1 + int(rnd, 3)));
      at = to;
    }
    out.push(raw.subarray(at));
    return Buffer.concat(out);
  },
  wrongCharset(raw, rnd) {
    const charsets = ['utf-7', 'x-unknown-charset', 'iso-2022-jp', 'utf-16', 'gb18030', 'koi8-r', '', 'utf-8"; charset="latin1', 'windows-1252'];
    const text = raw.toString('latin1');
    const pick = (): string => charsets[int(rnd, charsets.length)]!;
    if (!/charset=/i.test(text)) return Buffer.concat([Buffer.from(`Content-Type: text/plain; charset=${pick()}\r\n`, 'latin1'), raw]);
    return Buffer.from(
      text.replace(/charset="?[^";\s]*"?/gi, () => `charset=${pick()}`).replace(/=\?[^?]+\?([BQbq])\?/g, (_m, enc: string) => `=?${pick() || 'x'}?${enc}?`),
      'latin1',
    );
  },
};

/** The kinds of damage, by name. */
export const MUTATION_NAMES = Object.keys(MUTATIONS);

/** A mutated copy of `raw`: one to three kinds of damage; `applied` names them in order. */
export function mutate(raw: Buffer, rnd: () => number): { raw: Buffer; applied: string[] } {
  const applied: string[] = [];
  let out = raw;
  for (let k = 1 + int(rnd, 3); k > 0; k--) {
    const name = MUTATION_NAMES[int(rnd, MUTATION_NAMES.length)]!;
    out = MUTATIONS[name]!(out, rnd);
    applied.push(name);
  }
  return { raw: out, applied };
}
