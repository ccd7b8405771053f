/**
 * The base64 fast path's run extraction: the line-stride check with Node's decoder must cut
 * exactly the runs the character-by-character rule cuts (the reference, the code before it),
 * on clean attachments and on every kind of damage; and Node's decoder must still behave as
 * that check assumes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { extractBase64Runs } from '../../src/adapters/parser-postal-mime/base64-fast-path.js';
import { seededRandom } from '../harness/random.js';
import { referenceExtractBase64Runs } from './base64-fast-path-reference.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

test('Node decodes every character outside A-Z a-z 0-9 + / short, except - and _ (what the fast check relies on)', () => {
  const line = (ALPHABET + ALPHABET).slice(0, 76);
  for (const eol of ['\r\n', '\n']) {
    const clean = (line + eol).repeat(8);
    const full = ((8 * 76) / 4) * 3;
    assert.equal(Buffer.from(clean, 'base64').byteLength, full);
    const takenAsFull = new Set<number>();
    for (let c = 0; c < 256; c++) {
      for (const at of [0, 1, 2, 3, 37, 75, 76 + eol.length, 300, clean.length - eol.length - 1]) {
        const s = clean.slice(0, at) + String.fromCharCode(c) + clean.slice(at + 1);
        if (Buffer.from(s, 'base64').byteLength === full) takenAsFull.add(c);
      }
    }
    const outside = [...takenAsFull].filter((c) => !ALPHABET.includes(String.fromCharCode(c))).sort((a, b) => a - b);
    assert.deepEqual(outside, ['-'.charCodeAt(0), '_'.charCodeAt(0)], `eol ${JSON.stringify(eol)}`);
  }
});

/** A base64 body: `data` encoded and wrapped at `width` characters. */
function wrap(data: Buffer, width: number, eol: string): string {
  const b64 = data.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += width) lines.push(b64.slice(i, i + width));
  return lines.join(eol) + eol;
}

const DAMAGE = ['-', '_', '=', ' ', '\t', '\r', '\n', '!', '.', '\x00', '\xff', '\xe9', '\r\n', '=='];

/** One random message with base64 attachments, some damaged; latin1 throughout. */
function randomMessage(rnd: () => number): Buffer {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const eol = rnd() < 0.7 ? '\r\n' : '\n';
  const bytes = (n: number): Buffer => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256);
    return b;
  };
  const body = (): string => {
    const width = pick([60, 61, 63, 64, 72, 75, 76]);
    const size = 2_000 + Math.floor(rnd() * 60_000);
    let text: string;
    if (rnd() < 0.15) {
      // Lines of one width, then another (a long tail of a different length).
      const cut = Math.floor(size / 2 / 3) * 3;
      text = wrap(bytes(cut), width, eol) + wrap(bytes(size - cut), pick([60, 64, 76]), eol);
    } else text = wrap(bytes(size), width, eol);
    const damages = rnd() < 0.5 ? 0 : 1 + Math.floor(rnd() * 2);
    for (let d = 0; d < damages; d++) {
      const at = Math.floor(rnd() * text.length);
      const what = pick(DAMAGE);
      const r = rnd();
      if (r < 0.4) text = text.slice(0, at) + what + text.slice(at + 1);
      else if (r < 0.8) text = text.slice(0, at) + what + text.slice(at);
      else {
        // A line end lost, or a line one character short.
        const nl = text.indexOf('\n', at);
        if (nl > 0) text = rnd() < 0.5 ? text.slice(0, nl - (eol.length - 1)) + text.slice(nl + 1) : text.slice(0, nl - eol.length) + text.slice(nl - eol.length + 1);
      }
    }
    if (rnd() < 0.2) text += eol; // a blank line before the boundary
    if (rnd() < 0.1) text = text.slice(0, text.length - eol.length); // no line end before the boundary
    return text;
  };
  const head = ['From: a@example.com', 'To: b@example.com', 'Subject: s', 'MIME-Version: 1.0'];
  if (rnd() < 0.15) {
    // A single-part message whose body is the attachment.
    return Buffer.from([...head, `Content-Type: ${pick(['application/pdf', 'image/png', 'text/plain'])}`, 'Content-Transfer-Encoding: base64', '', body()].join(eol), 'latin1');
  }
  const parts: string[] = [[...head, 'Content-Type: multipart/mixed; boundary="b1"', '', 'preamble'].join(eol)];
  parts.push(['--b1', 'Content-Type: text/plain', '', 'hello', ''].join(eol));
  const n = 1 + Math.floor(rnd() * 3);
  for (let i = 0; i < n; i++) {
    const type = pick(['application/pdf', 'application/octet-stream', 'image/jpeg', 'text/plain', 'message/rfc822']);
    const cte = rnd() < 0.9 ? 'Content-Transfer-Encoding: base64' : 'Content-Transfer-Encoding: 7bit';
    parts.push(['--b1', `Content-Type: ${type}; name="f${i}"`, cte, '', body()].join(eol));
  }
  return Buffer.from(parts.join(eol) + eol + '--b1--' + eol, 'latin1');
}

test('the fast check cuts exactly the runs the character-by-character rule cuts (2,000 random messages, clean and damaged)', () => {
  const rnd = seededRandom(0x5eed);
  let withRuns = 0;
  let runs = 0;
  for (let i = 0; i < 2_000; i++) {
    const raw = randomMessage(rnd);
    for (const minBytes of [4_096, 64 * 1024]) {
      const want = referenceExtractBase64Runs(raw, minBytes);
      const got = extractBase64Runs(raw, minBytes);
      const what = `message ${i}, minBytes ${minBytes}`;
      if (!want) {
        assert.equal(got, undefined, what);
        continue;
      }
      assert.ok(got, what);
      assert.equal(got.runs.length, want.runs.length, what);
      got.runs.forEach((r, k) => {
        const w = want.runs[k]!;
        assert.equal(r.token, w.token, `${what}, run ${k}`);
        assert.ok(r.marker.equals(w.marker), `${what}, run ${k}: marker`);
        assert.ok(r.source.equals(w.source), `${what}, run ${k}: source ${r.source.byteLength} vs ${w.source.byteLength} bytes`);
        assert.ok(r.decoded.equals(w.decoded), `${what}, run ${k}: decoded`);
      });
      assert.ok(Buffer.from(got.raw).equals(Buffer.from(want.raw)), `${what}: the message with tokens`);
      withRuns++;
      runs += got.runs.length;
    }
  }
  assert.ok(withRuns > 1_000 && runs > 1_500, `enough runs exercised (${withRuns} messages, ${runs} runs)`);
});

test('a line with - or _ (which Node decodes as base64url) ends the run, as any other character outside the alphabet', () => {
  const data = Buffer.alloc(90_000, 7);
  for (const bad of ['-', '_']) {
    const lines = wrap(data, 76, '\r\n').split('\r\n');
    lines[500] = lines[500]!.slice(0, 30) + bad + lines[500]!.slice(31);
    const raw = Buffer.from(['Content-Type: application/pdf', 'Content-Transfer-Encoding: base64', '', lines.join('\r\n')].join('\r\n'), 'latin1');
    const got = extractBase64Runs(raw, 4_096);
    assert.ok(got);
    assert.equal(got.runs.length, 1);
    assert.equal(got.runs[0]!.source.byteLength, 500 * 78, `the run stops before the line with ${bad}`);
    assert.ok(got.runs[0]!.decoded.equals(data.subarray(0, (500 * 76 * 3) / 4)));
  }
});
