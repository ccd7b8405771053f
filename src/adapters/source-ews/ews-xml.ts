/**
 * Reading EWS answers as they stream in, on `saxes`: a small tree of every element (by local
 * name, namespaces dropped: EWS never reuses a local name across its namespaces in a way the
 * source cares about), except the text of `MimeContent`, which is base64-decoded as it arrives
 * and handed out in pieces, so a 100 MB message is never whole in memory, not even as base64.
 * That text never goes through saxes: once saxes has opened a `MimeContent` element, the bytes up
 * to the next `<` are base64 by the schema (no markup, no entities), and are decoded straight from
 * the socket's chunks; saxes sees the element empty. A character at a time through saxes cost
 * more CPU than the rest of the drain's main thread (profile of a mixed drain, ADR 0046).
 */
import { SaxesParser, type SaxesTagNS } from 'saxes';

/** One element of an answer: local name, attributes by local name, children, text. */
export interface XmlNode {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
  text: string;
}

/** The first child of `n` named `name`. */
export function child(n: XmlNode | undefined, name: string): XmlNode | undefined {
  return n?.children.find((c) => c.name === name);
}

/** Every child of `n` named `name`. */
export function childrenNamed(n: XmlNode | undefined, name: string): XmlNode[] {
  return n ? n.children.filter((c) => c.name === name) : [];
}

/** Follows a path of child names from `n`. */
export function path(n: XmlNode | undefined, ...names: string[]): XmlNode | undefined {
  let at = n;
  for (const name of names) at = child(at, name);
  return at;
}

/** The first element named `name` anywhere under `n` (depth first), `n` included. */
export function findDeep(n: XmlNode | undefined, name: string): XmlNode | undefined {
  if (!n) return undefined;
  if (n.name === name) return n;
  for (const c of n.children) {
    const f = findDeep(c, name);
    if (f) return f;
  }
  return undefined;
}

/** A malformed answer (the caller names the server and the operation). */
export class EwsXmlError extends Error {
  override readonly name = 'EwsXmlError';
}

/**
 * Base64 decoded piece by piece: a quad split between two pieces waits for the rest (the
 * carry), whitespace is dropped, and anything not base64 is refused rather than silently skipped
 * (Node's decoder would skip it and yield different bytes).
 */
export class Base64Stream {
  private carry = '';
  private padded = false;

  /** Decodes what `text` completes; the last 0 to 3 characters wait for the next piece. */
  push(text: string): Buffer {
    return this.pushPlain(text) ?? this.pushChecked(text);
  }

  /**
   * The usual text (base64 without line breaks) checked by the decoder itself: Node's skips what
   * is not base64 and stops at padding, so an answer of the length whole quads give is one that
   * held nothing else. Undefined (nothing consumed) when it is not that: {@link pushChecked} then
   * finds out what. No scan of its own: a regular expression over every character cost a third of
   * the drain's main thread.
   */
  private pushPlain(text: string): Buffer | undefined {
    if (this.padded) return undefined;
    const s = this.carry + text;
    const whole = s.length - (s.length % 4);
    if (whole === 0) return undefined;
    const rest = s.slice(whole);
    // The carry (0 to 3 characters) is kept clean: the next piece's quads start with it.
    if (NOT_BASE64.test(rest) || (rest.length > 0 && s.charCodeAt(whole - 1) === 0x3d)) return undefined;
    const quads = s.slice(0, whole);
    const out = Buffer.from(quads, 'base64');
    const pad = quads.endsWith('==') ? 2 : quads.endsWith('=') ? 1 : 0;
    if (out.length !== (whole / 4) * 3 - pad) return undefined;
    this.carry = rest;
    // Padding ends the data; whatever follows is checked the slow way.
    if (pad > 0) this.padded = true;
    return out;
  }

  /** Any text: whitespace dropped, anything else not base64 refused, padding only at the end. */
  private pushChecked(text: string): Buffer {
    let clean = text;
    if (NOT_BASE64.test(text)) {
      clean = text.replace(/\s+/g, '');
      if (NOT_BASE64.test(clean)) throw new EwsXmlError('MimeContent holds characters that are not base64');
    }
    if (clean.length === 0) return EMPTY;
    if (this.padded && /[^=]/.test(clean)) throw new EwsXmlError('MimeContent continues after its base64 padding');
    let s = this.carry + clean;
    const pad = s.indexOf('=');
    if (pad >= 0) {
      // Padding ends the data: only more = may follow (a quad's padding may be split too).
      if (/[^=]/.test(s.slice(pad))) throw new EwsXmlError('MimeContent continues after its base64 padding');
      this.padded = true;
    }
    const whole = s.length - (s.length % 4);
    this.carry = s.slice(whole);
    s = s.slice(0, whole);
    return s.length ? Buffer.from(s, 'base64') : EMPTY;
  }

  /** The end of the data: a quad left incomplete is an error (the answer was cut). */
  end(): void {
    if (this.carry.length > 0) throw new EwsXmlError(`MimeContent ends with an incomplete base64 quad (${this.carry.length} characters)`);
  }
}

const EMPTY = Buffer.alloc(0);
const NOT_BASE64 = /[^A-Za-z0-9+/=]/;
const LT = 0x3c;
const GT = 0x3e;
const MIME_NAME = Buffer.from('MimeContent');


/** Decoded MIME bytes of the item in the `index`-th response message of the answer. */
export interface MimePiece {
  index: number;
  data: Buffer;
}

/**
 * A streaming reader of one SOAP answer. `write` takes bytes as they come and returns the MIME
 * bytes they completed; `end` returns the tree (where each `MimeContent` has no text). Text other
 * than MimeContent counts against `maxTreeChars`, so a server sending endless properties cannot
 * fill the memory either.
 */
