/**
 * A private S3 server for the tests: a single-node Ceph (one monitor, one memstore OSD, no mgr)
 * with the RADOS Gateway on a free 127.0.0.1 port, everything under one temporary directory.
 *
 * Debian 12 packages no MinIO, SeaweedFS or Garage; radosgw is the one real S3 implementation it
 * ships, and the issue forbids fakes. The cephx keys are made locally the way Ceph's vstart.sh
 * does it, so nothing outside the directory is read or written. The daemons are our children, in
 * their own session, and are stopped by the PIDs we started, never by name; a watchdog shell
 * stops them and removes the directory when this process dies without calling stop().
 *
 * Start cost (2 cores, shared, loaded): 2.8–4.8 s until signed requests work, most of it the
 * `ceph` CLI's Python start-up (each call ~0.4 s) and the OSD's boot; installing the Debian
 * packages on a fresh machine ~48 s (ADR 0049). Start one per test file ({@link cephRgwPerFile})
 * and give each test its own bucket. radosgw runs with `tcp_nodelay=1`: without it every GET
 * waited ~40 ms (Nagle on the server against the client's delayed ACK).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, mkdir, writeFile, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { before, after } from 'node:test';
import {
  S3Client,
  CreateBucketCommand,
  PutObjectCommand,
  DeleteObjectCommand,
  DeleteBucketCommand,
  CreateMultipartUploadCommand,
  AbortMultipartUploadCommand,
} from '@aws-sdk/client-s3';
import { aptInstall, scratchParentDir } from './dovecot.js';
import { freePort } from './free-port.js';

const execFileP = promisify(execFile);

/** The binaries the harness runs, and the Debian packages that bring them. */
const REQUIRED_FILES = [
  '/usr/bin/ceph-mon',
  '/usr/bin/ceph-osd',
  '/usr/bin/radosgw',
  '/usr/bin/radosgw-admin',
  '/usr/bin/ceph',
  '/usr/bin/ceph-authtool',
  '/usr/bin/monmaptool',
];
const DEBIAN_PACKAGES = ['ceph-mon', 'ceph-osd', 'radosgw', 'ceph-common'];

/** One `ceph`/`radosgw-admin` call; a hung monitor must fail the start, not the whole run. */
const CLI_TIMEOUT_MS = 60_000;
/** How long the OSD and radosgw may each take to come up. */
const UP_TIMEOUT_MS = 60_000;
/** SIGTERM grace before SIGKILL, per daemon. */
const STOP_TIMEOUT_MS = 10_000;

/** A running private S3 server. */
export interface CephRgw {
  /** `http://127.0.0.1:PORT`, path-style addressing, region {@link region}. */
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** The daemons' PIDs (mon, osd, rgw), as started. */
  readonly pids: readonly number[];
  /** Milliseconds from the call until the server answered signed S3 requests. */
  readonly startMs: number;
  /** The directory holding config, keys, logs and the monitor's store. */
  readonly dir: string;
  /** A client for the tests' own checks (listing, overwriting), path-style like the adapter. */
  client(overrides?: { accessKeyId?: string; secretAccessKey?: string }): S3Client;
  /**
   * A fresh bucket with a unique name; `objectLock`: created with Object Lock enabled (versioned).
   * Locked objects are never removed by the harness: `stop()` throws the whole memstore cluster
   * away, so GOVERNANCE and COMPLIANCE locks alike cost nothing at teardown.
   */
  createBucket(prefix?: string, options?: { objectLock?: boolean }): Promise<string>;
  /** The daemons' resident memory now, in MiB (memstore keeps the objects in the OSD's RAM). */
  rssMB(): number;
  /** Stops exactly the daemons started here and removes the directory. */
  stop(): Promise<void>;
}

function missingFiles(): string[] {
  return REQUIRED_FILES.filter((f) => !existsSync(f));
}

/**
 * Makes sure Ceph's monitor, OSD, radosgw and CLI are installed, installing Debian's packages
 * when they are missing (about a minute on a fresh machine). Throws when they cannot be had: the
 * S3 tests fail loudly rather than skip.
 */
