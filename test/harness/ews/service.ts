/**
 * The SOAP side of the EWS simulator: one request body in, Exchange's answer out. It records
 * the request, validates it against the schemas (a sample, see `validateFirst`), refuses what
 * Exchange refuses before an operation runs (ErrorSchemaValidation, ErrorInvalidServerVersion,
 * injected ErrorServerBusy), and dispatches to the operations; injected response cuts happen here.
 */
import type { ServerResponse } from 'node:http';
import { DIRECTORY_OPERATIONS } from './directory.js';
import { Mailbox } from './mailbox.js';
import { MAILBOX_OPERATIONS, SyncStates, err, expectedMessages, type OpContext, type Operation } from './operations.js';
import { EwsSchemaValidator } from './schema.js';
import { ERROR_TEXT, envelope, errorMessage, fault, responseBody, type ServerVersion } from './soap.js';
import { Subscriptions } from './subscriptions.js';
import { child, NS, parseXml, type XmlElement } from './xml.js';

/** One served operation: `ms` is when it arrived (epoch milliseconds). */
export interface EwsRequestRecord { operation: string; user: string; ms: number; requestVersion?: string }

/** What the service is set up with (from the simulator's options). */
export interface ServiceOptions {
  version: ServerVersion;
  addresses: string[];
  refuseVersions: string[];
  validate: boolean;
  validateFirst: number;
  keepAliveMs: number;
  connectionTimeoutMs: number | undefined;
  trace: ((event: 'http' | 'request' | 'response', text: string) => void) | undefined;
}

/** Faults queued by the tests, each consumed as it fires. */
export interface Faults {
  busy: Array<{ backOffMs: number; asFault: boolean }>;
  http: Array<{ status: number; retryAfterS: number | undefined }>;
  cuts: Array<{ operation: string; afterBytes: number }>;
}

/** The simulator's EWS endpoint behind authentication. */
export class EwsService {
  readonly mailbox = new Mailbox();
  readonly ctx: OpContext;
  readonly subs: Subscriptions;
  readonly validator: EwsSchemaValidator | undefined;
  readonly validationErrors: string[] = [];
  readonly requests: EwsRequestRecord[] = [];
  readonly faults: Faults = { busy: [], http: [], cuts: [] };
  private readonly validated = new Map<string, number>();
  private readonly operations: Record<string, Operation>;

  constructor(private readonly opts: ServiceOptions) {
    this.ctx = { mailbox: this.mailbox, addresses: opts.addresses, syncStates: new SyncStates() };
    this.subs = new Subscriptions(this.mailbox, { version: () => opts.version, keepAliveMs: opts.keepAliveMs, connectionTimeoutMs: opts.connectionTimeoutMs });
    this.validator = opts.validate ? EwsSchemaValidator.load() : undefined;
    this.operations = {
      ...MAILBOX_OPERATIONS,
      ...DIRECTORY_OPERATIONS,
      Subscribe: (r, c) => this.subs.subscribe(r, c),
      Unsubscribe: (r) => this.subs.unsubscribe(r),
      GetEvents: (r) => this.subs.getEvents(r),
    };
  }

  /** Whether this envelope is in the validated sample (the first `validateFirst` of its kind). */
  private sample(key: string): boolean {
    const n = this.validated.get(key) ?? 0;
    this.validated.set(key, n + 1);
    return this.validator !== undefined && n < this.opts.validateFirst;
  }

  private checkResponse(body: string, operation: string): void {
    if (this.sample(`${operation} response`)) void this.validator!.check(body, 'response', operation, this.validationErrors);
  }

  private send(res: ServerResponse, status: number, body: string, operation: string): void {
    this.opts.trace?.('response', body);
    if (body.includes('\u0001')) {
      void this.sendStreamed(res, status, body, operation);
      return;
    }
    const bytes = Buffer.from(body, 'utf8');
    res.writeHead(status, { 'Content-Type': 'text/xml; charset=utf-8', 'Content-Length': bytes.length });
    const cut = this.faults.cuts.findIndex((c) => c.operation === operation);
    if (cut >= 0) {
      const { afterBytes } = this.faults.cuts.splice(cut, 1)[0]!;
      res.write(bytes.subarray(0, afterBytes), () => res.socket?.destroy());
      return;
    }
    res.end(bytes);
    this.checkResponse(body, operation);
  }

