/**
 * An HTTPS server on 127.0.0.1 for the simulators of the harness (EWS, Graph): a certificate for
 * 127.0.0.1/localhost signed by a throw-away CA (`dovecot.ts`'s `makeCertificates`), keep-alive
 * connections tracked so `stop` can end them, and the CA kept on disk until then so child
 * processes can trust it (`NODE_EXTRA_CA_CERTS`, `tls.ca` files).
 */
import { X509Certificate } from 'node:crypto';
import { readFile, rm, mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCertificates } from './dovecot.js';

/** A running loopback HTTPS server. */
export interface LoopbackHttps {
  readonly server: Server;
  readonly port: number;
  /** The CA's certificate (PEM) that signed the server's. */
  readonly ca: string;
  /** A file holding {@link ca}, there until `stop`. */
  readonly caFile: string;
  /** The server certificate's DER. */
  readonly certificateDer: Buffer;
  /** Ends every open connection, closes the server, removes the certificates. */
  stop(): Promise<void>;
}

/** Options of {@link startLoopbackHttps}. */
export interface LoopbackHttpsOptions {
  /** The port to listen on; default 0, the kernel's pick (no other process can take it in between). */
  port?: number;
  /** How long an idle kept-alive connection stays open, ms. */
  keepAliveTimeoutMs?: number;
  /** A prefix for the temporary directory of the certificates. */
  name: string;
}

/** Starts `handler` on 127.0.0.1 over TLS; see the file comment. */
export async function startLoopbackHttps(
  options: LoopbackHttpsOptions,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<LoopbackHttps> {
  const dir = await mkdtemp(join(tmpdir(), `${options.name}-`));
  const certs = await makeCertificates(dir);
  const [key, cert, ca] = await Promise.all([readFile(certs.serverKeyPath), readFile(certs.serverCertPath, 'utf8'), readFile(certs.caCertPath, 'utf8')]);
  const sockets = new Set<Socket>();
  const server: Server = createServer({ key, cert, keepAlive: true }, handler);
  if (options.keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = options.keepAliveTimeoutMs;
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  return {
    server,
    port: (server.address() as { port: number }).port,
    ca,
    caFile: certs.caCertPath,
    certificateDer: new X509Certificate(cert).raw,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A request's whole body (the simulators' requests are small; a test never sends 100 MB up). */
export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}
