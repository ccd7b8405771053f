/**
 * The benchmark's raw Microsoft Graph client: the least a Graph client can do to empty a folder,
 * to measure what the server (here the test harness's Graph simulator) can give, as
 * `raw-ews-client.ts` does for EWS. One client-credentials token, the folder's ids listed in pages
 * of 1,000 (`$select=id`, oldest first), each message's `/$value` read whole, and per batch of 20
 * one `$batch` of `permanentDelete`s; `lanes` batches in flight on as many kept-alive sockets. No
 * checks beyond what counting needs. Never used by mailsluice itself.
 *
 * Run as a child: `node raw-graph-client.js` with MAILSLUICE_BENCH_RAW_GRAPH = JSON of
 * {@link RawGraphInput}; prints one JSON line of {@link RawRunResult}.
 */
import type { Agent } from 'node:https';
import { fileURLToPath } from 'node:url';
import { httpsCall, rawAgent, rawChildMain, rawDrain, type RawMailboxClient, type RawRunResult } from './raw-lanes.js';

/** What the child is asked to do. */
export interface RawGraphInput {
  /** `https://host:port`: the authority and Graph's host. */
  url: string;
  tenant: string;
  clientId: string;
  clientSecret: string;
  mailbox: string;
  /** PEM of the server's certificate. */
  ca: string;
  mode: 'fetch' | 'drain';
  /** Messages per `$batch` of deletes (Graph's limit is 20). */
  batch: number;
  /** Batches in flight at once. */
  lanes: number;
}

class RawGraph implements RawMailboxClient {
  private readonly agent: Agent;
  private auth = '';

  constructor(private readonly input: RawGraphInput) {
    this.agent = rawAgent(input.lanes, input.ca);
  }

  private async call(method: string, url: string, headers: Record<string, string | number>, body?: Buffer): Promise<Buffer> {
    const res = await httpsCall(this.agent, new URL(url), method, { ...headers, ...(this.auth ? { authorization: this.auth } : {}), ...(body ? { 'content-length': body.length } : {}) }, body);
    if (res.status !== 200) throw new Error(`Graph answered ${res.status} to ${method} ${url}: ${res.body.toString('utf8', 0, 500)}`);
    return res.body;
  }

  /** The app-only token, by client secret. */
  async start(): Promise<void> {
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: this.input.clientId, client_secret: this.input.clientSecret, scope: 'https://graph.microsoft.com/.default' });
    const body = await this.call('POST', `${this.input.url}/${this.input.tenant}/oauth2/v2.0/token`, { 'content-type': 'application/x-www-form-urlencoded' }, Buffer.from(form.toString()));
    this.auth = `Bearer ${(JSON.parse(body.toString('utf8')) as { access_token: string }).access_token}`;
  }

  /** Every message id of the inbox, oldest first, following `@odata.nextLink`. */
  async listAll(): Promise<string[]> {
    const ids: string[] = [];
    let url: string | undefined = `${this.input.url}/v1.0/users/${encodeURIComponent(this.input.mailbox)}/mailFolders/inbox/messages?$select=id&$orderby=receivedDateTime&$top=1000`;
    while (url) {
      const page = JSON.parse((await this.call('GET', url, {})).toString('utf8')) as { value: Array<{ id: string }>; '@odata.nextLink'?: string };
      for (const m of page.value) ids.push(m.id);
      url = page['@odata.nextLink'];
    }
    return ids;
  }

  /** Each message's MIME, one `/$value` after the other, read whole. */
  async fetch(ids: string[]): Promise<{ messages: number; bytes: number }> {
    let bytes = 0;
    for (const id of ids) bytes += (await this.call('GET', `${this.input.url}/v1.0/users/${encodeURIComponent(this.input.mailbox)}/messages/${encodeURIComponent(id)}/$value`, {})).length;
    return { messages: ids.length, bytes };
  }

  async remove(ids: string[]): Promise<void> {
    const requests = ids.map((id, i) => ({ id: String(i), method: 'POST', url: `/users/${encodeURIComponent(this.input.mailbox)}/messages/${encodeURIComponent(id)}/permanentDelete` }));
    const body = await this.call('POST', `${this.input.url}/v1.0/$batch`, { 'content-type': 'application/json' }, Buffer.from(JSON.stringify({ requests })));
    const failed = (JSON.parse(body.toString('utf8')) as { responses: Array<{ status: number }> }).responses.filter((r) => r.status !== 204);
    if (failed.length > 0) throw new Error(`$batch permanentDelete: ${failed.length} of ${ids.length} answered ${failed[0]!.status}`);
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Empties (drain) or reads (fetch) the inbox as fast as `lanes` batches in flight allow; the token is part of the time. */
export function rawGraphRun(input: RawGraphInput): Promise<RawRunResult> {
  return rawDrain(new RawGraph(input), input);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) rawChildMain('MAILSLUICE_BENCH_RAW_GRAPH', rawGraphRun);
