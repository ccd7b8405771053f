/**
 * The pipelined HTTP/1.1 client of the webhook action (adapters/action-webhook/http-pipeline.ts)
 * against real servers on 127.0.0.1: node:http, and raw sockets where a test needs answers
 * node:http would not give (Connection: close in the middle of a pipeline, HTTP/1.0, a drop).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { HttpPipeline, PipelineError, type PipelineAnswer } from '../../src/adapters/action-webhook/http-pipeline.js';

const never = new AbortController().signal;

function request(id: number, path = '/hook'): Buffer {
  const body = JSON.stringify({ id });
  return Buffer.from(`POST ${path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`, 'latin1');
}

/** Calls `fn` with the body of every complete request (head + Content-Length body) read from `s`. */
function onEachRequest(s: Socket, fn: (body: string) => void): void {
  let buf = '';
  s.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = Number(/Content-Length: (\d+)/.exec(buf.slice(0, end))![1]);
      if (buf.length < end + 4 + len) return;
      const body = buf.slice(end + 4, end + 4 + len);
      buf = buf.slice(end + 4 + len);
      fn(body);
    }
  });
}

async function listen(server: Server | ReturnType<typeof createHttpServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return (server.address() as AddressInfo).port;
}

function close(server: Server | ReturnType<typeof createHttpServer>, sockets: Set<Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

function track(server: Server | ReturnType<typeof createHttpServer>): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return sockets;
}

test('requests leave in reservation order on one connection, at most `window` unanswered, answers matched by order', async () => {
  const seen: number[] = [];
  const connections = new Set<string>();
  let open = 0;
  let maxOpen = 0;
  const server = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { id } = JSON.parse(Buffer.concat(chunks).toString()) as { id: number };
      seen.push(id);
      connections.add(`${req.socket.remotePort}`);
      open++;
      maxOpen = Math.max(maxOpen, open);
      // Answers in a shuffled time order: node:http still writes them in request order.
      setTimeout(() => {
        open--;
        res.writeHead(200 + (id % 30), { 'content-type': 'text/plain' }).end('ok');
      }, 5 + ((id * 7) % 11));
    });
  });
  const sockets = track(server);
  const port = await listen(server);
  const p = new HttpPipeline({ tls: false, host: '127.0.0.1', port }, { window: 4, maxBodyChars: 100 });
  try {
    const slots = Array.from({ length: 24 }, () => p.reserve());
    // Filled in reverse: the first reserved still goes first.
    const answers: Array<Promise<PipelineAnswer>> = [];
    for (let i = slots.length - 1; i >= 0; i--) answers[i] = slots[i]!.send(request(i), 10_000, never);
    const got = await Promise.all(answers);
    assert.deepEqual(
      got.map((a) => a.status),
      got.map((_, i) => 200 + (i % 30)),
    );
    assert.deepEqual(seen, [...seen.keys()], 'received in reservation order');
    assert.equal(connections.size, 1, 'one connection');
    assert.ok(maxOpen > 1 && maxOpen <= 4, `at most 4 requests on their way at once, and more than 1 (saw ${maxOpen})`);
  } finally {
    p.close();
    await close(server, sockets);
  }
});

test('a slot filled late holds back the ones reserved after it; a cancelled slot does not', async () => {
  const seen: number[] = [];
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push((JSON.parse(Buffer.concat(chunks).toString()) as { id: number }).id);
      res.writeHead(204).end();
    });
  });
  const sockets = track(server);
  const port = await listen(server);
  const p = new HttpPipeline({ tls: false, host: '127.0.0.1', port }, { window: 8, maxBodyChars: 100 });
  try {
    const a = p.reserve();
    const gone = p.reserve();
    const b = p.reserve();
    const bAnswer = b.send(request(2), 5000, never);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(seen, [], 'nothing leaves before the first slot is filled');
    const aAnswer = a.send(request(1), 5000, never);
    await new Promise((r) => setTimeout(r, 20));
    gone.cancel();
    assert.deepEqual((await Promise.all([aAnswer, bAnswer])).map((x) => x.status), [204, 204]);
    assert.deepEqual(seen, [1, 2]);
  } finally {
    p.close();
    await close(server, sockets);
  }
});