export async function ensureCephInstalled(): Promise<void> {
  if (missingFiles().length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `The S3 tests need ${DEBIAN_PACKAGES.join(', ')} (a real Ceph RADOS Gateway) but they are not installed and this process is not root, so they cannot be installed with apt-get.`,
    );
  }
  try {
    await aptInstall(DEBIAN_PACKAGES);
  } catch (err) {
    throw new Error(`Installing ${DEBIAN_PACKAGES.join(', ')} with apt-get failed; the S3 tests need a real Ceph RADOS Gateway.`, { cause: err });
  }
  const still = missingFiles();
  if (still.length > 0) throw new Error(`Ceph is not usable: ${still.join(', ')} still missing after installing ${DEBIAN_PACKAGES.join(', ')}.`);
}

interface Layout {
  dir: string;
  cluster: string;
  conf: string;
  keyring: string;
  monPort: number;
  rgwPort: number;
  fsid: string;
}

/** ceph.conf as the recipe measured it; `paxos propose interval` is what makes start take seconds. */
function renderConf(l: Layout): string {
  const d = l.dir;
  return `[global]
fsid = ${l.fsid}
mon host = v2:127.0.0.1:${l.monPort}
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
run dir = ${d}/run
crash dir = ${d}/crash
log file = ${d}/log/$name.log
mon cluster log file = ${d}/log/cluster.log
log to syslog = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon max pg per osd = 1000
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
paxos propose interval = 0.05
mon osd prime pg temp = false
[mon]
mon data = ${d}/mon/$cluster-$id
admin socket = ${d}/run/$name.asok
pid file = ${d}/run/$name.pid
[osd]
osd data = ${d}/osd$id
keyring = ${d}/osd$id/keyring
osd objectstore = memstore
memstore device bytes = 4294967296
admin socket = ${d}/run/$name.asok
pid file = ${d}/run/$name.pid
[client]
keyring = ${l.keyring}
log file = ${d}/log/$name.$pid.log
[client.rgw.${l.cluster}]
keyring = ${d}/rgw/keyring
log file = ${d}/log/$name.log
admin socket = ${d}/run/$name.asok
pid file = ${d}/run/$name.pid
rgw data = ${d}/rgw
rgw frontends = beast endpoint=127.0.0.1:${l.rgwPort} tcp_nodelay=1
rgw thread pool size = 128
`;
}