export class EwsResponseReader {
  private readonly parser = new SaxesParser({ xmlns: true, position: false });
  private readonly decoder = new TextDecoder('utf-8');
  private readonly stack: XmlNode[] = [];
  private root: XmlNode | undefined;
  private mime: Base64Stream | undefined;
  /** Ordinal of the current `…ResponseMessage` in `ResponseMessages` (-1 before the first). */
  private index = -1;
  private out: MimePiece[] = [];
  private treeChars = 0;
  private failure: Error | undefined;
  /** The start of a tag the last chunk ended inside of. */
  private held: Buffer = EMPTY;
  /** Whether the next bytes are a MimeContent's text, read past saxes. */
  private raw = false;

  constructor(private readonly maxTreeChars: number) {
    const p = this.parser;
    p.on('opentag', (tag) => this.open(tag as SaxesTagNS));
    p.on('closetag', () => this.close());
    p.on('text', (t) => this.text(t));
    p.on('cdata', (t) => this.text(t));
    p.on('error', (e) => {
      this.failure ??= new EwsXmlError(e.message);
    });
  }

  private open(tag: SaxesTagNS): void {
    const attrs: Record<string, string> = {};
    for (const a of Object.values(tag.attributes)) {
      attrs[a.local] = a.value;
      this.count(a.value.length);
    }
    const node: XmlNode = { name: tag.local, attrs, children: [], text: '' };
    const parent = this.stack[this.stack.length - 1];
    if (parent) {
      parent.children.push(node);
      if (parent.name === 'ResponseMessages') this.index++;
    } else {
      this.root = node;
    }
    this.stack.push(node);
    if (node.name === 'MimeContent') {
      this.mime = new Base64Stream();
      this.raw = true;
    }
  }

  private close(): void {
    const node = this.stack.pop();
    if (node?.name === 'MimeContent' && this.mime) {
      this.mime.end();
      this.mime = undefined;
    }
  }

  private text(t: string): void {
    if (this.mime) {
      const data = this.mime.push(t);
      if (data.length) this.out.push({ index: this.index, data });
      return;
    }
    const node = this.stack[this.stack.length - 1];
    // Whitespace between elements is layout; text of a leaf element is kept.
    if (!node || t.trim() === '') return;
    this.count(t.length);
    node.text += t;
  }

  private count(n: number): void {
    this.treeChars += n;
    if (this.treeChars > this.maxTreeChars) throw new EwsXmlError(`the answer holds more than ${this.maxTreeChars} characters besides MIME content`);
  }

  /** Feeds bytes; returns the MIME bytes they completed, in order. */
  write(chunk: Uint8Array): MimePiece[] {
    this.out = [];
    let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.held.length > 0) {
      buf = Buffer.concat([this.held, buf]);
      this.held = EMPTY;
    }
    let at = 0;
    while (at < buf.length) at = this.raw ? this.base64From(buf, at) : this.markupFrom(buf, at);
    return this.out;
  }

  /** Inside MimeContent: decodes its text up to the next `<` (or the chunk's end); returns where it stopped. */
  private base64From(buf: Buffer, at: number): number {
    const lt = buf.indexOf(LT, at);
    const end = lt === -1 ? buf.length : lt;
    if (end > at) {
      const data = this.mime!.push(buf.toString('latin1', at, end));
      if (data.length) this.out.push({ index: this.index, data });
    }
    if (lt === -1) return buf.length;
    // The end tag goes to saxes, which closes the (to it empty) element.
    this.raw = false;
    return lt;
  }

  /**
   * Outside MimeContent: feeds saxes up to and including the end of the next tag that may open a
   * MimeContent, so that its text is read by {@link base64From}; a tag still open at the chunk's
   * end is held for the next chunk (its bytes count against `maxTreeChars`).
   */
  private markupFrom(buf: Buffer, at: number): number {
    const name = buf.indexOf(MIME_NAME, at);
    if (name !== -1) {
      const gt = buf.indexOf(GT, name);
      if (gt !== -1) {
        this.feed(buf, at, gt + 1);
        return gt + 1;
      }
    }
    // No MimeContent tag complete in this chunk: hold back a tag it ends inside of.
    const lt = buf.lastIndexOf(LT);
    const open = lt >= at && buf.indexOf(GT, lt) === -1 ? lt : buf.length;
    this.feed(buf, at, open);
    if (open < buf.length) {
      if (buf.length - open > this.maxTreeChars) throw new EwsXmlError(`the answer holds a tag longer than ${this.maxTreeChars} characters`);
      this.held = Buffer.from(buf.subarray(open));
    }
    return buf.length;
  }

  /** Writes `buf[from, to)` to saxes. */
  private feed(buf: Buffer, from: number, to: number): void {
    if (to <= from) return;
    this.parser.write(this.decoder.decode(buf.subarray(from, to), { stream: true }));
    if (this.failure) throw this.failure;
  }

  /** Ends the answer; returns its tree. Throws when it is cut or not XML. */
  end(): XmlNode {
    if (this.held.length > 0) this.parser.write(this.decoder.decode(this.held, { stream: true }));
    this.held = EMPTY;
    this.parser.write(this.decoder.decode());
    this.parser.close();
    if (this.failure) throw this.failure;
    if (!this.root || this.stack.length > 0) throw new EwsXmlError('the answer ends before its XML does');
    return this.root;
  }
}

/** Parses a whole (small) answer. */
export function parseXml(body: Uint8Array | string, maxTreeChars = Number.MAX_SAFE_INTEGER): XmlNode {
  const r = new EwsResponseReader(maxTreeChars);
  r.write(typeof body === 'string' ? Buffer.from(body, 'utf8') : body);
  return r.end();
}
