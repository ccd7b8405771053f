/**
 * A private Dovecot 2.3 for the end-to-end tests and the benchmark.
 *
 * Each {@link startDovecot} call gets its own temporary directory (config, base_dir, state_dir,
 * log, certificates, passwd-file, Maildirs) and its own free ports on 127.0.0.1, so several
 * instances run side by side (the runner runs two test files at once) and the system instance is
 * never touched. The server runs in the foreground as a child of this process and is stopped by
 * the PID we started, never by name.
 *
 * What Dovecot does to the bytes (checked by dovecot.test.ts; the archive tests rely on it):
 * - Maildir files are stored with LF line endings (`mail_save_crlf = no`, the default) and IMAP
 *   `BODY[]` / POP3 `RETR` turn every bare LF back into CRLF. A message given with CRLF line
 *   endings therefore comes back byte-identical; one given with bare LFs comes back with CRLFs.
 * - LMTP (see {@link DovecotInstance.deliver}) prepends exactly one header line,
 *   `Return-Path: <>\r\n` (we send the null reverse-path). The `Delivered-To:` and `Received:`
 *   headers Dovecot would add by default are switched off here (`lmtp_hdr_delivery_address = none`,
 *   `lmtp_add_received_header = no`) because they carry the time and a session id, which would
 *   make stored messages differ between runs. SMTP's DATA also cannot carry a message that does
 *   not end in a line break: `deliver` appends CRLF to such a message.
 * - {@link DovecotInstance.loadMaildir} writes the bytes verbatim, so nothing is added at all.
 * - A NUL byte is stored as is but IMAP `BODY[]` serves it as 0x80 (Dovecot never puts NUL in a
 *   literal). 8-bit bytes otherwise pass through untouched.
 * - `pop3_uidl_format = %08Xu%08Xv` gives 16 lower-case hex digits (UID, then UIDVALIDITY).
 *
 * Speed measured on the project VM (2 vCPUs, instance on /dev/shm): loadMaildir about 10,000 to
 * 38,000 messages/s; deliverMany about 400 to 700 small messages/s, bound by Dovecot's LMTP
 * process (per delivery it opens the user's mailbox and re-reads dovecot-uidlist, which grows
 * with the mailbox, so it slows down as the mailbox fills). Use loadMaildir for bulk.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, rmSync, openSync, closeSync, writeSync, fchownSync, renameSync, statSync, accessSync, constants as fsConstants } from 'node:fs';
import { mkdtemp, mkdir, writeFile, readFile, rename, chown, chmod, rm } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

const DOVECOT_BIN = '/usr/sbin/dovecot';
const DOVEADM_BIN = '/usr/bin/doveadm';
const REQUIRED_FILES = [
  DOVECOT_BIN,
  DOVEADM_BIN,
  '/usr/lib/dovecot/imap',
  '/usr/lib/dovecot/pop3',
  '/usr/lib/dovecot/lmtp',
];
const DEBIAN_PACKAGES = ['dovecot-imapd', 'dovecot-pop3d', 'dovecot-lmtpd'];

/** How long Dovecot may take to come up before we give up and show its log. */
const START_TIMEOUT_MS = 15_000;
/** How long a SIGTERM'd Dovecot may take to shut its children down before SIGKILL. */
const STOP_TIMEOUT_MS = 5_000;

function missingDovecotFiles(): string[] {
  return REQUIRED_FILES.filter((f) => !existsSync(f));
}

async function hasOpenssl(): Promise<boolean> {
  try {
    await execFileP('openssl', ['version']);
    return true;
  } catch {
    return false;
  }
}

/** Installs Debian packages (apt-get update, then install); for the bench's isync too. */
export async function aptInstall(packages: string[]): Promise<void> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // Test files run two at a time and several install what they need (Chromium, DavMail, Ceph):
  // without the lock timeout a second apt-get fails at once on the first one's lock.
  const lockWait = ['-o', 'DPkg::Lock::Timeout=600'];
  // Output goes to our stderr so a slow or failing install is visible in the test log.
  for (const args of [[...lockWait, 'update'], [...lockWait, 'install', '-y', ...packages]]) {
    const child = spawn('apt-get', args, { env, stdio: ['ignore', 'inherit', 'inherit'] });
    const [code] = (await once(child, 'exit')) as [number | null];
    if (code !== 0) {
      throw new Error(`\`apt-get ${args.join(' ')}\` failed with exit code ${String(code)}.`);
    }
  }
}

/**
 * Makes sure Dovecot (imap, pop3, lmtp, doveadm) and openssl are installed, installing Debian's
 * packages with apt-get when they are missing.
 *
 * Throws when they are still missing afterwards: the suite must fail loudly rather than skip the
 * tests that need a real server.
 */