/** True once something answers HTTP on the port (radosgw's anonymous bucket listing). */
function httpAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', timeout: 2000, agent: false }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class CephRgwServer implements CephRgw {
  readonly region = 'us-east-1';
  readonly accessKeyId = `MSTEST${randomBytes(7).toString('hex').toUpperCase()}`;
  readonly secretAccessKey = randomBytes(20).toString('hex');
  readonly endpoint: string;
  startMs = 0;
  private readonly children: { name: string; child: ChildProcess; exited: Promise<void> }[] = [];
  private watchdog: ChildProcess | undefined;
  private stopped = false;
  private bucketSeq = 0;

  constructor(private readonly l: Layout) {
    this.endpoint = `http://127.0.0.1:${l.rgwPort}`;
  }

  get dir(): string {
    return this.l.dir;
  }
  get pids(): number[] {
    return this.children.map((c) => c.child.pid!).filter((p) => p !== undefined);
  }

  private args(): string[] {
    return ['--cluster', this.l.cluster, '-c', this.l.conf];
  }

  /** Runs a Ceph CLI tool with the cluster's config and admin keyring; its output, or a loud error. */
  private async cli(bin: string, args: string[]): Promise<string> {
    try {
      const { stdout } = await execFileP(bin, [...this.args(), '-k', this.l.keyring, ...args], { timeout: CLI_TIMEOUT_MS });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`\`${bin} ${args.join(' ')}\` failed: ${(e.stderr ?? '').trim() || e.message}\n${await this.logTail()}`);
    }
  }

  /** Starts a daemon in the foreground (-f) as our child in its own session, logging to a file. */
  private spawnDaemon(name: string, bin: string, args: string[]): void {
    const fd = openSync(join(this.l.dir, 'log', `${name}.out`), 'a');
    let child: ChildProcess;
    try {
      child = spawn(bin, [...this.args(), ...args, '-f'], { stdio: ['ignore', fd, fd], detached: true });
    } finally {
      closeSync(fd);
    }
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    child.unref();
    this.children.push({ name, child, exited });
    live.add(this);
    this.restartWatchdog();
  }

  /**
   * A shell blocking on a pipe from us: when we die however (even SIGKILL) it reads EOF, stops
   * the PIDs we started (last first) and removes the directory. Re-made after each spawn so it
   * knows every PID; stop() ends it first.
   */
  private restartWatchdog(): void {
    this.endWatchdog();
    const pids = this.pids.slice().reverse().join(' ');
    // dir comes from mkdtemp (letters, digits, '/', '-'), so single quotes are safe.
    const script =
      `read _ignored; for p in ${pids}; do kill -TERM $p 2>/dev/null; done; n=0; ` +
      `while [ $n -lt 100 ]; do alive=0; for p in ${pids}; do kill -0 $p 2>/dev/null && alive=1; done; ` +
      `[ $alive = 0 ] && break; sleep 0.1; n=$((n+1)); done; ` +
      `for p in ${pids}; do kill -KILL $p 2>/dev/null; done; rm -rf -- '${this.l.dir}'`;
    const wd = spawn('/bin/sh', ['-c', script], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    wd.on('error', () => {});
    wd.unref();
    (wd.stdin as unknown as Socket | null)?.unref?.();
    this.watchdog = wd;
  }

  private endWatchdog(): void {
    if (!this.watchdog) return;
    try {
      this.watchdog.kill('SIGKILL');
    } catch {
      // gone already
    }
    this.watchdog = undefined;
  }

  private exitedEarly(): string | undefined {
    const dead = this.children.find((c) => c.child.exitCode !== null || c.child.signalCode !== null);
    return dead ? `${dead.name} exited (${String(dead.child.exitCode ?? dead.child.signalCode)})` : undefined;
  }

  async logTail(): Promise<string> {
    const names = ['mon.a', 'osd.0', `rgw.${this.l.cluster}`];
    const parts: string[] = [];
    for (const n of names) {
      const text = await readFile(join(this.l.dir, 'log', `${n}.out`), 'utf8').catch(() => '');
      const log = await readFile(join(this.l.dir, 'log', `${n === `rgw.${this.l.cluster}` ? `client.${n}` : n}.log`), 'utf8').catch(() => '');
      const tail = `${text}\n${log}`.trim().split('\n').slice(-15).join('\n');
      if (tail) parts.push(`--- ${n} (${this.l.dir}/log)\n${tail}`);
    }
    return parts.join('\n');
  }

  /** The whole start sequence; throws with the daemons' log tails on any failure. */
  async launch(): Promise<void> {
    const { dir, keyring } = this.l;
    const t0 = performance.now();
    await this.makeKeysAndMon(dir, keyring);
    await this.startOsd(dir);
    await this.startRgw(dir);
    await this.cli('/usr/bin/radosgw-admin', [
      'user', 'create', '--uid=test', '--display-name=test',
      `--access-key=${this.accessKeyId}`, `--secret-key=${this.secretAccessKey}`,
    ]);
    await this.warmUp();
    this.startMs = Math.round(performance.now() - t0);
  }

  private async makeKeysAndMon(dir: string, keyring: string): Promise<void> {
    // Keyrings as vstart.sh makes them: mon. and client.admin in one keyring used for mkfs.
    await execFileP('/usr/bin/ceph-authtool', ['--create-keyring', keyring, '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *']);
    await execFileP('/usr/bin/ceph-authtool', [
      keyring, '--gen-key', '-n', 'client.admin',
      '--cap', 'mon', 'allow *', '--cap', 'osd', 'allow *', '--cap', 'mds', 'allow *', '--cap', 'mgr', 'allow *',
    ]);
    const monmap = join(dir, 'monmap');
    await execFileP('/usr/bin/monmaptool', ['--create', '--fsid', this.l.fsid, '--addv', 'a', `[v2:127.0.0.1:${this.l.monPort}]`, monmap]);
    await execFileP('/usr/bin/ceph-mon', [...this.args(), '--mkfs', '-i', 'a', '--monmap', monmap, '--keyring', keyring]);
    this.spawnDaemon('mon.a', '/usr/bin/ceph-mon', ['-i', 'a']);
  }

  private async startOsd(dir: string): Promise<void> {
    // As vstart.sh: `osd new` with a locally generated cephx secret.
    const osdUuid = randomUUID();
    const secret = (await execFileP('/usr/bin/ceph-authtool', ['--gen-print-key'])).stdout.trim();
    const newJson = join(dir, 'osd0', 'new.json');
    await writeFile(newJson, JSON.stringify({ cephx_secret: secret }));
    const id = (await this.cli('/usr/bin/ceph', ['osd', 'new', osdUuid, '-i', newJson])).trim();
    await rm(newJson);
    if (id !== '0') throw new Error(`ceph osd new gave id ${id}, expected 0`);
    await writeFile(join(dir, 'osd0', 'keyring'), `[osd.0]\n\tkey = ${secret}\n`);
    await execFileP('/usr/bin/ceph-osd', [...this.args(), '-i', '0', '--mkfs', '--key', secret, '--osd-uuid', osdUuid], { timeout: CLI_TIMEOUT_MS });
    this.spawnDaemon('osd.0', '/usr/bin/ceph-osd', ['-i', '0']);
    const deadline = Date.now() + UP_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const early = this.exitedEarly();
      if (early) throw new Error(`Ceph ${early} during start-up:\n${await this.logTail()}`);
      const dump = await this.cli('/usr/bin/ceph', ['osd', 'dump']).catch(() => '');
      if (/^osd\.0 up/m.test(dump)) return;
      await sleep(300);
    }
    throw new Error(`Ceph osd.0 did not come up within ${UP_TIMEOUT_MS} ms:\n${await this.logTail()}`);
  }

  private async startRgw(dir: string): Promise<void> {
    const name = `client.rgw.${this.l.cluster}`;
    await this.cli('/usr/bin/ceph', ['auth', 'get-or-create', name, 'mon', 'allow rw', 'osd', 'allow rwx', 'mgr', 'allow rw', '-o', join(dir, 'rgw', 'keyring')]);
    this.spawnDaemon(`rgw.${this.l.cluster}`, '/usr/bin/radosgw', ['-n', name]);
    const deadline = Date.now() + UP_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const early = this.exitedEarly();
      if (early) throw new Error(`Ceph ${early} during start-up:\n${await this.logTail()}`);
      if (await httpAnswers(this.l.rgwPort)) return;
      await sleep(200);
    }
    throw new Error(`radosgw did not answer on 127.0.0.1:${this.l.rgwPort} within ${UP_TIMEOUT_MS} ms:\n${await this.logTail()}`);
  }

  /** radosgw makes its data and multipart pools on first use; make them now, not in a timed test. */
  private async warmUp(): Promise<void> {
    const s3 = this.client();
    try {
      const Bucket = 'startup-check';
      await s3.send(new CreateBucketCommand({ Bucket }));
      await s3.send(new PutObjectCommand({ Bucket, Key: 'o', Body: Buffer.alloc(0), ContentLength: 0 }));
      const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'm' }));
      await s3.send(new AbortMultipartUploadCommand({ Bucket, Key: 'm', UploadId }));
      await s3.send(new DeleteObjectCommand({ Bucket, Key: 'o' }));
      await s3.send(new DeleteBucketCommand({ Bucket }));
    } catch (err) {
      throw new Error(`radosgw answers but signed S3 requests fail: ${(err as Error).message}\n${await this.logTail()}`, { cause: err });
    } finally {
      s3.destroy();
    }
  }

  client(overrides: { accessKeyId?: string; secretAccessKey?: string } = {}): S3Client {
    return new S3Client({
      endpoint: this.endpoint,
      region: this.region,
      forcePathStyle: true,
      credentials: {
        accessKeyId: overrides.accessKeyId ?? this.accessKeyId,
        secretAccessKey: overrides.secretAccessKey ?? this.secretAccessKey,
      },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  async createBucket(prefix = 't', options: { objectLock?: boolean } = {}): Promise<string> {
    const name = `${prefix}-${process.pid}-${++this.bucketSeq}-${randomBytes(3).toString('hex')}`.toLowerCase();
    const s3 = this.client();
    try {
      await s3.send(new CreateBucketCommand({ Bucket: name, ...(options.objectLock ? { ObjectLockEnabledForBucket: true } : {}) }));
    } finally {
      s3.destroy();
    }
    return name;
  }

  rssMB(): number {
    let kb = 0;
    for (const pid of this.pids) {
      try {
        kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
      } catch {
        // exited
      }
    }
    return Math.round(kb / 1024);
  }

  /** Synchronous best effort for the 'exit' hook; the watchdog then waits and removes the directory. */
  killNow(): void {
    for (const c of this.children.slice().reverse()) {
      try {
        c.child.kill('SIGTERM');
      } catch {
        // gone already
      }
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.endWatchdog();
    // rgw, then osd, then mon: each client is gone before what it talks to.
    for (const c of this.children.slice().reverse()) {
      if (c.child.exitCode !== null || c.child.signalCode !== null) continue;
      c.child.kill('SIGTERM');
      const timer = sleep(STOP_TIMEOUT_MS).then(() => 'timeout');
      if ((await Promise.race([c.exited.then(() => 'exited'), timer])) === 'timeout') {
        c.child.kill('SIGKILL');
        await c.exited;
      }
    }
    live.delete(this);
    await rm(this.l.dir, { recursive: true, force: true });
  }
}

const live = new Set<CephRgwServer>();
process.on('exit', () => {
  for (const s of live) s.killNow();
});

/**
 * Starts a private Ceph RGW and resolves once it answers signed S3 requests (bucket, object and
 * multipart calls warmed up). Installs the Debian packages first when missing. Never skips:
 * throws, with the daemons' log tails, when it cannot start.
 */
export async function startCephRgw(): Promise<CephRgw> {
  await ensureCephInstalled();
  const dir = await mkdtemp(join(scratchParentDir(), 'mailsluice-ceph-'));
  try {
    for (const sub of ['mon', 'osd0', 'rgw', 'run', 'log', 'crash']) await mkdir(join(dir, sub));
    const monPort = await freePort();
    let rgwPort = await freePort();
    while (rgwPort === monPort) rgwPort = await freePort();
    const layout: Layout = {
      dir,
      cluster: `ms${rgwPort}`,
      conf: join(dir, 'ceph.conf'),
      keyring: join(dir, 'keyring'),
      monPort,
      rgwPort,
      fsid: randomUUID(),
    };
    await writeFile(layout.conf, renderConf(layout));
    const server = new CephRgwServer(layout);
    try {
      await server.launch();
    } catch (err) {
      await server.stop().catch(() => {});
      throw err;
    }
    return server;
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * One private Ceph RGW for the test file: started before its first test, stopped after its last.
 * The returned stand-in forwards to the server once `before` has run.
 */
export function cephRgwPerFile(): CephRgw {
  let server: CephRgw | null = null;
  before(async () => {
    server = await startCephRgw();
    process.stderr.write(`# ceph rgw ready on ${server.endpoint} in ${server.startMs} ms\n`);
  });
  after(async () => {
    if (server) process.stderr.write(`# ceph rgw daemons' RSS at the end: ${server.rssMB()} MB\n`);
    await server?.stop();
  });
  return new Proxy({} as CephRgw, {
    get(_t, key) {
      if (!server) throw new Error(`the test Ceph RGW is not started yet (reading ${String(key)} outside a test or hook)`);
      const v = (server as unknown as Record<PropertyKey, unknown>)[key];
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(server) : v;
    },
  });
}
