/**
 * A small loopback TCP proxy for the IMAP settings tests: it sits between mailsluice and a test
 * Dovecot, records what the client sends, and can misbehave on purpose.
 *
 * - Every client→server line is recorded (latin1, CRLF stripped) until the client starts TLS;
 *   a connection whose client bytes begin a TLS record (0x16) is marked `tls`, so a test can
 *   prove that a session was, or was not, encrypted, and which IMAP commands were sent.
 * - `dropServerLine` removes chosen server→client lines (e.g. untagged `* N EXISTS` while the
 *   client IDLEs), imitating a server that silently stops notifying.
 * - `rewriteServerLine` changes server→client lines, e.g. {@link stripStarttls} removes STARTTLS
 *   (IMAP) and STLS (POP3) from the capabilities, as a downgrading man in the middle does.
 * - `stall` lets at most `afterBytes` more server→client bytes through once the client sent a
 *   matching line, then forwards nothing more while keeping the socket open: a server that hangs
 *   mid-FETCH, for the no-data timeout; with `halfClose` it then sends FIN (ends its side) and
 *   forwards nothing more, reading on: a peer that half-closed.
 * - `resetEvery` resets a connection (TCP RST) once it forwarded about that many server→client
 *   bytes: a link that breaks every few hundred KB.
 *
 * Only plaintext sessions can be inspected or filtered; a TLS session is passed through as bytes.
 * Also here: {@link startSilentServer}, a listener that accepts and never speaks (connect timeout).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';

/** One proxied client connection. */
export interface ProxyConnection {
  /** 1-based, in accept order. */
  readonly id: number;
  /** Client→server lines sent in plaintext, CRLF stripped. */
  readonly clientLines: string[];
  /** True once the client started a TLS handshake (implicit TLS or after STARTTLS). */
  tls: boolean;
  /** Server→client lines removed by `dropServerLine`. */
  readonly dropped: string[];
  /** Server→client bytes forwarded. */
  serverBytes: number;
  /** True once the proxy started holding back server data (`stall`). */
  stalled: boolean;
  /** True once the proxy reset the connection (`resetEvery`). */
  reset: boolean;
  /** True once both sides are closed. */
  closed: boolean;
}

/** Options of {@link startImapProxy}. */
export interface ImapProxyOptions {
  targetHost?: string;
  targetPort: number;
  /** Return true to drop this server→client line (given without CRLF; plaintext sessions only). */
  dropServerLine?: (line: string, conn: ProxyConnection) => boolean;
  /** Rewrite a server→client line (without CRLF; plaintext sessions only), e.g. {@link stripStarttls}. */
  rewriteServerLine?: (line: string, conn: ProxyConnection) => string;
  /** Hang a connection mid-response; see the module comment. */
  stall?: {
    /** A client line that arms the stall, e.g. `/UID FETCH .*BODY\.PEEK\[\]/` (plaintext sessions). */
    afterClientLine?: RegExp;
    /** Or: arm once this many server bytes were forwarded (any session, TLS included). */
    afterServerBytes?: number;
    /** Server bytes still forwarded after the arming line. */
    afterBytes: number;
    /** Only the first this many connections stall (default 1), so a reconnect succeeds. */
    connections?: number;
    /** Instead of going silent with the socket open: end our side (FIN) and keep reading. */
    halfClose?: boolean;
  };
  /**
   * Reset each connection (RST to both sides) once it forwarded this many server→client bytes;
   * a function is asked per connection (by id), so the interval can vary.
   */
  resetEvery?: number | ((connId: number) => number);
  /**
   * Cut the connection instead of forwarding a matching client line (plaintext sessions only):
   * e.g. a POP3 QUIT that never reaches the server, as when the network fails at that moment.
   */
  cut?: {
    clientLine: RegExp;
    /** Only the first this many connections that send such a line are cut (default 1). */
    connections?: number;
  };
}

/** A running proxy. */
export interface ImapProxy {
  readonly host: string;
  readonly port: number;
  readonly connections: ProxyConnection[];
  /** Every recorded client line of every connection, in order. */
  clientLines(): string[];
  /** Client lines whose command (after the tag) matches, e.g. `/^UID EXPUNGE /i`. */
  commands(re: RegExp): string[];
  close(): Promise<void>;
}