export async function ensureDovecotInstalled(): Promise<void> {
  const wanted: string[] = [];
  if (missingDovecotFiles().length > 0) wanted.push(...DEBIAN_PACKAGES);
  if (!(await hasOpenssl())) wanted.push('openssl');
  if (wanted.length > 0) {
    if (process.getuid?.() !== 0) {
      throw new Error(
        `The tests need ${wanted.join(', ')} but they are not installed and this process is not root, so they cannot be installed with apt-get.`,
      );
    }
    try {
      await aptInstall(wanted);
    } catch (err) {
      throw new Error(`Installing ${wanted.join(', ')} with apt-get failed; the tests need a real Dovecot.`, {
        cause: err,
      });
    }
  }
  const still = missingDovecotFiles();
  if (still.length > 0) {
    throw new Error(`Dovecot is not usable: ${still.join(', ')} still missing after installing ${DEBIAN_PACKAGES.join(', ')}.`);
  }
  if (!(await hasOpenssl())) {
    throw new Error('openssl is not usable after installing it; the Dovecot test harness needs it to make certificates.');
  }
}

/** Options of {@link startDovecot}. */
export interface DovecotOptions {
  /**
   * Replace the advertised IMAP capability list (dovecot's `imap_capability`), e.g. to hide
   * UIDPLUS. It only changes what is advertised: Dovecot still executes the commands.
   */
  imapCapability?: string;
  /**
   * Turn off TLS entirely (no STARTTLS/STLS, no IMAPS/POP3S listeners; their ports are then 0):
   * for testing `security: starttls` failures.
   */
  noTls?: boolean;
  /**
   * Ask every TLS client for a certificate signed by the instance's CA and refuse to log in
   * without one (`ssl_verify_client_cert` + `auth_ssl_require_client_cert`). Plain-text logins
   * are then refused too, since they carry no certificate.
   */
  requireClientCert?: boolean;
  /** Extra raw lines appended to dovecot.conf (later settings win). */
  extraConfig?: string;
  /**
   * Where the instance's temporary directory is made. Default: `/dev/shm` when it is a writable
   * tmpfs, else `os.tmpdir()`. On this project's VM creating a file on the ext4 disk costs about
   * 0.4 ms (40 times tmpfs), which would make Dovecot's disk, not mailsluice, the benchmark's
   * bottleneck; fsync stays on in Dovecot's config, it is simply cheap on tmpfs.
   */
  parentDir?: string;
}

/** A mailbox user of a test Dovecot. */
export interface TestUser {
  username: string;
  password: string;
}

/** A running private Dovecot; see {@link startDovecot}. */
export interface DovecotInstance {
  /** Always `127.0.0.1`: nothing listens elsewhere. */
  readonly host: string;
  /** IMAP, plain text with STARTTLS. */
  readonly imapPort: number;
  /** IMAP over implicit TLS; 0 when `noTls`. */
  readonly imapsPort: number;
  /** POP3, plain text with STLS. */
  readonly pop3Port: number;
  /** POP3 over implicit TLS; 0 when `noTls`. */
  readonly pop3sPort: number;
  /** LMTP, plain text. */
  readonly lmtpPort: number;
  /** PEM of the private CA that signed the server and client certificates. */
  readonly caCertPem: string;
  /** Path of {@link caCertPem}. */
  readonly caCertPath: string;
  /** Server certificate, valid for `127.0.0.1` (IP SAN) and `localhost` (DNS SAN). */
  readonly serverCertPath: string;
  /** Key of {@link serverCertPath}. */
  readonly serverKeyPath: string;
  /** Client certificate (CN `mailsluice-test-client`) signed by the same CA, for client-certificate tests. */
  readonly clientCertPath: string;
  /** Key of {@link clientCertPath}. */
  readonly clientKeyPath: string;
  /** Private temporary directory of this instance; removed by {@link stop}. */
  readonly baseDir: string;
  /** Dovecot's log (errors, auth failures): look here when a test fails strangely. */
  readonly logPath: string;
  /** The generated dovecot.conf, for running `doveadm -c` or `doveconf -c` by hand. */
  readonly configPath: string;
  /**
   * Adds a user to the passwd-file (Dovecot re-reads it on change, no restart). By default a
   * fresh unique name and a random password. Names are case-sensitive and may contain any
   * character except `:`, newlines and NUL, e.g. backslashes as in `dom\\juser\\J.User`.
   */
  createUser(opts?: { username?: string; password?: string }): Promise<TestUser>;
  /** Delivers one message to the user's INBOX via LMTP (see the module comment for what LMTP adds). */
  deliver(username: string, raw: Buffer | string): Promise<void>;
  /**
   * Delivers many messages in one LMTP session (one transaction each, pipelined so each costs
   * one round trip), in order. A few hundred messages per second: use loadMaildir for bulk.
   */
  deliverMany(username: string, raws: Iterable<Buffer> | AsyncIterable<Buffer>): Promise<void>;
  /**
   * Bulk load: writes the messages verbatim straight into the user's INBOX Maildir (`cur/`), for
   * tens of thousands of messages in seconds. IMAP UIDs follow the given order; `BODY[]`, POP3
   * `RETR` and `RFC822.SIZE` match the bytes exactly when they use CRLF line endings.
   */
  loadMaildir(username: string, raws: Iterable<Buffer> | AsyncIterable<Buffer>): Promise<void>;
  /** Where the user's INBOX Maildir is on disk (the bench watches its files to see the mailbox empty without a client of its own). */
  maildirOf(username: string): string;
  /** Number of messages in a mailbox (INBOX by default), read with doveadm, independent of the code under test. */
  messageCount(username: string, mailbox?: string): Promise<number>;
  /** Creates a mailbox (folder) for the user with doveadm. */
  createMailbox(username: string, mailbox: string): Promise<void>;
  /** Stops Dovecot (SIGTERM, SIGKILL after a timeout), waits for it to exit and removes {@link baseDir}. */
  stop(): Promise<void>;
}

