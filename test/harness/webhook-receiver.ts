/**
 * A real HTTP receiver on 127.0.0.1 for the route tests: records every request (headers, raw
 * body, whether its signature verifies) and answers as the test says (status, delay, or
 * dropping the connection). It can also stand down (connection refused) and come back on the
 * same port.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';

/** One request as received. */
export interface ReceivedRequest {
  at: number;
  headers: IncomingMessage['headers'];
  raw: Buffer;
  body: {
    route: string;
    connection: string;
    deliveryId: string;
    message: Record<string, unknown> & { Subject: string; Source: { Uid?: number }; ArchiveId: string; Attachments: Array<Record<string, unknown>> };
  };
  key: string;
  attempt: number;
  /** True when `X-Mailsluice-Signature` is the HMAC of the raw body with the receiver's secret. */
  signatureOk: boolean;
  /** The status answered. */
  status: number;
}

/** What to answer: a status, after an optional delay; 'drop' closes the socket without answering. */
export type Answer = { status: number; delayMs?: number; headers?: Record<string, string> } | 'drop';

/** How the receiver decides; a promise makes it answer once that settles (work before answering). */
export type Decide = (req: ReceivedRequest, index: number) => Answer | Promise<Answer>;

/** A running receiver. */
export interface WebhookReceiver {
  readonly url: string;
  readonly port: number;
  readonly requests: ReceivedRequest[];
  /** Requests answered 2xx. */
  accepted(): ReceivedRequest[];
  /** Changes how it answers from now on. */
  answer(fn: Decide): void;
  /** Stops listening (connection refused) until {@link up}. */
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

function verify(raw: Buffer, header: string | string[] | undefined, secret: string | undefined): boolean {
  if (!secret || typeof header !== 'string' || !header.startsWith('sha256=')) return false;
  const want = createHmac('sha256', secret).update(raw).digest();
  const got = Buffer.from(header.slice(7), 'hex');
  return got.length === want.length && timingSafeEqual(got, want);
}

/** Starts a receiver on a free loopback port (or `port`). */
export async function startWebhookReceiver(options: { secret?: string; port?: number } = {}): Promise<WebhookReceiver> {
  const requests: ReceivedRequest[] = [];
  let decide: Decide = () => ({ status: 200 });
  const sockets = new Set<Socket>();
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const respond = (r: ReceivedRequest, a: Answer): void => {
      if (a === 'drop') {
        r.status = -1;
        req.socket.destroy();
        return;
      }
      r.status = a.status;
      const send = (): void => {
        res.writeHead(a.status, { 'content-type': 'text/plain', ...a.headers });
        res.end(a.status < 300 ? 'ok' : `status ${a.status}`);
      };
      if (a.delayMs) setTimeout(send, a.delayMs);
      else send();
    };
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const r: ReceivedRequest = {
        at: Date.now(),
        headers: req.headers,
        raw,
        body: JSON.parse(raw.toString('utf8')) as ReceivedRequest['body'],
        key: String(req.headers['idempotency-key'] ?? ''),
        attempt: Number(req.headers['x-mailsluice-attempt'] ?? 0),
        signatureOk: verify(raw, req.headers['x-mailsluice-signature'], options.secret),
        status: 0,
      };
      const index = requests.length;
      requests.push(r);
      const decided = decide(r, index);
      // A plain answer goes out in this same turn, as it always did; only a promise waits.
      // A promise that rejects answers 500 (the test's work failed: mailsluice retries).
      if (decided instanceof Promise) decided.then((a) => respond(r, a), () => respond(r, { status: 500 }));
      else respond(r, decided);
    });
  };
  let server: Server | null = null;
  let port = options.port ?? 0;
  const listen = async (): Promise<void> => {
    const s = createServer(handler);
    s.on('connection', (sock: Socket) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    port = (s.address() as AddressInfo).port;
    server = s;
  };
  const stop = async (): Promise<void> => {
    const s = server;
    server = null;
    if (!s) return;
    for (const sock of sockets) sock.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await listen();
  return {
    get url() {
      return `http://127.0.0.1:${port}/hook`;
    },
    get port() {
      return port;
    },
    requests,
    accepted: () => requests.filter((r) => r.status >= 200 && r.status < 300),
    answer(fn) {
      decide = fn;
    },
    down: stop,
    up: listen,
    close: stop,
  };
}

/** Resolves when `cond()` holds, polling; rejects after `ms` with `what`. */
export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
