/**
 * Proves the private Dovecot harness works the way the end-to-end tests and the benchmark rely on:
 * users (also with backslashes), LMTP and Maildir loading, byte-exact IMAP/POP3 retrieval, and
 * every transport (plain, STARTTLS/STLS, implicit TLS, client certificates). The IMAP and POP3
 * exchanges are hand-written on purpose, so the harness is checked without the client library
 * the code under test uses.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { startDovecot, type DovecotInstance, type TestUser } from './dovecot.js';

/** Reads CRLF lines and IMAP literals from a socket that can be swapped for its TLS upgrade. */
class LineReader {
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private error: Error | undefined;
  private readonly onData = (d: Buffer) => {
    this.buf = Buffer.concat([this.buf, d]);
    this.wake();
  };
  private readonly onEnd = () => {
    this.error ??= new Error('connection closed');
    this.wake();
  };
  private readonly onError = (e: Error) => {
    this.error ??= e;
    this.wake();
  };

  constructor(public socket: Socket) {
    this.attach(socket);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private attach(s: Socket): void {
    s.on('data', this.onData);
    s.on('end', this.onEnd);
    s.on('error', this.onError);
  }

  /** Stops reading the plain socket and continues on its TLS upgrade. */
  async upgrade(options: ConnectionOptions): Promise<TLSSocket> {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('error', this.onError);
    const tls = tlsConnect({ ...options, socket: this.socket });
    await waitSecure(tls);
    this.socket = tls;
    this.attach(tls);
    return tls;
  }

  private async more(): Promise<void> {
    if (this.error) throw this.error;
    await new Promise<void>((resolve) => (this.waiter = resolve));
  }

  async line(): Promise<string> {
    for (;;) {
      const i = this.buf.indexOf('\r\n');
      if (i >= 0) {
        const l = this.buf.subarray(0, i).toString('latin1');
        this.buf = this.buf.subarray(i + 2);
        return l;
      }
      await this.more();
    }
  }

  async bytes(n: number): Promise<Buffer> {
    while (this.buf.length < n) await this.more();
    const b = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return b;
  }

  write(s: string): void {
    this.socket.write(s);
  }

  close(): void {
    this.socket.destroy();
  }
}

function waitSecure(s: TLSSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('secureConnect', () => resolve());
    s.once('error', reject);
  });
}

function plainSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

async function tlsSocket(port: number, options: ConnectionOptions): Promise<TLSSocket> {
  const s = tlsConnect({ host: '127.0.0.1', port, ...options });
  await waitSecure(s);
  return s;
}

interface ImapReply {
  untagged: string[];
  literals: Buffer[];
  status: string;
}

/** A minimal IMAP client: enough for LOGIN, SELECT, FETCH of literals and STARTTLS. */
class Imap {
  private seq = 0;
  greeting = '';
  constructor(readonly r: LineReader) {}

  static async open(socket: Socket): Promise<Imap> {
    const imap = new Imap(new LineReader(socket));
    imap.greeting = await imap.r.line();
    assert.match(imap.greeting, /^\* OK/);
    return imap;
  }

  async cmd(command: string): Promise<ImapReply> {
    const tag = `a${++this.seq}`;
    this.r.write(`${tag} ${command}\r\n`);
    const untagged: string[] = [];
    const literals: Buffer[] = [];
    for (;;) {
      let line = await this.r.line();
      // A line ending in {n} is followed by n literal bytes, then the rest of the line.
      for (let m = /\{(\d+)\}$/.exec(line); m; m = /\{(\d+)\}$/.exec(line)) {
        literals.push(await this.r.bytes(Number(m[1])));
        line += `<literal>${await this.r.line()}`;
      }
      if (line.startsWith(`${tag} `)) return { untagged, literals, status: line.slice(tag.length + 1) };
      untagged.push(line);
    }
  }