test('error bodies: Content-Length and chunked, cut to maxBodyChars; Retry-After kept; 1xx skipped', async () => {
  // A raw server: one connection, the answers written by hand.
  const answers = [
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 11\r\n\r\nbusy, later',
    'HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n',
    'HTTP/1.1 500 Oops\r\nContent-Length: 40\r\n\r\n' + 'x'.repeat(40),
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
  ];
  const server = createNetServer((s) => {
    let n = 0;
    onEachRequest(s, () => s.write(answers[n++]!));
  });
  const sockets = track(server);
  const port = await listen(server);
  const p = new HttpPipeline({ tls: false, host: '127.0.0.1', port }, { window: 4, maxBodyChars: 20 });
  try {
    const got = await Promise.all(answers.map((_, i) => p.reserve().send(request(i), 5000, never)));
    assert.deepEqual(got, [
      { status: 503, retryAfter: '7', text: 'busy, later' },
      { status: 400, retryAfter: null, text: 'hello world' },
      { status: 500, retryAfter: null, text: 'x'.repeat(20) },
      { status: 200, retryAfter: null, text: '' },
    ]);
  } finally {
    p.close();
    await close(server, sockets);
  }
});

test('Connection: close after the first answer: the requests written behind it go again on new connections, one at a time, each processed once', async () => {
  // Like a server without keep-alive: it processes the first request of a connection, answers
  // with Connection: close and ends it, ignoring what was pipelined behind.
  const processed: number[] = [];
  let connections = 0;
  const server = createNetServer((s) => {
    connections++;
    let done = false;
    onEachRequest(s, (body) => {
      if (done) return;
      done = true;
      processed.push((JSON.parse(body) as { id: number }).id);
      s.end('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok');
    });
  });
  const sockets = track(server);
  const port = await listen(server);
  const p = new HttpPipeline({ tls: false, host: '127.0.0.1', port }, { window: 8, maxBodyChars: 20 });
  try {
    const got = await Promise.all(Array.from({ length: 6 }, (_, i) => p.reserve().send(request(i), 5000, never)));
    assert.deepEqual(got.map((a) => a.status), [200, 200, 200, 200, 200, 200]);
    assert.deepEqual(processed, [0, 1, 2, 3, 4, 5], 'each processed once, in order');
    assert.equal(connections, 6);
  } finally {
    p.close();
    await close(server, sockets);
  }
});

test('HTTP/1.0 without a length: the body ends with the connection', async () => {
  const server = createNetServer((s) => {
    s.once('data', () => s.end('HTTP/1.0 502 Bad Gateway\r\nContent-Type: text/plain\r\n\r\nupstream down'));
  });
  const sockets = track(server);
  const port = await listen(server);
  const p = new HttpPipeline({ tls: false, host: '127.0.0.1', port }, { window: 4, maxBodyChars: 100 });
  try {
    assert.deepEqual(await p.reserve().send(request(1), 5000, never), { status: 502, retryAfter: null, text: 'upstream down' });
  } finally {
    p.close();
    await close(server, sockets);
  }
});