interface Ports {
  imap: number;
  imaps: number;
  pop3: number;
  pop3s: number;
  lmtp: number;
}

/**
 * Finds free ports by binding port 0. All sockets stay open until every port is picked so the
 * same port is not handed out twice; another process may still grab one before Dovecot binds it,
 * which {@link startDovecot} handles by retrying with new ports.
 */
async function pickFreePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const srv = createServer();
      servers.push(srv);
      srv.listen(0, '127.0.0.1');
      await once(srv, 'listening');
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') throw new Error('could not read the address of a probe socket');
      ports.push(addr.port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

export interface Certificates {
  caCertPath: string;
  caKeyPath: string;
  serverCertPath: string;
  serverKeyPath: string;
  clientCertPath: string;
  clientKeyPath: string;
  dhPath: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileP('openssl', args, { cwd });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`openssl ${args[0] ?? ''} failed while making test certificates: ${stderr.trim()}`, { cause: err });
  }
}

/**
 * Makes a private CA, a server certificate for 127.0.0.1 and localhost, a client certificate,
 * and DH parameters. EC P-256 keys and the RFC 7919 ffdhe2048 group keep this well under a
 * second; generating fresh DH primes would take minutes.
 */
export async function makeCertificates(dir: string): Promise<Certificates> {
  const c: Certificates = {
    caCertPath: join(dir, 'ca.pem'),
    caKeyPath: join(dir, 'ca.key'),
    serverCertPath: join(dir, 'server.pem'),
    serverKeyPath: join(dir, 'server.key'),
    clientCertPath: join(dir, 'client.pem'),
    clientKeyPath: join(dir, 'client.key'),
    dhPath: join(dir, 'dh.pem'),
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await Promise.all([
    openssl(
      ['req', '-x509', ...ec, '-keyout', c.caKeyPath, '-out', c.caCertPath, '-days', '3650',
        '-subj', '/O=mailsluice tests/CN=mailsluice test CA',
        '-addext', 'basicConstraints=critical,CA:TRUE',
        '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
      dir,
    ),
    openssl(['req', '-new', ...ec, '-keyout', c.serverKeyPath, '-out', join(dir, 'server.csr'), '-subj', '/CN=localhost'], dir),
    openssl(['req', '-new', ...ec, '-keyout', c.clientKeyPath, '-out', join(dir, 'client.csr'), '-subj', '/CN=mailsluice-test-client'], dir),
    openssl(['genpkey', '-genparam', '-algorithm', 'DH', '-pkeyopt', 'group:ffdhe2048', '-out', c.dhPath], dir),
    writeFile(
      join(dir, 'server.ext'),
      'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n' +
        'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n',
    ),
    writeFile(
      join(dir, 'client.ext'),
      'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n',
    ),
  ]);
  const sign = (name: string) =>
    openssl(
      ['x509', '-req', '-in', join(dir, `${name}.csr`), '-CA', c.caCertPath, '-CAkey', c.caKeyPath, '-set_serial',
        `0x${randomBytes(8).toString('hex')}`, '-days', '3650', '-extfile', join(dir, `${name}.ext`), '-out', join(dir, `${name}.pem`)],
      dir,
    );
  await Promise.all([sign('server'), sign('client')]);
  return c;
}

/** Which system users Dovecot runs as and delivers mail as. */
interface Identity {
  /** Owner of the Maildirs (userdb uid/gid). Never root: Dovecot refuses to access mail as root. */
  mailUid: number;
  mailGid: number;
  internalUser: string;
  internalGroup: string;
  loginUser: string;
  root: boolean;
}

async function resolveIdentity(): Promise<Identity> {
  if (process.getuid?.() === 0) {
    // As root, Dovecot drops to these Debian-created users. The mail is owned by `dovecot` as
    // well: it exists on every Debian install, unlike a dedicated vmail user we would have to add.
    const { stdout } = await execFileP('id', ['-u', 'dovecot']);
    const { stdout: gid } = await execFileP('id', ['-g', 'dovecot']);
    return { mailUid: Number(stdout.trim()), mailGid: Number(gid.trim()), internalUser: 'dovecot', internalGroup: 'dovecot', loginUser: 'dovenull', root: true };
  }
  // Without root Dovecot cannot switch users; everything runs as us.
  const me = userInfo();
  const { stdout: group } = await execFileP('id', ['-gn']);
  return { mailUid: me.uid, mailGid: me.gid, internalUser: me.username, internalGroup: group.trim(), loginUser: me.username, root: false };
}

interface ConfigInput {
  dir: string;
  ports: Ports;
  certs: Certificates;
  usersDir: string;
  identity: Identity;
  opts: DovecotOptions;
}

function renderConfig({ dir, ports, certs, usersDir, identity, opts }: ConfigInput): string {
  const tls = !opts.noTls;
  const lines: string[] = [
    '# Generated by test/harness/dovecot.ts for one test instance; deleted when it stops.',
    '# Nothing from /etc/dovecot is included, so the system configuration cannot leak in.',
    `instance_name = mailsluice-${createHash('sha256').update(dir).digest('hex').slice(0, 8)}`,
    `base_dir = ${join(dir, 'run')}`,
    `state_dir = ${join(dir, 'state')}`,
    `log_path = ${join(dir, 'dovecot.log')}`,
    `info_log_path = ${join(dir, 'dovecot.log')}`,
    'listen = 127.0.0.1',
    'protocols = imap pop3 lmtp',
    `default_internal_user = ${identity.internalUser}`,
    `default_internal_group = ${identity.internalGroup}`,
    `default_login_user = ${identity.loginUser}`,
    // The mail uid is a system user (below 500, Dovecot's default floor).
    `first_valid_uid = ${identity.mailUid}`,
    `last_valid_uid = ${identity.mailUid}`,
    `first_valid_gid = ${identity.mailGid}`,
    `last_valid_gid = ${identity.mailGid}`,
    '',
    '# Auth: tests log in with security none too, and APOP needs the clear-text password.',
    'disable_plaintext_auth = no',
    'auth_mechanisms = plain login apop',
    '# Empty: every character is allowed, so Windows-style names like dom\\juser\\J.User work.',
    'auth_username_chars =',
    '# Default %Lu would lower-case names and miss the passwd-file entry of J.User.',
    'auth_username_format = %u',
    'auth_verbose = yes',
    '# One passwd-file per user, named by the MD5 of the raw name (see createUser for why).',
    'passdb {',
    '  driver = passwd-file',
    `  args = scheme=PLAIN ${join(usersDir, '%Mu')}`,
    '}',
    '# uid, gid and home come from the passwd-file line; the home is a hashed, backslash-free path.',
    'userdb {',
    '  driver = passwd-file',
    `  args = ${join(usersDir, '%Mu')}`,
    '}',
    '',
    'mail_location = maildir:~/Maildir',
    '# A "+" in a name must not be cut off as an LMTP detail.',
    'recipient_delimiter =',
    '# Keep LMTP output deterministic: only Return-Path is added (see the module comment).',
    'lmtp_hdr_delivery_address = none',
    'lmtp_add_received_header = no',
    'pop3_uidl_format = %08Xu%08Xv',
    '',
    '# Benchmarks open many connections from one user and IP, TLS ones keep a login proxy each.',
    'mail_max_userip_connections = 100',
    'default_process_limit = 1000',
    'default_client_limit = 10000',
    'default_vsz_limit = 1G',
    'protocol imap {',
    '  mail_max_userip_connections = 100',
    '  # Long UID sets in FETCH/STORE commands from the benchmark.',
    '  imap_max_line_length = 10M',
    ...(opts.imapCapability !== undefined ? [`  imap_capability = ${opts.imapCapability}`] : []),
    '}',
    'protocol pop3 {',
    '  mail_max_userip_connections = 100',
    '}',
    '',
  ];
  if (tls) {
    lines.push(
      'ssl = yes',
      `ssl_cert = <${certs.serverCertPath}`,
      `ssl_key = <${certs.serverKeyPath}`,
      `ssl_dh = <${certs.dhPath}`,
    );
    if (opts.requireClientCert) {
      lines.push(
        `ssl_ca = <${certs.caCertPath}`,
        'ssl_verify_client_cert = yes',
        'auth_ssl_require_client_cert = yes',
        '# Our CA publishes no CRL; without this every client certificate would be rejected.',
        'ssl_require_crl = no',
      );
    }
  } else {
    lines.push('ssl = no');
  }
  // Port 0 disables a listener; naming them overrides the built-in 143/993/110/995 ones.
  lines.push(
    '',
    'service imap-login {',
    `  inet_listener imap {\n    address = 127.0.0.1\n    port = ${ports.imap}\n  }`,
    `  inet_listener imaps {\n    address = 127.0.0.1\n    port = ${tls ? ports.imaps : 0}\n    ssl = ${tls ? 'yes' : 'no'}\n  }`,
    '}',
    'service pop3-login {',
    `  inet_listener pop3 {\n    address = 127.0.0.1\n    port = ${ports.pop3}\n  }`,
    `  inet_listener pop3s {\n    address = 127.0.0.1\n    port = ${tls ? ports.pop3s : 0}\n    ssl = ${tls ? 'yes' : 'no'}\n  }`,
    '}',
    'service lmtp {',
    `  inet_listener lmtp {\n    address = 127.0.0.1\n    port = ${ports.lmtp}\n  }`,
    '}',
  );
  if (!identity.root) {
    // Unprivileged: no chroot, no user switching.
    lines.push(
      'service imap-login {\n  chroot =\n}',
      'service pop3-login {\n  chroot =\n}',
      'service anvil {\n  chroot =\n}',
      'service auth-worker {\n  user = $default_internal_user\n}',
    );
  }
  if (opts.extraConfig) lines.push('', '# extraConfig', opts.extraConfig);
  return `${lines.join('\n')}\n`;
}

/** Readable, unique and backslash-free directory name for a user's home. */
function homeDirName(username: string): string {
  const readable = username.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40);
  return `${readable}-${createHash('sha256').update(username, 'utf8').digest('hex').slice(0, 16)}`;
}

/** Reads SMTP/LMTP replies (possibly multi-line) from a socket, one promise per reply. */
class ReplyReader {
  private buf = '';
  private current: string[] = [];
  private readonly ready: Array<{ code: number; text: string }> = [];
  private readonly waiters: Array<{ resolve: (r: { code: number; text: string }) => void; reject: (e: Error) => void }> = [];
  private failure: Error | undefined;

  constructor(socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('LMTP connection closed by Dovecot')));
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).replace(/\r$/, '');
      this.buf = this.buf.slice(nl + 1);
      this.current.push(line);
      if (line.charAt(3) !== '-') {
        const reply = { code: Number(line.slice(0, 3)), text: this.current.join('\n') };
        this.current = [];
        const w = this.waiters.shift();
        if (w) w.resolve(reply);
        else this.ready.push(reply);
      }
    }
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  next(): Promise<{ code: number; text: string }> {
    const r = this.ready.shift();
    if (r) return Promise.resolve(r);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  async expect(codeClass: number, what: string): Promise<void> {
    const r = await this.next();
    if (Math.floor(r.code / 100) !== codeClass) throw new Error(`LMTP ${what} was refused: ${r.text}`);
  }
}