  /**
   * An answer with large MimeContent (`items.ts`'s markers): its text and each item's base64
   * written in slices (a multiple of 3 bytes of the message each, so the pieces join into one
   * base64 text), waiting for the socket to drain between them; Content-Length as the whole would
   * have. Not schema-validated (xmllint would need it whole); an injected cut applies as usual.
   */
  private async sendStreamed(res: ServerResponse, status: number, body: string, operation: string): Promise<void> {
    const pieces = body.split(/\u0001([^\u0001]*)\u0001/).map((p, i) => (i % 2 === 0 ? Buffer.from(p, 'utf8') : (this.mailbox.item(p)?.raw ?? Buffer.alloc(0))));
    const length = pieces.reduce((n, p, i) => n + (i % 2 === 0 ? p.length : 4 * Math.ceil(p.length / 3)), 0);
    res.writeHead(status, { 'Content-Type': 'text/xml; charset=utf-8', 'Content-Length': length });
    const cut = this.faults.cuts.findIndex((c) => c.operation === operation);
    let budget = cut >= 0 ? this.faults.cuts.splice(cut, 1)[0]!.afterBytes : Infinity;
    const SLICE = 3 * 256 * 1024;
    const write = async (b: Buffer): Promise<boolean> => {
      const part = b.length > budget ? b.subarray(0, budget) : b;
      budget -= part.length;
      if (part.length > 0 && !res.write(part)) await new Promise<void>((r) => { res.once('drain', r); res.once('close', r); });
      if (budget <= 0) {
        res.socket?.destroy();
        return false;
      }
      return !res.destroyed;
    };
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i]!;
      if (i % 2 === 0) {
        if (!(await write(p))) return;
        continue;
      }
      for (let at = 0; at < p.length; at += SLICE) if (!(await write(Buffer.from(p.subarray(at, at + SLICE).toString('base64'), 'latin1')))) return;
    }
    res.end();
  }

  /** Answers one SOAP request of `user`. */
  async handle(res: ServerResponse, user: string, body: Buffer): Promise<void> {
    const arrived = Date.now();
    const text = body.toString('utf8');
    this.opts.trace?.('request', text);
    let doc: XmlElement;
    try {
      doc = parseXml(text);
    } catch (e) {
      this.send(res, 500, fault(this.opts.version, 'ErrorSchemaValidation', `The request is not well-formed XML: ${(e as Error).message}`), 'unknown');
      return;
    }
    const op = child(doc, 'Body', NS.soap)?.children[0];
    const operation = op?.name ?? 'unknown';
    const requestVersion = child(child(doc, 'Header', NS.soap), 'RequestServerVersion', NS.t)?.attrs['Version'];
    this.requests.push({ operation, user, ms: arrived, ...(requestVersion ? { requestVersion } : {}) });
    const refusal = await this.refusal(text, operation, op, requestVersion);
    if (refusal) this.send(res, refusal.status, refusal.body, operation);
    else this.dispatch(res, op!, operation);
  }

  /** What Exchange answers before running the operation, if anything. */
  private async refusal(text: string, operation: string, op: XmlElement | undefined, requestVersion: string | undefined): Promise<{ status: number; body: string } | undefined> {
    const v = this.opts.version;
    if (this.sample(`${operation} request`)) {
      const problems = await this.validator!.check(text, 'request', operation, this.validationErrors);
      if (problems.length > 0) return { status: 500, body: fault(v, 'ErrorSchemaValidation', `The request failed schema validation: ${problems[0]}`) };
    }
    if (!op || op.ns !== NS.m) return { status: 500, body: fault(v, 'ErrorInvalidRequest', 'The request has no EWS operation in its SOAP body.') };
    if (requestVersion && this.opts.refuseVersions.includes(requestVersion)) {
      return { status: 500, body: fault(v, 'ErrorInvalidServerVersion', ERROR_TEXT['ErrorInvalidServerVersion']!) };
    }
    const busy = this.faults.busy.shift();
    if (!busy) return undefined;
    const messageXml = `<t:Value Name="BackOffMilliseconds">${busy.backOffMs}</t:Value>`;
    if (busy.asFault) return { status: 500, body: fault(v, 'ErrorServerBusy', ERROR_TEXT['ErrorServerBusy']!, messageXml) };
    const msg = errorMessage(`${operation}ResponseMessage`, 'ErrorServerBusy', ERROR_TEXT['ErrorServerBusy']!, { messageXml });
    return { status: 200, body: envelope(v, responseBody(operation, Array(expectedMessages(op)).fill(msg))) };
  }

  private dispatch(res: ServerResponse, op: XmlElement, operation: string): void {
    if (operation === 'GetStreamingEvents') {
      this.subs.stream(op, res, (env) => {
        this.opts.trace?.('response', env);
        this.checkResponse(env, operation);
      });
      return;
    }
    const handler = this.operations[operation];
    const messages = handler ? handler(op, this.ctx) : [err(operation, 'ErrorInvalidOperation')];
    this.send(res, 200, envelope(this.opts.version, responseBody(operation, messages)), operation);
  }

  /** Ends the streams and waits for the background schema checks. */
  async close(): Promise<void> {
    this.subs.closeAll();
    await this.validator?.idle();
  }
}
