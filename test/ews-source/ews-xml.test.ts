/**
 * The EWS source's streaming reader on canned answers written from Microsoft's documents
 * (MS-OXWSGETI GetItem, MS-OXWSCORE ResponseMessages, MS-OXWSNTIF streaming notifications):
 * MimeContent decoded as it streams whatever the chunk boundaries (every split point of a whole
 * answer; base64 quads split at every offset), the tree of the rest, malformed and cut answers
 * refused, and a 100 MB MimeContent decoded with bounded memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Base64Stream, EwsResponseReader, EwsXmlError, child, parseXml, path, type XmlNode } from '../../src/adapters/source-ews/ews-xml.js';
import { responseCode, responseMessages } from '../../src/adapters/source-ews/ews-client.js';
import { EnvelopeSplitter } from '../../src/adapters/source-ews/ews-notify.js';
import { seededRandom } from '../harness/random.js';

const HEADER =
  '<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>' +
  '<h:ServerVersionInfo MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" MinorBuildNumber="6" Version="V2017_07_11" xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types" xmlns="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>' +
  '</s:Header><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">' +
  '<m:GetItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages>';
const FOOTER = '</m:ResponseMessages></m:GetItemResponse></s:Body></s:Envelope>';

function okItem(id: string, mime: Buffer, wrap = 0): string {
  let b64 = mime.toString('base64');
  // Some servers break base64 into lines; the reader must not care.
  if (wrap > 0) b64 = b64.replace(new RegExp(`(.{${wrap}})`, 'g'), '$1\r\n');
  return (
    '<m:GetItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items><t:Message>' +
    `<t:MimeContent CharacterSet="UTF-8">${b64}</t:MimeContent><t:ItemId Id="${id}" ChangeKey="CQAAABYAAAA"/>` +
    '</t:Message></m:Items></m:GetItemResponseMessage>'
  );
}

const NOT_FOUND =
  '<m:GetItemResponseMessage ResponseClass="Error"><m:MessageText>The specified object was not found in the store.</m:MessageText>' +
  '<m:ResponseCode>ErrorItemNotFound</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:Items/></m:GetItemResponseMessage>';

/** Feeds `wire` cut at `cuts`; returns the MIME bytes per response message and the tree. */
function read(wire: Buffer, cuts: number[]): { mime: Map<number, Buffer>; tree: XmlNode } {
  const r = new EwsResponseReader(1 << 20);
  const parts = new Map<number, Buffer[]>();
  let at = 0;
  for (const end of [...cuts, wire.length]) {
    for (const p of r.write(wire.subarray(at, end))) parts.set(p.index, [...(parts.get(p.index) ?? []), p.data]);
    at = end;
  }
  const tree = r.end();
  return { mime: new Map([...parts].map(([k, v]) => [k, Buffer.concat(v)])), tree };
}

test('base64 split at every offset decodes to the same bytes, with whitespace and padding anywhere', () => {
  const rnd = seededRandom(7);
  for (const len of [0, 1, 2, 3, 4, 5, 57, 100]) {
    const bytes = Buffer.from(Array.from({ length: len }, () => Math.floor(rnd() * 256)));
    const text = bytes.toString('base64').replace(/(.{7})/g, '$1\n');
    for (let cut = 0; cut <= text.length; cut++) {
      const d = new Base64Stream();
      const out = Buffer.concat([d.push(text.slice(0, cut)), d.push(text.slice(cut))]);
      d.end();
      assert.deepEqual(out, bytes, `length ${len}, cut at ${cut}`);
    }
    // One character at a time.
    const d = new Base64Stream();
    const out = Buffer.concat([...text].map((ch) => d.push(ch)));
    d.end();
    assert.deepEqual(out, bytes);
  }
});

test('base64 that is not base64, continues after padding, or stops mid-quad is refused', () => {
  assert.throws(() => new Base64Stream().push('QUJD*'), EwsXmlError);
  // Whole quads with something else inside: the decoder's shorter answer gives it away.
  assert.throws(() => new Base64Stream().push('QUJDQU$D'), /not base64/);
  assert.throws(() => new Base64Stream().push('QQ==QUJD'), /after its base64 padding/);
  assert.throws(() => new Base64Stream().push('QQ==QU'), /after its base64 padding/);
  assert.throws(() => {
    const d = new Base64Stream();
    d.push('QQ==');
    d.push('QUJD');
  }, /after its base64 padding/);
  assert.throws(() => {
    const d = new Base64Stream();
    d.push('QUJDR');
    d.end();
  }, /incomplete base64 quad/);
});