/** The command part of a client line ("A12 UID FETCH …" → "UID FETCH …"). */
export function commandOf(line: string): string {
  const sp = line.indexOf(' ');
  return sp < 0 ? line : line.slice(sp + 1);
}

/** Starts a proxy on a free 127.0.0.1 port in front of `targetHost:targetPort`. */
export async function startImapProxy(opts: ImapProxyOptions): Promise<ImapProxy> {
  const targetHost = opts.targetHost ?? '127.0.0.1';
  const connections: ProxyConnection[] = [];
  const sockets = new Set<Socket>();
  let cuts = 0;
  const server: Server = createServer((client) => {
    const conn: ProxyConnection = { id: connections.length + 1, clientLines: [], tls: false, dropped: [], serverBytes: 0, stalled: false, reset: false, closed: false };
    connections.push(conn);
    const upstream = connect({ host: targetHost, port: opts.targetPort });
    sockets.add(client);
    sockets.add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    let pendingClient = Buffer.alloc(0);
    let pendingServer = Buffer.alloc(0);
    let stallBudget: number | null = null;
    const stallHere = opts.stall !== undefined && conn.id <= (opts.stall.connections ?? 1);
    const resetAt = typeof opts.resetEvery === 'function' ? opts.resetEvery(conn.id) : opts.resetEvery;

    const toClient = (data: Buffer): void => {
      if (conn.stalled || conn.reset || conn.closed || data.length === 0) return;
      if (stallHere && stallBudget === null && opts.stall!.afterServerBytes !== undefined && conn.serverBytes + data.length > opts.stall!.afterServerBytes) {
        stallBudget = Math.max(0, opts.stall!.afterServerBytes - conn.serverBytes) + opts.stall!.afterBytes;
      }
      if (stallBudget !== null) {
        if (data.length >= stallBudget) {
          data = data.subarray(0, stallBudget);
          conn.stalled = true;
        }
        stallBudget -= data.length;
      }
      if (resetAt !== undefined && conn.serverBytes + data.length >= resetAt) {
        client.write(data.subarray(0, Math.max(0, resetAt - conn.serverBytes)));
        conn.serverBytes = resetAt;
        conn.reset = true;
        // A little after the bytes are written: a reset drops what the client has not read yet, so
        // on a loaded machine "every N bytes" would become "every N bytes, minus whatever the
        // client was slow to read" and a test would measure the machine, not the drain.
        setTimeout(() => {
          client.resetAndDestroy();
          finish();
        }, 250);
        return;
      }
      conn.serverBytes += data.length;
      if (data.length) client.write(data);
      if (conn.stalled && opts.stall?.halfClose) client.end();
    };

    client.on('data', (chunk: Buffer) => {
      let cutNow = false;
      if (!conn.tls) {
        // A TLS record starts with 0x16 (handshake); no IMAP command line does.
        if (pendingClient.length === 0 && chunk[0] === 0x16) conn.tls = true;
        else {
          pendingClient = Buffer.concat([pendingClient, chunk]);
          let nl: number;
          while ((nl = pendingClient.indexOf(0x0a)) >= 0) {
            const line = pendingClient.subarray(0, nl).toString('latin1').replace(/\r$/, '');
            pendingClient = pendingClient.subarray(nl + 1);
            conn.clientLines.push(line);
            if (stallHere && stallBudget === null && opts.stall!.afterClientLine?.test(line)) stallBudget = opts.stall!.afterBytes;
            if (opts.cut && cuts < (opts.cut.connections ?? 1) && opts.cut.clientLine.test(line)) cutNow = true;
          }
          // The TLS handshake may follow STARTTLS in the same chunk (it does not, in practice).
          if (pendingClient.length && pendingClient[0] === 0x16) {
            conn.tls = true;
            pendingClient = Buffer.alloc(0);
          }
        }
      }
      if (cutNow) {
        cuts++;
        finish();
        return;
      }
      upstream.write(chunk);
    });

    upstream.on('data', (chunk: Buffer) => {
      if ((!opts.dropServerLine && !opts.rewriteServerLine) || conn.tls) {
        toClient(chunk);
        return;
      }
      pendingServer = Buffer.concat([pendingServer, chunk]);
      let start = 0;
      let nl: number;
      const out: Buffer[] = [];
      while ((nl = pendingServer.indexOf(0x0a, start)) >= 0) {
        const lineBuf = pendingServer.subarray(start, nl + 1);
        const line = lineBuf.toString('latin1').replace(/\r?\n$/, '');
        if (opts.dropServerLine?.(line, conn)) conn.dropped.push(line);
        else if (opts.rewriteServerLine) {
          const to = opts.rewriteServerLine(line, conn);
          out.push(to === line ? lineBuf : Buffer.from(`${to}\r\n`, 'latin1'));
        } else out.push(lineBuf);
        start = nl + 1;
      }
      pendingServer = pendingServer.subarray(start);
      if (out.length) toClient(Buffer.concat(out));
    });

    const finish = (): void => {
      if (conn.closed) return;
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
      conn.closed = true;
    };
    // A stalled connection keeps its client socket open: the client must notice the silence itself.
    client.on('close', finish);
    client.on('error', finish);
    upstream.on('close', () => {
      if (!conn.stalled) finish();
    });
    upstream.on('error', () => {
      if (!conn.stalled) finish();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('proxy has no port');
  return {
    host: '127.0.0.1',
    port: addr.port,
    connections,
    clientLines: () => connections.flatMap((c) => c.clientLines),
    commands: (re) => connections.flatMap((c) => c.clientLines).filter((l) => re.test(commandOf(l))),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A STARTTLS-stripping man in the middle, for `rewriteServerLine`: removes `STARTTLS` from IMAP
 * capability lists (greeting and CAPABILITY) and turns POP3's `STLS` CAPA line into a harmless
 * `X-STRIPPED`, so a client sees a server that never offers TLS.
 */
export function stripStarttls(line: string): string {
  if (/^STLS$/i.test(line)) return 'X-STRIPPED';
  return /CAPABILITY/i.test(line) ? line.replace(/ STARTTLS\b/gi, '') : line;
}

/** A listener that accepts connections and never sends a byte. */
export interface SilentServer {
  readonly port: number;
  /** Connections accepted so far. */
  accepted(): number;
  close(): Promise<void>;
}

/** Starts a {@link SilentServer} on a free 127.0.0.1 port. */
export async function startSilentServer(): Promise<SilentServer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('silent server has no port');
  return {
    port: addr.port,
    accepted: () => accepted,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A 127.0.0.1 port that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const addr = s.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return addr.port;
}

/** One message as the server holds it, read independently of mailsluice. */
export interface ServerMessage {
  uid: number;
  flags: Set<string>;
  source: Buffer;
}

/**
 * Reads every message of a mailbox (UID, flags, raw bytes) with imapflow directly, over plain
 * IMAP without STARTTLS, so tests check server state without going through the code under test.
 */
export async function serverMessages(
  server: { host: string; imapPort: number },
  user: { username: string; password: string },
  mailbox = 'INBOX',
): Promise<ServerMessage[]> {
  const { ImapFlow } = await import('imapflow');
  const client = new ImapFlow({ host: server.host, port: server.imapPort, secure: false, doSTARTTLS: false, auth: { user: user.username, pass: user.password }, logger: false });
  await client.connect();
  try {
    const mb = await client.mailboxOpen(mailbox);
    const out: ServerMessage[] = [];
    if (mb.exists === 0) return out;
    for await (const m of client.fetch('1:*', { uid: true, flags: true, source: true })) {
      out.push({ uid: m.uid, flags: new Set(m.flags ?? []), source: m.source ?? Buffer.alloc(0) });
    }
    return out.sort((a, b) => a.uid - b.uid);
  } finally {
    await client.logout().catch(() => undefined);
  }
}

/** Runs `fn` with a logged-in imapflow client on a mailbox (plain IMAP), then logs out. */
export async function withImap<T>(
  server: { host: string; imapPort: number },
  user: { username: string; password: string },
  mailbox: string,
  fn: (client: import('imapflow').ImapFlow) => Promise<T>,
): Promise<T> {
  const { ImapFlow } = await import('imapflow');
  const client = new ImapFlow({ host: server.host, port: server.imapPort, secure: false, doSTARTTLS: false, auth: { user: user.username, pass: user.password }, logger: false });
  await client.connect();
  try {
    await client.mailboxOpen(mailbox);
    return await fn(client);
  } finally {
    await client.logout().catch(() => undefined);
  }
}
