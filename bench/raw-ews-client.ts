/**
 * The benchmark's raw EWS client: the least an EWS client can do to empty a folder, to measure
 * what the server (here the test harness's EWS simulator) can give, as `raw-imap-client.ts` does
 * for Dovecot. FindItem pages of ids, GetItem batches with MimeContent, DeleteItem HardDelete;
 * `lanes` requests in flight on as many kept-alive sockets; answers read whole and scanned with
 * indexOf, no XML parser, no checks beyond what counting needs. Basic authentication (one header,
 * no handshake). Never used by mailsluice itself.
 *
 * Run as a child: `node raw-ews-client.js` with MAILSLUICE_BENCH_RAW_EWS = JSON of
 * {@link RawEwsInput}; prints one JSON line of {@link RawEwsResult}.
 */
import { Agent, request } from 'node:https';
import { fileURLToPath } from 'node:url';

/** What the child is asked to do. */
export interface RawEwsInput {
  /** `host:port/path`, as `ews.url`. */
  url: string;
  username: string;
  password: string;
  /** PEM of the server's certificate. */
  ca: string;
  mode: 'fetch' | 'drain';
  /** Items per GetItem (and DeleteItem). */
  batch: number;
  /** Requests in flight at once. */
  lanes: number;
}

/** What it did. */
export interface RawEwsResult {
  messages: number;
  bytes: number;
  /** From the first request to the last answer. */
  totalMs: number;
}

const SOAP_HEAD =
  '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><soap:Header><t:RequestServerVersion Version="Exchange2016"/></soap:Header><soap:Body>';
const SOAP_TAIL = '</soap:Body></soap:Envelope>';

class RawEws {
  private readonly agent: Agent;
  private readonly target: URL;
  private readonly auth: string;

  constructor(input: RawEwsInput) {
    this.agent = new Agent({ keepAlive: true, maxSockets: input.lanes, ca: input.ca });
    this.target = new URL(`https://${input.url}`);
    this.auth = `Basic ${Buffer.from(`${input.username}:${input.password}`).toString('base64')}`;
  }

  /** POSTs one SOAP body; resolves with the whole answer as latin1 text (base64 and ASCII markup survive it). */
  call(body: string): Promise<string> {
    const payload = Buffer.from(SOAP_HEAD + body + SOAP_TAIL);
    return new Promise((resolve, reject) => {
      const req = request(
        { agent: this.agent, hostname: this.target.hostname, port: this.target.port, path: this.target.pathname, method: 'POST', headers: { 'content-type': 'text/xml; charset=utf-8', 'content-length': payload.length, authorization: this.auth } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('latin1');
            if (res.statusCode !== 200 || text.includes('ResponseClass="Error"')) reject(new Error(`EWS answered ${res.statusCode}: ${text.slice(0, 500)}`));
            else resolve(text);
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** Every item id of the inbox, oldest first, in pages of 1,000. */
  async listAll(): Promise<string[]> {
    const ids: string[] = [];
    for (;;) {
      const text = await this.call(
        `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:IndexedPageItemView MaxEntriesReturned="1000" Offset="${ids.length}" BasePoint="Beginning"/><m:SortOrder><t:FieldOrder Order="Ascending"><t:FieldURI FieldURI="item:DateTimeReceived"/></t:FieldOrder></m:SortOrder><m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`,
      );
      const before = ids.length;
      for (const m of text.matchAll(/<(?:\w+:)?ItemId Id="([^"]+)"/g)) ids.push(m[1]!);
      if (/IncludesLastItemInRange="true"/.test(text) || ids.length === before) return ids;
    }
  }

  /** Fetches `ids` with their MIME content; answers the messages and their decoded bytes. */
  async fetch(ids: string[]): Promise<{ messages: number; bytes: number }> {
    const text = await this.call(`<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:IncludeMimeContent>true</t:IncludeMimeContent></m:ItemShape><m:ItemIds>${ids.map((id) => `<t:ItemId Id="${id}"/>`).join('')}</m:ItemIds></m:GetItem>`);
    let messages = 0;
    let bytes = 0;
    for (let at = text.indexOf('MimeContent'); at !== -1; ) {
      const start = text.indexOf('>', at) + 1;
      const end = text.indexOf('<', start);
      bytes += Buffer.byteLength(text.slice(start, end), 'base64');
      messages++;
      // Past this element's closing tag.
      at = text.indexOf('MimeContent', text.indexOf('>', end) + 1);
    }
    return { messages, bytes };
  }

  async remove(ids: string[]): Promise<void> {
    await this.call(`<m:DeleteItem DeleteType="HardDelete"><m:ItemIds>${ids.map((id) => `<t:ItemId Id="${id}"/>`).join('')}</m:ItemIds></m:DeleteItem>`);
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Empties (drain) or reads (fetch) the inbox as fast as `lanes` requests in flight allow. */
export async function rawEwsRun(input: RawEwsInput): Promise<RawEwsResult> {
  const c = new RawEws(input);
  try {
    const t0 = performance.now();
    const ids = await c.listAll();
    const batches: string[][] = [];
    for (let i = 0; i < ids.length; i += input.batch) batches.push(ids.slice(i, i + input.batch));
    let next = 0;
    let messages = 0;
    let bytes = 0;
    const lane = async (): Promise<void> => {
      while (next < batches.length) {
        const b = batches[next++]!;
        const r = await c.fetch(b);
        messages += r.messages;
        bytes += r.bytes;
        if (input.mode === 'drain') await c.remove(b);
      }
    };
    await Promise.all(Array.from({ length: input.lanes }, lane));
    return { messages, bytes, totalMs: performance.now() - t0 };
  } finally {
    c.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const input = JSON.parse(process.env.MAILSLUICE_BENCH_RAW_EWS ?? '{}') as RawEwsInput;
  rawEwsRun(input).then(
    (r) => process.stdout.write(JSON.stringify(r) + '\n'),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
