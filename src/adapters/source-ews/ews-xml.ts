/**
 * Reading EWS answers as they stream in, on `saxes`: a small tree of every element (by local
 * name, namespaces dropped: EWS never reuses a local name across its namespaces in a way the
 * source cares about), except the text of `MimeContent`, which is base64-decoded as it arrives
 * and handed out in pieces, so a 100 MB message is never whole in memory, not even as base64.
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
    const clean = /\s/.test(text) ? text.replace(/\s+/g, '') : text;
    if (clean.length === 0) return EMPTY;
    if (/[^A-Za-z0-9+/=]/.test(clean)) throw new EwsXmlError('MimeContent holds characters that are not base64');
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

/** Decoded MIME bytes of the item in the `index`-th response message of the answer. */
export interface MimePiece {
  index: number;
  data: Buffer;
}

/** saxes keeps the text of an open element in this field until the next markup. */
interface SaxesTextField {
  text: string;
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

  constructor(private readonly maxTreeChars: number) {
    const p = this.parser;
    if (typeof (p as unknown as SaxesTextField).text !== 'string') throw new Error('saxes has no text buffer field: the MimeContent streaming needs saxes 6');
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
    if (node.name === 'MimeContent') this.mime = new Base64Stream();
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
    this.parser.write(this.decoder.decode(chunk, { stream: true }));
    if (this.failure) throw this.failure;
    if (this.mime) {
      // saxes holds the text of an element until its end tag; take it now, so MimeContent
      // never accumulates (its text has no markup or entities: base64 only).
      const field = this.parser as unknown as SaxesTextField;
      const pending = field.text;
      field.text = '';
      if (pending) this.text(pending);
    }
    return this.out;
  }

  /** Ends the answer; returns its tree. Throws when it is cut or not XML. */
  end(): XmlNode {
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
