/**
 * The RETR body decoder on its own: dot-unstuffing and the end line, whatever the chunk
 * boundaries (down to one byte per chunk), with 8-bit bytes, and zero-copy for bodies without
 * dot lines. A real server chunks as TCP pleases, so every split point has to be right.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DotDecoder } from '../../src/adapters/source-pop3/pop3-wire.js';
import { seededRandom } from '../harness/random.js';

/** What a POP3 server sends for `body`: lines starting with "." get one more, then ".\r\n". */
function stuff(body: Buffer): Buffer {
  const s = body.toString('latin1');
  const stuffed = (s.startsWith('.') ? '.' : '') + s.replace(/\n\./g, '\n..');
  const sep = s === '' || s.endsWith('\r\n') ? '' : '\r\n';
  return Buffer.from(`${stuffed}${sep}.\r\n`, 'latin1');
}

/** Feeds `wire` to a decoder in the given pieces; returns the body and what followed the end. */
function decode(wire: Buffer, cuts: number[]): { body: Buffer; rest: Buffer | null; feeds: number } {
  const d = new DotDecoder();
  const parts: Buffer[] = [];
  let rest: Buffer | null = null;
  let at = 0;
  let feeds = 0;
  for (const end of [...cuts, wire.length]) {
    if (end < at) continue;
    feeds++;
    rest = d.feed(wire.subarray(at, end), (p) => parts.push(Buffer.from(p)));
    at = end;
    if (rest !== null) {
      rest = Buffer.concat([rest, wire.subarray(at)]);
      break;
    }
  }
  return { body: Buffer.concat(parts), rest, feeds };
}

const TRICKY = [
  '',
  '.\r\n',
  '..\r\n',
  'a\r\n.\r\n',
  'a\r\n..\r\nb\r\n',
  '.start\r\n..two\r\n...three\r\n.\r\nend\r\n',
  'no final break',
  'x\r\n.',
  'x\r\n.\r',
  'bare\rcr\r\n.\rnot an end\r\n',
  'lf only\n.\nstill body\n',
  '\r\n\r\n.\r\n\r\n',
];

test('every tricky body survives every split into two and three pieces', () => {
  for (const text of TRICKY) {
    const body = Buffer.from(text, 'latin1');
    const wire = stuff(body);
    const expected = text === '' || text.endsWith('\r\n') ? body : Buffer.concat([body, Buffer.from('\r\n')]);
    for (let i = 0; i <= wire.length; i++) {
      for (let j = i; j <= wire.length; j++) {
        const r = decode(wire, [i, j]);
        assert.deepEqual(r.body, expected, `${JSON.stringify(text)} split at ${i},${j}`);
        assert.deepEqual(r.rest, Buffer.alloc(0), `${JSON.stringify(text)}: nothing after the end line`);
      }
    }
  }
});

test('random bodies with dot lines and 8-bit bytes decode exactly, in random and in one-byte pieces', () => {
  const next = seededRandom(1939);
  const rnd = { int: (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1)) };
  for (let n = 0; n < 300; n++) {
    const lines: string[] = [];
    const count = rnd.int(0, 40);
    for (let i = 0; i < count; i++) {
      const kind = rnd.int(0, 5);
      const len = rnd.int(0, 30);
      let line = '';
      for (let k = 0; k < len; k++) line += String.fromCharCode(rnd.int(0, 3) === 0 ? rnd.int(0x80, 0xff) : rnd.int(0x20, 0x7e));
      lines.push(kind === 0 ? '.' : kind === 1 ? `.${line}` : kind === 2 ? `..${line}` : line);
    }
    const body = Buffer.from(lines.map((l) => `${l}\r\n`).join(''), 'latin1');
    const wire = Buffer.concat([stuff(body), Buffer.from('+OK next\r\n')]);
    const cuts: number[] = [];
    for (let at = 0; at < wire.length; at += rnd.int(1, 20)) cuts.push(at);
    const r = decode(wire, cuts);
    assert.deepEqual(r.body, body, `random body ${n}`);
    assert.equal(r.rest?.toString('latin1'), '+OK next\r\n', 'bytes after the end line are handed back');
    const bytewise = decode(wire, Array.from({ length: wire.length }, (_, i) => i));
    assert.deepEqual(bytewise.body, body, `random body ${n}, one byte at a time`);
  }
});

test('a body without dot lines is passed through as slices of the input, not copies', () => {
  const body = Buffer.from('Subject: x\r\n\r\n' + 'line of text\r\n'.repeat(5000), 'latin1');
  const chunk = Buffer.concat([body, Buffer.from('.\r\n')]);
  const d = new DotDecoder();
  const parts: Buffer[] = [];
  const rest = d.feed(chunk, (p) => parts.push(p));
  assert.deepEqual(rest, Buffer.alloc(0));
  assert.equal(parts.length, 1);
  assert.equal(parts[0]!.buffer, chunk.buffer, 'the part shares the input memory');
  assert.equal(parts[0]!.length, body.length);
});

test('the decoder keeps waiting while no end line has come', () => {
  const d = new DotDecoder();
  const parts: Buffer[] = [];
  assert.equal(d.feed(Buffer.from('a\r\n..\r\n.'), (p) => parts.push(Buffer.from(p))), null);
  assert.equal(d.feed(Buffer.from('x\r\n'), (p) => parts.push(Buffer.from(p))), null, '".x" at a line start is a stuffed line, not the end');
  assert.deepEqual(d.feed(Buffer.from('.\r\nAFTER'), (p) => parts.push(Buffer.from(p))), Buffer.from('AFTER'));
  assert.equal(Buffer.concat(parts).toString('latin1'), 'a\r\n.\r\nx\r\n');
});