test('a dropped connection fails every request on it (network); a refused port fails at once; the next request reconnects', async () => {
  let drop = true;
  const server = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (drop) req.socket.destroy();
      else res.writeHead(200).end();
    });
  });
  const sockets = track(server);
  const port = await listen(server);
  const p = new HttpPipeline({ tls: false, host: '127.0.0.1', port }, { window: 4, maxBodyChars: 100 });
  try {
    const results = await Promise.allSettled([0, 1, 2].map((i) => p.reserve().send(request(i), 5000, never)));
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.ok((r as PromiseRejectedResult).reason instanceof PipelineError);
      assert.equal(((r as PromiseRejectedResult).reason as PipelineError).why, 'network');
    }
    drop = false;
    assert.equal((await p.reserve().send(request(3), 5000, never)).status, 200);
  } finally {
    p.close();
    await close(server, sockets);
  }
  const refused = new HttpPipeline({ tls: false, host: '127.0.0.1', port }, { window: 4, maxBodyChars: 100 });
  const t0 = Date.now();
  await assert.rejects(refused.reserve().send(request(1), 5000, never), (e: PipelineError) => e.why === 'network' && /ECONNREFUSED/.test(e.message));
  assert.ok(Date.now() - t0 < 2000, 'not retried in a loop until the deadline');
  refused.close();
});

test('a deadline that passes fails the request as timeout and ends its connection; a stop fails it as stopped', async () => {
  let answer = false;
  const server = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (answer) res.writeHead(200).end();
    });
  });
  const sockets = track(server);
  const port = await listen(server);
  const p = new HttpPipeline({ tls: false, host: '127.0.0.1', port }, { window: 4, maxBodyChars: 100 });
  try {
    const t0 = Date.now();
    await assert.rejects(p.reserve().send(request(1), 150, never), (e: PipelineError) => e.why === 'timeout');
    assert.ok(Date.now() - t0 < 1500);
    const ac = new AbortController();
    const stopped = p.reserve().send(request(2), 10_000, ac.signal);
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(stopped, (e: PipelineError) => e.why === 'stopped');
    answer = true;
    assert.equal((await p.reserve().send(request(3), 5000, never)).status, 200);
  } finally {
    p.close();
    await close(server, sockets);
  }
});

test('garbage instead of HTTP is a protocol error, not a hang', async () => {
  const server = createNetServer((s) => s.once('data', () => s.write('SSH-2.0-OpenSSH_9.2\r\n\r\n')));
  const sockets = track(server);
  const port = await listen(server);
  const p = new HttpPipeline({ tls: false, host: '127.0.0.1', port }, { window: 4, maxBodyChars: 100 });
  try {
    await assert.rejects(p.reserve().send(request(1), 5000, never), (e: PipelineError) => e.why === 'protocol' && /HTTP\/1\.x/.test(e.message));
  } finally {
    p.close();
    await close(server, sockets);
  }
});

test('time limits count progress: a server answering pipelined requests one after another is not blamed for the queue', async () => {
  // A raw server that handles one request at a time, 150 ms each (as a serial upstream would).
  const server = createNetServer((s) => {
    let busy = Promise.resolve();
    onEachRequest(s, () => {
      busy = busy.then(() => new Promise<void>((r) => setTimeout(() => (s.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), r()), 150)));
    });
  });
  const sockets = track(server);
  const port = await listen(server);
  const p = new HttpPipeline({ tls: false, host: '127.0.0.1', port }, { window: 4, maxBodyChars: 100 });
  try {
    // 4 × 150 ms in a row, each limited to 250 ms: met, since each is answered 150 ms after the one before.
    const got = await Promise.all([0, 1, 2, 3].map((i) => p.reserve().send(request(i), 250, never)));
    assert.deepEqual(got.map((a) => a.status), [200, 200, 200, 200]);
  } finally {
    p.close();
    await close(server, sockets);
  }
});

test('a connection that never completes (a TLS handshake nobody answers) times out instead of hanging', async () => {
  const server = createNetServer(() => undefined);
  const sockets = track(server);
  const port = await listen(server);
  const p = new HttpPipeline({ tls: true, host: '127.0.0.1', port }, { window: 4, maxBodyChars: 100 });
  try {
    const t0 = Date.now();
    await assert.rejects(p.reserve().send(request(1), 200, never), (e: PipelineError) => e.why === 'timeout' && /connection/.test(e.message));
    assert.ok(Date.now() - t0 < 2000);
  } finally {
    p.close();
    await close(server, sockets);
  }
});