test('a GetItem answer cut at every byte gives each item its exact MIME bytes and the same tree', () => {
  const a = Buffer.from('Subject: one\r\n\r\nbody ü\r\n', 'utf8');
  const b = Buffer.from(Array.from({ length: 300 }, (_, i) => i % 256));
  const wire = Buffer.from(HEADER + okItem('AAMkAD=a', a) + NOT_FOUND + okItem('AAMkAD+b', b, 76) + FOOTER, 'utf8');
  const whole = read(wire, []);
  assert.deepEqual(whole.mime.get(0), a);
  assert.equal(whole.mime.get(1), undefined);
  assert.deepEqual(whole.mime.get(2), b);
  const msgs = responseMessages(whole.tree);
  assert.deepEqual(msgs.map((m) => responseCode(m).code), ['NoError', 'ErrorItemNotFound', 'NoError']);
  assert.equal(responseCode(msgs[1]!).text, 'The specified object was not found in the store.');
  assert.equal(path(msgs[2], 'Items', 'Message', 'ItemId')?.attrs.Id, 'AAMkAD+b');
  // The MIME text is not kept in the tree.
  assert.equal(path(msgs[0], 'Items', 'Message', 'MimeContent')?.text, '');
  assert.equal(path(whole.tree, 'Header', 'ServerVersionInfo')?.attrs.MajorBuildNumber, '2507');
  for (let cut = 1; cut < wire.length; cut++) {
    const got = read(wire, [cut]);
    assert.deepEqual(got.mime.get(0), a, `cut at ${cut}`);
    assert.deepEqual(got.mime.get(2), b, `cut at ${cut}`);
    assert.equal(responseMessages(got.tree).length, 3);
  }
  // Three pieces, at random places.
  const rnd = seededRandom(3);
  for (let k = 0; k < 300; k++) {
    const c = [Math.floor(rnd() * wire.length), Math.floor(rnd() * wire.length)].sort((x, y) => x - y);
    assert.deepEqual(read(wire, c).mime.get(2), b);
  }
});

test('a cut or malformed answer, and one with too much besides MIME, is refused', () => {
  const wire = Buffer.from(HEADER + okItem('x', Buffer.from('abc')) + FOOTER, 'utf8');
  assert.throws(() => read(wire.subarray(0, wire.length - 10), []), EwsXmlError);
  assert.throws(() => parseXml('<a><b></a>'), EwsXmlError);
  assert.throws(() => parseXml(`<a>${'x'.repeat(100)}</a>`, 50), /more than 50 characters/);
});

test('a 100 MB MimeContent streams through with bounded memory and decodes exactly', () => {
  const size = 100 * 1024 * 1024;
  const block = 3 * 65536; // whole quads per block, so blocks concatenate as one base64 text
  const src = createHash('sha256');
  const got = createHash('sha256');
  const r = new EwsResponseReader(1 << 20);
  const head = Buffer.from(`${HEADER}<m:GetItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items><t:Message><t:MimeContent CharacterSet="UTF-8">`, 'utf8');
  const tail = Buffer.from(`</t:MimeContent><t:ItemId Id="big" ChangeKey="c"/></t:Message></m:Items></m:GetItemResponseMessage>${FOOTER}`, 'utf8');
  let decoded = 0;
  const feed = (buf: Buffer): void => {
    for (const p of r.write(buf)) {
      got.update(p.data);
      decoded += p.data.length;
    }
  };
  const base = process.memoryUsage();
  let peak = 0;
  feed(head);
  let pending = Buffer.alloc(0);
  for (let sent = 0, i = 0; sent < size; i++) {
    const n = Math.min(block, size - sent);
    const bytes = Buffer.alloc(n, i % 251);
    bytes.writeUInt32LE(i, 0);
    src.update(bytes);
    sent += n;
    // Chunks of an odd length (65 537 bytes), so quads split across chunks all the time.
    pending = Buffer.concat([pending, Buffer.from(bytes.toString('base64'), 'latin1')]);
    while (pending.length >= 65537) {
      feed(pending.subarray(0, 65537));
      pending = pending.subarray(65537);
    }
    if (i % 16 === 0) {
      const m = process.memoryUsage();
      peak = Math.max(peak, m.heapUsed + m.arrayBuffers - base.heapUsed - base.arrayBuffers);
    }
  }
  feed(pending);
  feed(tail);
  const tree = r.end();
  assert.equal(decoded, size);
  assert.equal(got.digest('hex'), src.digest('hex'));
  assert.equal(child(path(responseMessages(tree)[0], 'Items', 'Message'), 'ItemId')?.attrs.Id, 'big');
  // Holding the message (100 MB) or its base64 (133 MB) would be far over this.
  assert.ok(peak < 64 * 1024 * 1024, `memory grew by ${Math.round(peak / 1048576)} MB while decoding`);
});

test('concatenated streaming-notification envelopes split whole at every cut', () => {
  const env = (n: number): string =>
    `<?xml version="1.0" encoding="utf-8"?><soap11:Envelope xmlns:soap11="http://schemas.xmlsoap.org/soap/envelope/"><soap11:Body><m:GetStreamingEventsResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages><m:GetStreamingEventsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:ConnectionStatus>OK</m:ConnectionStatus><m:Notifications><m:Notification><t:SubscriptionId>s${n}</t:SubscriptionId><t:NewMailEvent><t:TimeStamp>2026-12-07T10:00:00Z</t:TimeStamp><t:ItemId Id="i${n}"/><t:ParentFolderId Id="f"/></t:NewMailEvent></m:Notification></m:Notifications></m:GetStreamingEventsResponseMessage></m:ResponseMessages></m:GetStreamingEventsResponse></soap11:Body></soap11:Envelope>`;
  const wire = Buffer.from(env(1) + env(2), 'utf8');
  for (let cut = 0; cut <= wire.length; cut++) {
    const s = new EnvelopeSplitter();
    const envs = [...s.push(wire.subarray(0, cut)), ...s.push(wire.subarray(cut))];
    assert.equal(envs.length, 2, `cut at ${cut}`);
    const ids = envs.map((e) => path(responseMessages(parseXml(e))[0], 'Notifications', 'Notification', 'SubscriptionId')?.text);
    assert.deepEqual(ids, ['s1', 's2']);
  }
});
