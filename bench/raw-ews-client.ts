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
import type { Agent } from 'node:https';
import { fileURLToPath } from 'node:url';
import { httpsCall, rawAgent, rawChildMain, rawDrain, type RawMailboxClient, type RawRunResult } from './raw-lanes.js';

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
export type RawEwsResult = RawRunResult;

const SOAP_HEAD =
  '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><soap:Header><t:RequestServerVersion Version="Exchange2016"/></soap:Header><soap:Body>';
const SOAP_TAIL = '</soap:Body></soap:Envelope>';

class RawEws implements RawMailboxClient {
  private readonly agent: Agent;
  private readonly target: URL;
  private readonly auth: string;

  constructor(input: RawEwsInput) {
    this.agent = rawAgent(input.lanes, input.ca);
    this.target = new URL(`https://${input.url}`);
    this.auth = `Basic ${Buffer.from(`${input.username}:${input.password}`).toString('base64')}`;
  }

  /** POSTs one SOAP body; resolves with the whole answer as latin1 text (base64 and ASCII markup survive it). */
  async call(body: string): Promise<string> {
    const payload = Buffer.from(SOAP_HEAD + body + SOAP_TAIL);
    const res = await httpsCall(this.agent, this.target, 'POST', { 'content-type': 'text/xml; charset=utf-8', 'content-length': payload.length, authorization: this.auth }, payload);
    const text = res.body.toString('latin1');
    if (res.status !== 200 || text.includes('ResponseClass="Error"')) throw new Error(`EWS answered ${res.status}: ${text.slice(0, 500)}`);
    return text;
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
export function rawEwsRun(input: RawEwsInput): Promise<RawEwsResult> {
  return rawDrain(new RawEws(input), input);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) rawChildMain('MAILSLUICE_BENCH_RAW_EWS', rawEwsRun);
