/**
 * MD4 (RFC 1320) and RC4, in plain TypeScript: NTLM needs both, and Node 20's OpenSSL 3 refuses
 * them (`crypto.createHash('md4')` and `createCipheriv('rc4', …)` throw "unsupported": they live
 * in OpenSSL's legacy provider, which Node does not load). Neither is used for anything but
 * NTLM's fixed constructions (the NT hash of the password; the key-exchange wrap of the session
 * key), on inputs of a few dozen bytes, so speed does not matter and no constant-time claim is made.
 */

const rotl = (v: number, s: number): number => ((v << s) | (v >>> (32 - s))) >>> 0;

/** MD4 of `data` (RFC 1320): 16 bytes. Checked against the RFC's test suite in test/unit. */
export function md4(data: Uint8Array): Buffer {
  const bitLength = data.length * 8;
  // Pad: 0x80, zeros to 56 mod 64, then the bit length as 64-bit little-endian.
  const padded = Buffer.alloc((((data.length + 8) >> 6) + 1) * 64);
  padded.set(data, 0);
  padded[data.length] = 0x80;
  padded.writeUInt32LE(bitLength >>> 0, padded.length - 8);
  padded.writeUInt32LE(Math.floor(bitLength / 0x100000000), padded.length - 4);
  let a0 = 0x67452301, b0 = 0xefcdab89, c0 = 0x98badcfe, d0 = 0x10325476;
  const x = new Array<number>(16);
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) x[i] = padded.readUInt32LE(off + i * 4);
    let a = a0, b = b0, c = c0, d = d0;
    const round = (f: (b: number, c: number, d: number) => number, k: number, s: number, add: number): void => {
      const t = rotl((a + f(b, c, d) + x[k]! + add) >>> 0, s);
      a = d; d = c; c = b; b = t;
    };
    const F = (p: number, q: number, r: number): number => (p & q) | (~p & r);
    const G = (p: number, q: number, r: number): number => (p & q) | (p & r) | (q & r);
    const H = (p: number, q: number, r: number): number => p ^ q ^ r;
    for (let i = 0; i < 16; i++) round(F, i, [3, 7, 11, 19][i % 4]!, 0);
    for (let i = 0; i < 16; i++) round(G, (i % 4) * 4 + (i >> 2), [3, 5, 9, 13][i % 4]!, 0x5a827999);
    const order = [0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15];
    for (let i = 0; i < 16; i++) round(H, order[i]!, [3, 9, 11, 15][i % 4]!, 0x6ed9eba1);
    a0 = (a0 + a) >>> 0; b0 = (b0 + b) >>> 0; c0 = (c0 + c) >>> 0; d0 = (d0 + d) >>> 0;
  }
  const out = Buffer.alloc(16);
  out.writeUInt32LE(a0, 0); out.writeUInt32LE(b0, 4); out.writeUInt32LE(c0, 8); out.writeUInt32LE(d0, 12);
  return out;
}

/** RC4 of `data` under `key` (encryption and decryption are the same operation). */
export function rc4(key: Uint8Array, data: Uint8Array): Buffer {
  const s = new Uint8Array(256);
  for (let i = 0; i < 256; i++) s[i] = i;
  for (let i = 0, j = 0; i < 256; i++) {
    j = (j + s[i]! + key[i % key.length]!) & 0xff;
    const t = s[i]!; s[i] = s[j]!; s[j] = t;
  }
  const out = Buffer.alloc(data.length);
  for (let n = 0, i = 0, j = 0; n < data.length; n++) {
    i = (i + 1) & 0xff;
    j = (j + s[i]!) & 0xff;
    const t = s[i]!; s[i] = s[j]!; s[j] = t;
    out[n] = data[n]! ^ s[(s[i]! + s[j]!) & 0xff]!;
  }
  return out;
}