  async ok(command: string): Promise<ImapReply> {
    const r = await this.cmd(command);
    assert.match(r.status, /^OK/, `${command.split(' ')[0] ?? ''} failed: ${r.status}`);
    return r;
  }

  async login(user: TestUser): Promise<void> {
    await this.ok(`LOGIN ${quote(user.username)} ${quote(user.password)}`);
  }

  close(): void {
    this.r.close();
  }
}

function quote(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** A minimal POP3 client. */
class Pop3 {
  greeting = '';
  constructor(readonly r: LineReader) {}

  static async open(socket: Socket): Promise<Pop3> {
    const p = new Pop3(new LineReader(socket));
    p.greeting = await p.r.line();
    assert.match(p.greeting, /^\+OK/);
    return p;
  }

  async cmd(command: string): Promise<string> {
    this.r.write(`${command}\r\n`);
    const l = await this.r.line();
    assert.match(l, /^\+OK/, `${command.split(' ')[0] ?? ''} failed: ${l}`);
    return l;
  }

  /** A multi-line response, dot-unstuffed, as the bytes the server meant (CRLF kept). */
  async multi(command: string): Promise<Buffer> {
    await this.cmd(command);
    const parts: Buffer[] = [];
    for (;;) {
      const l = await this.r.line();
      if (l === '.') return Buffer.concat(parts);
      parts.push(Buffer.from(`${l.startsWith('.') ? l.slice(1) : l}\r\n`, 'latin1'));
    }
  }

  async login(user: TestUser): Promise<void> {
    await this.cmd(`USER ${user.username}`);
    await this.cmd(`PASS ${user.password}`);
  }

  close(): void {
    this.r.close();
  }
}

/** What LMTP adds in front of every delivered message (see dovecot.ts). */
const LMTP_PREFIX = 'Return-Path: <>\r\n';

function sample(i: number, extra = ''): Buffer {
  return Buffer.from(
    `From: sender${i}@example.test\r\nTo: journal@example.test\r\nSubject: message ${i}\r\n` +
      `Message-ID: <m${i}@example.test>\r\n\r\nBody of message ${i}.\r\n${extra}`,
    'latin1',
  );
}

let dovecot: DovecotInstance;

before(async () => {
  dovecot = await startDovecot();
});

after(async () => {
  await dovecot?.stop();
});

test('instance basics: loopback ports, certificates, private directory', () => {
  assert.equal(dovecot.host, '127.0.0.1');
  const ports = [dovecot.imapPort, dovecot.imapsPort, dovecot.pop3Port, dovecot.pop3sPort, dovecot.lmtpPort];
  assert.equal(new Set(ports).size, 5);
  for (const p of ports) assert.ok(p > 1024);
  assert.match(dovecot.caCertPem, /BEGIN CERTIFICATE/);
  for (const p of [dovecot.caCertPath, dovecot.serverCertPath, dovecot.serverKeyPath, dovecot.clientCertPath, dovecot.clientKeyPath]) {
    assert.ok(p.startsWith(dovecot.baseDir) && existsSync(p), p);
  }
});

test('LMTP delivery to a new user (created while running) and to a backslash user; byte round trip over IMAP', async () => {
  const plain = await dovecot.createUser();
  const windows = await dovecot.createUser({ username: 'dom\\juser\\J.User', password: 'Secret"with\\quote' });
  const msgs = [
    sample(1),
    // Dot-stuffing must be undone by Dovecot: lines starting with '.' survive.
    Buffer.from('Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n'),
    // 8-bit bytes are passed through untouched.
    Buffer.from([...Buffer.from('Subject: 8bit\r\n\r\n'), 0xe9, 0xff, 0x41, 0x0d, 0x0a]),
  ];
  for (const m of msgs) await dovecot.deliver(plain.username, m);
  await dovecot.deliverMany(windows.username, [sample(10), sample(11)]);
  assert.equal(await dovecot.messageCount(plain.username), 3);
  assert.equal(await dovecot.messageCount(windows.username), 2);

  const imap = await Imap.open(await plainSocket(dovecot.imapPort));
  try {
    const cap = await imap.ok('CAPABILITY');
    assert.match(cap.untagged.join(' '), /STARTTLS/);
    await imap.login(plain);
    const caps = await imap.ok('CAPABILITY');
    assert.match(caps.untagged.join(' '), /UIDPLUS/);
    await imap.ok('SELECT INBOX');
    const f = await imap.ok('UID FETCH 1:* (UID RFC822.SIZE BODY.PEEK[])');
    assert.equal(f.literals.length, 3);
    f.literals.forEach((lit, i) => {
      const expected = Buffer.concat([Buffer.from(LMTP_PREFIX), msgs[i]!]);
      assert.deepEqual(lit, expected, `message ${i + 1} differs`);
      assert.match(f.untagged[i] ?? '', new RegExp(`RFC822\\.SIZE ${expected.length}\\b`));
    });
  } finally {
    imap.close();
  }

  const imap2 = await Imap.open(await plainSocket(dovecot.imapPort));
  try {
    await imap2.login(windows);
    const sel = await imap2.ok('SELECT INBOX');
    assert.ok(sel.untagged.includes('* 2 EXISTS'));
  } finally {
    imap2.close();
  }
});

test('what LMTP does to line endings: bare LF comes back as CRLF, a missing final newline is added', async () => {
  const u = await dovecot.createUser();
  await dovecot.deliver(u.username, 'Subject: lf\n\nline one\nline two\n');
  await dovecot.deliver(u.username, 'Subject: no final newline\r\n\r\nlast line');
  const imap = await Imap.open(await plainSocket(dovecot.imapPort));
  try {
    await imap.login(u);
    await imap.ok('SELECT INBOX');
    const f = await imap.ok('FETCH 1:2 BODY.PEEK[]');
    assert.equal(f.literals[0]?.toString('latin1'), `${LMTP_PREFIX}Subject: lf\r\n\r\nline one\r\nline two\r\n`);
    assert.equal(f.literals[1]?.toString('latin1'), `${LMTP_PREFIX}Subject: no final newline\r\n\r\nlast line\r\n`);
  } finally {
    imap.close();
  }
});

test('a NUL byte is stored but served as 0x80 by IMAP BODY[] (Dovecot never sends NUL in a literal)', async () => {
  const u = await dovecot.createUser();
  await dovecot.loadMaildir(u.username, [Buffer.from('Subject: nul\r\n\r\na\x00b\r\n', 'latin1')]);
  const imap = await Imap.open(await plainSocket(dovecot.imapPort));
  try {
    await imap.login(u);
    await imap.ok('SELECT INBOX');
    const f = await imap.ok('FETCH 1 BODY.PEEK[]');
    assert.equal(f.literals[0]?.toString('latin1'), 'Subject: nul\r\n\r\na\x80b\r\n');
  } finally {
    imap.close();
  }
});

test('IMAP STARTTLS verifies against the instance CA, for localhost and 127.0.0.1', async () => {
  const u = await dovecot.createUser();
  for (const identity of [{ servername: 'localhost' }, { host: '127.0.0.1' }]) {
    const imap = await Imap.open(await plainSocket(dovecot.imapPort));
    try {
      await imap.ok('STARTTLS');
      const tls = await imap.r.upgrade({ ...identity, ca: dovecot.caCertPem });
      assert.equal(tls.authorized, true);
      await imap.login(u);
    } finally {
      imap.close();
    }
  }
  // Without the CA the certificate must be refused: it is not publicly trusted.
  const imap = await Imap.open(await plainSocket(dovecot.imapPort));
  try {
    await imap.ok('STARTTLS');
    await assert.rejects(imap.r.upgrade({ servername: 'localhost' }), /self[- ]signed|unable to (get|verify)/i);
  } finally {
    imap.close();
  }
});

test('IMAPS (implicit TLS) login', async () => {
  const u = await dovecot.createUser({ username: 'dom\\juser\\Other' });
  const imap = await Imap.open(await tlsSocket(dovecot.imapsPort, { ca: dovecot.caCertPem }));
  try {
    await imap.login(u);
    await imap.ok('SELECT INBOX');
  } finally {
    imap.close();
  }
});

test('POP3: USER/PASS, UIDL format, RETR bytes, APOP, STLS and POP3S', async () => {
  const u = await dovecot.createUser();
  const raw = Buffer.from('Subject: pop\r\n\r\n.dot line\r\nbody\r\n');
  await dovecot.deliver(u.username, raw);

  const pop = await Pop3.open(await plainSocket(dovecot.pop3Port));
  try {
    await pop.login(u);
    assert.match(await pop.cmd('STAT'), /^\+OK 1 /);
    const uidl = (await pop.multi('UIDL')).toString('latin1');
    // pop3_uidl_format = %08Xu%08Xv: UID then UIDVALIDITY, 8 hex digits each. Dovecot 2.3's %X
    // prints lower-case hex despite the capital letter.
    assert.match(uidl, /^1 00000001[0-9a-f]{8}\r\n$/);
    assert.deepEqual(await pop.multi('RETR 1'), Buffer.concat([Buffer.from(LMTP_PREFIX), raw]));
    await pop.cmd('QUIT');
  } finally {
    pop.close();
  }

  // APOP: the greeting carries a timestamp; the digest is MD5(timestamp + password).
  const apop = await Pop3.open(await plainSocket(dovecot.pop3Port));
  try {
    const stamp = /<[^>]+>/.exec(apop.greeting)?.[0];
    assert.ok(stamp, `no APOP timestamp in greeting: ${apop.greeting}`);
    const digest = createHash('md5').update(stamp + u.password).digest('hex');
    await apop.cmd(`APOP ${u.username} ${digest}`);
  } finally {
    apop.close();
  }

  const stls = await Pop3.open(await plainSocket(dovecot.pop3Port));
  try {
    await stls.cmd('STLS');
    await stls.r.upgrade({ servername: 'localhost', ca: dovecot.caCertPem });
    await stls.login(u);
  } finally {
    stls.close();
  }

  const pop3s = await Pop3.open(await tlsSocket(dovecot.pop3sPort, { ca: dovecot.caCertPem }));
  try {
    await pop3s.login(u);
    assert.match(await pop3s.cmd('STAT'), /^\+OK 1 /);
  } finally {
    pop3s.close();
  }
});

test('wrong password is refused', async () => {
  const u = await dovecot.createUser();
  const imap = await Imap.open(await plainSocket(dovecot.imapPort));
  try {
    const r = await imap.cmd(`LOGIN ${quote(u.username)} "wrong"`);
    assert.match(r.status, /^NO/);
  } finally {
    imap.close();
  }
});

test('loadMaildir: 2,000 messages in order, byte-exact over IMAP and POP3, with correct sizes', async () => {
  const u = await dovecot.createUser();
  const n = 2000;
  const msgs = Array.from({ length: n }, (_, i) => sample(i, i % 7 === 0 ? '.starts with a dot\r\n' : ''));
  const t0 = performance.now();
  await dovecot.loadMaildir(u.username, msgs);
  const secs = (performance.now() - t0) / 1000;
  console.log(`loadMaildir: ${n} messages in ${secs.toFixed(2)} s = ${Math.round(n / secs)} msg/s`);
  const c0 = performance.now();
  assert.equal(await dovecot.messageCount(u.username), n);
  console.log(`first doveadm mailbox status (indexes ${n} files): ${Math.round(performance.now() - c0)} ms`);

  const imap = await Imap.open(await plainSocket(dovecot.imapPort));
  try {
    await imap.login(u);
    await imap.ok('SELECT INBOX');
    const f = await imap.ok('FETCH 1:* (UID RFC822.SIZE BODY.PEEK[])');
    assert.equal(f.literals.length, n);
    for (let i = 0; i < n; i++) {
      assert.ok(f.literals[i]!.equals(msgs[i]!), `message ${i + 1} differs`);
      assert.match(f.untagged[i] ?? '', new RegExp(`UID ${i + 1} RFC822\\.SIZE ${msgs[i]!.length} `));
    }
  } finally {
    imap.close();
  }

  const pop = await Pop3.open(await plainSocket(dovecot.pop3Port));
  try {
    await pop.login(u);
    assert.deepEqual(await pop.multi('RETR 7'), msgs[6]);
    assert.equal(await pop.cmd('LIST 7'), `+OK 7 ${msgs[6]!.length}`);
  } finally {
    pop.close();
  }

  // A second load appends after the first one.
  await dovecot.loadMaildir(u.username, [sample(99999)]);
  assert.equal(await dovecot.messageCount(u.username), n + 1);
});

test('deliverMany: 2,000 messages over one LMTP session', async () => {
  const u = await dovecot.createUser();
  const n = 2000;
  async function* gen(): AsyncIterable<Buffer> {
    for (let i = 0; i < n; i++) yield sample(i);
  }
  const t0 = performance.now();
  await dovecot.deliverMany(u.username, gen());
  const secs = (performance.now() - t0) / 1000;
  console.log(`deliverMany: ${n} messages in ${secs.toFixed(2)} s = ${Math.round(n / secs)} msg/s`);
  assert.equal(await dovecot.messageCount(u.username), n);
});

test('createMailbox and messageCount of another mailbox', async () => {
  const u = await dovecot.createUser({ username: 'dom\\juser\\Folders' });
  await dovecot.createMailbox(u.username, 'Archive');
  assert.equal(await dovecot.messageCount(u.username, 'Archive'), 0);
  await assert.rejects(dovecot.messageCount(u.username, 'NoSuchBox'), /doveadm/);
});

test('options: imapCapability and noTls, in parallel instances with requireClientCert', async () => {
  const [bare, certOnly] = await Promise.all([
    startDovecot({ noTls: true, imapCapability: 'IMAP4rev1 LITERAL+ IDLE' }),
    startDovecot({ requireClientCert: true }),
  ]);
  try {
    assert.equal(bare.imapsPort, 0);
    assert.equal(bare.pop3sPort, 0);
    const u = await bare.createUser();
    const imap = await Imap.open(await plainSocket(bare.imapPort));
    try {
      const pre = await imap.ok('CAPABILITY');
      assert.doesNotMatch(pre.untagged.join(' '), /STARTTLS/);
      assert.match((await imap.cmd('STARTTLS')).status, /^(BAD|NO)/);
      await imap.login(u);
      const caps = (await imap.ok('CAPABILITY')).untagged.join(' ');
      assert.doesNotMatch(caps, /UIDPLUS/);
      assert.match(caps, /IDLE/);
    } finally {
      imap.close();
    }

    const v = await certOnly.createUser();
    const ca = certOnly.caCertPem;
    const withCert = await Imap.open(
      await tlsSocket(certOnly.imapsPort, {
        ca,
        cert: readFileSync(certOnly.clientCertPath),
        key: readFileSync(certOnly.clientKeyPath),
      }),
    );
    try {
      await withCert.login(v);
    } finally {
      withCert.close();
    }
    const noCert = await Imap.open(await tlsSocket(certOnly.imapsPort, { ca }));
    try {
      assert.match((await noCert.cmd(`LOGIN ${quote(v.username)} ${quote(v.password)}`)).status, /^NO/);
    } finally {
      noCert.close();
    }
  } finally {
    await Promise.all([bare.stop(), certOnly.stop()]);
  }
  assert.equal(existsSync(bare.baseDir), false);
  await assert.rejects(plainSocket(bare.imapPort));
});