/**
 * SMTP DATA encoding: a leading dot on any line is doubled, and the data must end in a line
 * break before the terminating `.`. A bare-LF ending is accepted by Dovecot as the end of the
 * last line, so only a message without any final line break gets CRLF appended.
 */
function encodeData(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let start = 0;
  const dot = Buffer.from('.');
  if (raw[0] === 0x2e) parts.push(dot);
  for (let i = raw.indexOf(0x0a); i >= 0 && i < raw.length - 1; i = raw.indexOf(0x0a, i + 1)) {
    if (raw[i + 1] === 0x2e) {
      parts.push(raw.subarray(start, i + 1), dot);
      start = i + 1;
    }
  }
  parts.push(raw.subarray(start));
  const last = raw[raw.length - 1];
  parts.push(Buffer.from(last === 0x0a ? '.\r\n' : '\r\n.\r\n'));
  return Buffer.concat(parts);
}

/** An LMTP forward-path for a user name; quoted when it is not a plain dot-atom (e.g. backslashes). */
function lmtpPath(username: string): string {
  if (/^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+(@[A-Za-z0-9.-]+)?$/.test(username) && !/^\.|\.\.|\.(@|$)/.test(username)) {
    return `<${username}>`;
  }
  const at = username.lastIndexOf('@');
  const hasDomain = at > 0 && /^[A-Za-z0-9.-]+$/.test(username.slice(at + 1));
  const local = hasDomain ? username.slice(0, at) : username;
  const quoted = `"${local.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  return `<${quoted}${hasDomain ? username.slice(at) : ''}>`;
}

async function* toAsync(raws: Iterable<Buffer> | AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  yield* raws;
}

/** Writes a buffer to the socket, honouring back-pressure so big batches do not pile up in memory. */
async function write(socket: Socket, data: Buffer | string): Promise<void> {
  if (!socket.write(data)) await once(socket, 'drain');
}

/** All live instances, so the 'exit' hook can stop what a crashing test run left behind. */
const live = new Set<DovecotServer>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: send SIGTERM (the master then stops its children by
  // itself); the watchdog, which sees our pipe close, waits for the exit and removes the directory.
  process.on('exit', () => {
    for (const inst of live) inst.killNow();
  });
}

class DovecotServer implements DovecotInstance {
  readonly host = '127.0.0.1';
  readonly logPath: string;
  readonly configPath: string;
  readonly caCertPath: string;
  readonly serverCertPath: string;
  readonly serverKeyPath: string;
  readonly clientCertPath: string;
  readonly clientKeyPath: string;
  private child: ChildProcess | undefined;
  private watchdog: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private readonly users = new Set<string>();
  private userSeq = 0;
  private loadSeq = 0;
  private stopped = false;

  constructor(
    readonly baseDir: string,
    private readonly ports: Ports,
    readonly caCertPem: string,
    certs: Certificates,
    private readonly usersDir: string,
    private readonly identity: Identity,
    private readonly tls: boolean,
  ) {
    this.logPath = join(baseDir, 'dovecot.log');
    this.configPath = join(baseDir, 'dovecot.conf');
    this.caCertPath = certs.caCertPath;
    this.serverCertPath = certs.serverCertPath;
    this.serverKeyPath = certs.serverKeyPath;
    this.clientCertPath = certs.clientCertPath;
    this.clientKeyPath = certs.clientKeyPath;
  }

  get imapPort(): number {
    return this.ports.imap;
  }
  get imapsPort(): number {
    return this.tls ? this.ports.imaps : 0;
  }
  get pop3Port(): number {
    return this.ports.pop3;
  }
  get pop3sPort(): number {
    return this.tls ? this.ports.pop3s : 0;
  }
  get lmtpPort(): number {
    return this.ports.lmtp;
  }

  /** Starts the master in the foreground and waits until IMAP greets; throws with the log tail on failure. */
  async launch(): Promise<void> {
    const stderrFd = openSync(join(this.baseDir, 'dovecot.stderr.log'), 'a');
    let child: ChildProcess;
    try {
      child = spawn(DOVECOT_BIN, ['-F', '-c', this.configPath], { stdio: ['ignore', stderrFd, stderrFd] });
    } finally {
      closeSync(stderrFd);
    }
    this.child = child;
    let exitCode: number | string | null | undefined;
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        exitCode = code ?? signal;
        live.delete(this);
        resolve();
      });
      child.once('error', (err) => {
        exitCode = err.message;
        resolve();
      });
    });
    // A test that forgets stop() must not keep the runner alive; the exit hook cleans up instead.
    child.unref();
    live.add(this);
    installExitHook();
    this.startWatchdog(child.pid);

    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (exitCode !== undefined) {
        throw new Error(`Dovecot exited during start-up (${String(exitCode)}):\n${await this.logTail()}`);
      }
      if (await imapGreets(this.ports.imap)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    await this.halt();
    throw new Error(`Dovecot did not answer on 127.0.0.1:${this.ports.imap} within ${START_TIMEOUT_MS} ms:\n${await this.logTail()}`);
  }

  /**
   * The 'exit' hook cannot run when this process is SIGKILLed, and cannot wait for Dovecot to
   * finish. A tiny shell that blocks on a pipe from us notices our end (EOF, however we die),
   * sends SIGTERM to the Dovecot PID we started, waits for it (SIGKILL after 5 s) and removes the
   * directory, so nothing is left in /dev/shm (RAM). stop() kills it first.
   */
  private startWatchdog(pid: number | undefined): void {
    if (pid === undefined) return;
    // baseDir comes from mkdtemp (letters, digits, '/', '-'), so single quotes are safe.
    const script =
      `read _ignored; kill -TERM ${pid} 2>/dev/null; n=0; ` +
      `while kill -0 ${pid} 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done; ` +
      `kill -KILL ${pid} 2>/dev/null; rm -rf -- '${this.baseDir}'`;
    const wd = spawn('/bin/sh', ['-c', script], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
    });
    wd.on('error', () => {});
    wd.unref();
    (wd.stdin as unknown as Socket | null)?.unref?.();
    this.watchdog = wd;
  }

  private async logTail(): Promise<string> {
    const read = async (p: string) => (await readFile(p, 'utf8').catch(() => '')).split('\n').slice(-30).join('\n');
    return `${await read(join(this.baseDir, 'dovecot.stderr.log'))}\n${await read(this.logPath)}`.trim();
  }

  /** Synchronous best effort for the process 'exit' hook; the watchdog then waits and cleans up. */
  killNow(): void {
    try {
      this.child?.kill('SIGTERM');
    } catch {
      // already gone
    }
  }

  async createUser(opts: { username?: string; password?: string } = {}): Promise<TestUser> {
    const username = opts.username ?? `u${++this.userSeq}-${randomBytes(4).toString('hex')}`;
    const password = opts.password ?? randomBytes(12).toString('hex');
    if (/[:\r\n\0]/.test(username) || username === '') throw new Error(`test user name ${JSON.stringify(username)} cannot go into a passwd-file`);
    if (/[:\r\n\0]/.test(password)) throw new Error('test password cannot contain ":", newlines or NUL (passwd-file format)');
    if (this.users.has(username)) throw new Error(`test user ${username} exists already`);
    this.users.add(username);
    // One passwd-file per user, named by the MD5 of the name (the config's `%Mu`). A single shared
    // file would go stale: Dovecot stats a passwd-file at most once per second
    // (db-passwd-file.c passwd_file_sync), so a user added in the same second as another lookup
    // would be "unknown" until the next second. A new file is read on its first lookup.
    // Line format: user:password:uid:gid:gecos:home:shell:extra_fields. Dovecot looks the name up
    // with \, " and ' backslash-escaped (auth_request_str_escape), so the key is written escaped.
    const key = username.replace(/[\\"']/g, (c) => `\\${c}`);
    const home = join(this.baseDir, 'mail', homeDirName(username));
    const line = `${key}:{PLAIN}${password}:${this.identity.mailUid}:${this.identity.mailGid}::${home}::\n`;
    const file = join(this.usersDir, createHash('md5').update(username, 'utf8').digest('hex'));
    // Written under a temporary name and renamed, so Dovecot never reads half a line.
    const tmp = `${file}.tmp${randomBytes(4).toString('hex')}`;
    await writeFile(tmp, line, { mode: 0o644 });
    await rename(tmp, file);
    return { username, password };
  }

  private requireUser(username: string): void {
    if (!this.users.has(username)) throw new Error(`unknown test user ${username}: call createUser first`);
  }

  async deliver(username: string, raw: Buffer | string): Promise<void> {
    await this.deliverMany(username, [typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw]);
  }

  async deliverMany(username: string, raws: Iterable<Buffer> | AsyncIterable<Buffer>): Promise<void> {
    this.requireUser(username);
    const socket = connect({ host: this.host, port: this.ports.lmtp });
    socket.setNoDelay(true);
    const replies = new ReplyReader(socket);
    try {
      await replies.expect(2, 'greeting');
      await write(socket, 'LHLO localhost\r\n');
      await replies.expect(2, 'LHLO');
      // Pipelined (RFC 2920, Dovecot advertises PIPELINING): the end of one message's data and
      // the next MAIL/RCPT/DATA go in one write, so each message costs one round trip.
      const envelope = `MAIL FROM:<>\r\nRCPT TO:${lmtpPath(username)}\r\nDATA\r\n`;
      let pendingData = false;
      for await (const raw of toAsync(raws)) {
        await write(socket, envelope);
        if (pendingData) await replies.expect(2, 'message data');
        await replies.expect(2, 'MAIL FROM');
        await replies.expect(2, 'RCPT TO');
        await replies.expect(3, 'DATA');
        await write(socket, encodeData(raw));
        pendingData = true;
      }
      if (pendingData) await replies.expect(2, 'message data');
      await write(socket, 'QUIT\r\n');
      await replies.next().catch(() => undefined);
    } finally {
      socket.destroy();
    }
  }

  maildirOf(username: string): string {
    this.requireUser(username);
    return this.maildir(username);
  }

  private maildir(username: string): string {
    return join(this.baseDir, 'mail', homeDirName(username), 'Maildir');
  }

  async loadMaildir(username: string, raws: Iterable<Buffer> | AsyncIterable<Buffer>): Promise<void> {
    this.requireUser(username);
    const md = this.maildir(username);
    for (const d of [join(md, '..'), md, join(md, 'cur'), join(md, 'new'), join(md, 'tmp')]) {
      await mkdir(d, { recursive: true, mode: 0o700 });
      await chown(d, this.identity.mailUid, this.identity.mailGid);
    }
    // Dovecot orders new files by the time stamp in their name (seconds, then M<microseconds>),
    // so consecutive names give UIDs in the order given. A per-call nonce keeps names unique
    // across calls and processes.
    const nonce = `${process.pid}R${randomBytes(3).toString('hex')}${++this.loadSeq}`;
    const baseSec = Math.floor(Date.now() / 1000);
    const { mailUid, mailGid } = this.identity;
    let i = 0;
    for await (const raw of toAsync(raws)) {
      // ,S= is the file size and ,W= the size with CRLF line endings (RFC822.SIZE). With both in
      // the name Dovecot never has to read the file to answer sizes. Files go to cur/ with an
      // empty ":2," flag part: new/ would make Dovecot rename every file on the first SELECT,
      // inside the benchmark's timing.
      const sec = baseSec + Math.floor(i / 1_000_000);
      const base = `${sec}.M${String(i % 1_000_000).padStart(6, '0')}P${nonce}.mailsluice`;
      const tmp = join(md, 'tmp', base);
      // Synchronous on purpose: async fs calls go through libuv's 4-thread pool, one hop per
      // open/write/chown/close, and are several times slower for many small files. Via tmp/ as
      // Maildir requires, so Dovecot never sees half a file.
      const fd = openSync(tmp, 'wx', 0o600);
      try {
        writeSync(fd, raw);
        fchownSync(fd, mailUid, mailGid);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, join(md, 'cur', `${base},S=${raw.length},W=${virtualSize(raw)}:2,`));
      // Let timers and sockets run now and then; a load of 50,000 must not freeze the process.
      if (++i % 500 === 0) await new Promise((r) => setImmediate(r));
    }
  }

  private async doveadm(args: string[]): Promise<string> {
    try {
      const { stdout } = await execFileP(DOVEADM_BIN, ['-c', this.configPath, ...args]);
      return stdout;
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr ?? '';
      throw new Error(`doveadm ${args.join(' ')} failed: ${stderr.trim()}`, { cause: err });
    }
  }

  async messageCount(username: string, mailbox = 'INBOX'): Promise<number> {
    this.requireUser(username);
    const out = await this.doveadm(['-f', 'flow', 'mailbox', 'status', '-u', username, 'messages', mailbox]);
    const m = /messages=(\d+)/.exec(out);
    if (!m?.[1]) throw new Error(`unexpected doveadm mailbox status output: ${out}`);
    return Number(m[1]);
  }

  async createMailbox(username: string, mailbox: string): Promise<void> {
    this.requireUser(username);
    await this.doveadm(['mailbox', 'create', '-u', username, mailbox]);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.halt();
    await rm(this.baseDir, { recursive: true, force: true, maxRetries: 3 });
  }

  /** Kills the master by the PID we started (SIGTERM, then SIGKILL) and waits until it is gone. */
  private async halt(): Promise<void> {
    // The watchdog goes first: left alone it would SIGTERM a PID that may be reused later.
    this.watchdog?.kill('SIGKILL');
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.ref();
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await this.exited;
      clearTimeout(timer);
    }
    live.delete(this);
  }
}

/** RFC822.SIZE of a message: its length with every bare LF counted as CRLF. */
function virtualSize(raw: Buffer): number {
  let size = raw.length;
  for (let i = raw.indexOf(0x0a); i >= 0; i = raw.indexOf(0x0a, i + 1)) {
    if (i === 0 || raw[i - 1] !== 0x0d) size++;
  }
  return size;
}

/** True once something on the port sends an IMAP `* OK` greeting. */
function imapGreets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    let data = '';
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(2000, () => done(false));
    s.on('error', () => done(false));
    s.on('data', (d: Buffer) => {
      data += d.toString('latin1');
      if (data.includes('\n')) done(data.startsWith('* OK'));
    });
  });
}

/**
 * Where a private server's directory goes: /dev/shm when writable (its fsyncs cost nothing, and
 * the tests' servers need no durability across a reboot), else the temp dir.
 */
export function scratchParentDir(): string {
  try {
    if (statSync('/dev/shm').isDirectory()) {
      accessSync('/dev/shm', fsConstants.W_OK);
      return '/dev/shm';
    }
  } catch {
    // no usable /dev/shm: fall back to the disk
  }
  return tmpdir();
}

/**
 * Starts a private Dovecot (IMAP, IMAPS, POP3, POP3S, LMTP on free 127.0.0.1 ports, Maildir,
 * passwd-file auth, its own CA and certificates) and resolves once it accepts connections.
 * Call {@link DovecotInstance.stop} when done; a process exit stops it too.
 */
export async function startDovecot(opts: DovecotOptions = {}): Promise<DovecotInstance> {
  await ensureDovecotInstalled();
  const identity = await resolveIdentity();
  const dir = await mkdtemp(join(opts.parentDir ?? scratchParentDir(), 'mailsluice-dovecot-'));
  try {
    // Dovecot's unprivileged processes (auth reads the passwd-file, mail processes reach the
    // Maildirs) must be able to traverse it; it holds only throw-away test credentials.
    await chmod(dir, 0o755);
    const mailRoot = join(dir, 'mail');
    await mkdir(mailRoot);
    await chown(mailRoot, identity.mailUid, identity.mailGid);
    await mkdir(join(dir, 'state'));
    const certs = await makeCertificates(dir);
    const caCertPem = await readFile(certs.caCertPath, 'utf8');
    const usersDir = join(dir, 'users');
    await mkdir(usersDir, { mode: 0o755 });

    // Another process may take a probed port before Dovecot binds it; then try new ports.
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const [imap, imaps, pop3, pop3s, lmtp] = await pickFreePorts(5);
      const ports: Ports = { imap: imap!, imaps: imaps!, pop3: pop3!, pop3s: pop3s!, lmtp: lmtp! };
      const server = new DovecotServer(dir, ports, caCertPem, certs, usersDir, identity, !opts.noTls);
      await writeFile(server.configPath, renderConfig({ dir, ports, certs, usersDir, identity, opts }));
      try {
        await server.launch();
        return server;
      } catch (err) {
        lastError = err;
        const msg = err instanceof Error ? err.message : '';
        if (!/Address already in use/i.test(msg)) break;
      }
    }
    throw lastError;
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
