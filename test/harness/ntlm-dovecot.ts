/**
 * A real NTLM server for the IMAP and POP3 tests: a private Dovecot (test/harness/dovecot.ts)
 * whose `ntlm` mechanism goes through a private standalone Samba `winbindd`, as Debian 12's
 * Dovecot 2.3 can only do it (its built-in NTLM was removed upstream in 2.3.13). Written from the
 * measured recipe in `shared/recipes/ntlm-dovecot/`, so `npm test` needs nothing but root and apt.
 *
 * - Samba: `netbios name = CORP` (a standalone server's local SAM domain is its netbios name, not
 *   its workgroup), tdbsam with one user {@link NTLM_USER} / {@link NTLM_PASSWORD} (tdbsam needs a
 *   Unix user of that name, so one is added), no smbd, no network: winbindd only listens on its
 *   Unix sockets under the instance's directory.
 * - Dovecot runs `ntlm_auth` through a wrapper that preloads `libnss_wrapper` with
 *   `SELFTEST_WINBINDD_SOCKET_DIR` (libwbclient ignores `winbindd socket directory` otherwise);
 *   its auth process gets the `winbindd_priv` group for winbindd's privileged pipe.
 * - Dovecot sees the NTLM user as `journal@CORP`; `auth_username_format = %Ln` makes it `journal`
 *   for the passwd-file userdb (the Maildir). A domain of `CORP`, `corp` or empty is accepted,
 *   any other refused (measured in the recipe).
 * - No failure delay (`auth_failure_delay = 0`, anvil's auth penalty off): wrong-password tests
 *   would otherwise wait 2, 4, 8 s …
 *
 * Seen on the wire: Samba's CHALLENGE carries an MsvAvTimestamp, so mailsluice answers with a
 * MIC, which Samba verifies (a wrong MIC is refused: test/e2e/ntlm-auth.test.ts). What this
 * server does NOT check: the channel bindings. Dovecot does not hand its TLS channel to
 * `ntlm_auth`, so Samba accepts any MsvAvChannelBindings; that they are what Exchange's Extended
 * Protection expects rests on the unit tests (RFC 5929 / MS-NLMP), not on a server.
 * Started once per test file, stopped by the PIDs we started (and their children); a watchdog
 * stops winbindd if this process dies without stopping it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { aptInstall, startDovecot, type DovecotInstance, type DovecotOptions } from './dovecot.js';

const execFileP = promisify(execFile);

/** The NTLM domain of the test server. */
export const NTLM_DOMAIN = 'CORP';
/** The one NTLM account (also a Dovecot mailbox user of the same name). */
export const NTLM_USER = 'journal';
/** Its password (Samba's tdbsam and Dovecot's passwd-file both hold it). */
export const NTLM_PASSWORD = 'Secret123!';

const NSS_WRAPPER = '/usr/lib/x86_64-linux-gnu/libnss_wrapper.so';
const REQUIRED = ['/usr/sbin/winbindd', '/usr/bin/ntlm_auth', '/usr/bin/wbinfo', '/usr/bin/pdbedit', NSS_WRAPPER];
const PACKAGES = ['samba', 'winbind', 'samba-common-bin', 'libnss-wrapper'];
const START_TIMEOUT_MS = 15_000;

/** A running Dovecot with NTLM through winbindd; {@link stop} stops both. */
export interface NtlmDovecot {
  readonly dovecot: DovecotInstance;
  /** Samba's directory (config, tdbsam, sockets, logs); removed by {@link stop}. */
  readonly sambaDir: string;
  stop(): Promise<void>;
}

async function ensureSambaInstalled(): Promise<void> {
  if (REQUIRED.every((f) => existsSync(f))) return;
  if (process.getuid?.() !== 0) throw new Error(`The NTLM tests need ${PACKAGES.join(', ')} (missing: ${REQUIRED.filter((f) => !existsSync(f)).join(', ')}) and this process is not root, so apt-get cannot install them.`);
  await aptInstall(PACKAGES);
  const still = REQUIRED.filter((f) => !existsSync(f));
  if (still.length > 0) throw new Error(`Samba is not usable: ${still.join(', ')} still missing after installing ${PACKAGES.join(', ')}.`);
}

/** The environment that makes wbinfo/ntlm_auth talk to our winbindd, not the system one. */
function wrapperEnv(sambaDir: string): NodeJS.ProcessEnv {
  return { ...process.env, LD_PRELOAD: NSS_WRAPPER, NSS_WRAPPER_PASSWD: '/etc/passwd', NSS_WRAPPER_GROUP: '/etc/group', SELFTEST_WINBINDD_SOCKET_DIR: join(sambaDir, 'winbindd') };
}

function smbConf(s: string): string {
  return `[global]
  # standalone: the local SAM domain is the NETBIOS NAME, so the host is named after the domain
  netbios name = ${NTLM_DOMAIN}
  workgroup = WORKGROUP
  server role = standalone server
  passdb backend = tdbsam
  private dir = ${s}/private
  lock directory = ${s}/lock
  state directory = ${s}/state
  cache directory = ${s}/cache
  pid directory = ${s}/pid
  ncalrpc dir = ${s}/ncalrpc
  winbindd socket directory = ${s}/winbindd
  log file = ${s}/log/%m.log
  interfaces = lo
  bind interfaces only = yes
  disable netbios = yes
  # NTLMv2 only, as a current Windows domain requires: mailsluice must not need less.
  ntlm auth = ntlmv2-only
`;
}

/** PIDs of `pid`'s descendants, deepest last (from /proc: PID 1 here does not reap, so no pgrep). */
function descendants(pid: number): number[] {
  const out: number[] = [];
  let kids: string[] = [];
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean);
  } catch {
    return out;
  }
  for (const k of kids) out.push(Number(k), ...descendants(Number(k)));
  return out;
}

/** Alive and not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * A shell blocked on a pipe from us: at EOF (however this process ends) it stops the winbindd we
 * started, by PID, and removes its directory, as test/harness/dovecot.ts does for Dovecot.
 */
function startWatchdog(pid: number | undefined, dir: string): void {
  if (pid === undefined) return;
  const script = `read _ignored; kill -TERM ${pid} 2>/dev/null; n=0; while kill -0 ${pid} 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done; kill -KILL ${pid} 2>/dev/null; rm -rf -- '${dir}'`;
  const wd = spawn('/bin/sh', ['-c', script], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  wd.on('error', () => {});
  wd.unref();
  (wd.stdin as unknown as { unref?: () => void } | null)?.unref?.();
}

/**
 * Starts Samba's winbindd (domain CORP, user journal) and a private Dovecot whose NTLM goes
 * through it, with TLS on its IMAPS/POP3S ports as usual. Throws with the logs when either does
 * not come up: the NTLM tests fail loudly rather than skip.
 */
export async function startNtlmDovecot(opts: DovecotOptions = {}): Promise<NtlmDovecot> {
  await ensureSambaInstalled();
  // tdbsam needs a Unix user; two test files may race to add it, so a failed useradd counts
  // only if the user is still missing afterwards.
  const hasUser = (): Promise<boolean> => execFileP('id', [NTLM_USER]).then(() => true, () => false);
  if (!(await hasUser())) {
    await execFileP('useradd', ['-M', '-d', '/nonexistent', '-s', '/usr/sbin/nologin', NTLM_USER]).catch(async (err: Error) => {
      if (!(await hasUser())) throw new Error(`cannot add the Unix user ${NTLM_USER} that Samba's tdbsam needs: ${err.message}`);
    });
  }
  const s = await mkdtemp(join(tmpdir(), 'mailsluice-samba-'));
  await chmod(s, 0o755);
  for (const d of ['private', 'lock', 'state', 'cache', 'pid', 'log', 'winbindd', 'ncalrpc']) await mkdir(join(s, d));
  const conf = join(s, 'smb.conf');
  await writeFile(conf, smbConf(s));
  let winbindd: ChildProcess | undefined;
  let dovecot: DovecotInstance | undefined;
  const stopSamba = async (): Promise<void> => {
    const pid = winbindd?.pid;
    if (pid !== undefined) {
      const pids = [pid, ...descendants(pid)];
      const dcerpcd = join(s, 'pid', 'samba-dcerpcd.pid');
      if (existsSync(dcerpcd)) {
        const p = Number(readFileSync(dcerpcd, 'utf8').trim());
        // Only if it is ours: its command line names our smb.conf.
        if (p > 0 && alive(p) && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(s)) pids.push(p, ...descendants(p));
      }
      for (const p of pids) if (alive(p)) process.kill(p, 'SIGTERM');
      for (let i = 0; i < 50 && pids.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
      for (const p of pids) if (alive(p)) process.kill(p, 'SIGKILL');
    }
    rmSync(s, { recursive: true, force: true });
  };
  try {
    await execFileP('/bin/sh', ['-c', `(printf '%s\\n%s\\n' "$PW" "$PW") | pdbedit -s '${conf}' -t -a -u ${NTLM_USER}`], { env: { ...process.env, PW: NTLM_PASSWORD } });
    const wrapper = join(s, 'ntlm_auth.sh');
    const env = wrapperEnv(s);
    await writeFile(
      wrapper,
      `#!/bin/sh\n# libwbclient honours SELFTEST_WINBINDD_SOCKET_DIR only with nss_wrapper preloaded\nexec env LD_PRELOAD=${NSS_WRAPPER} NSS_WRAPPER_PASSWD=/etc/passwd NSS_WRAPPER_GROUP=/etc/group SELFTEST_WINBINDD_SOCKET_DIR=${s}/winbindd /usr/bin/ntlm_auth --configfile=${conf} "$@"\n`,
      { mode: 0o755 },
    );
    winbindd = spawn('/usr/sbin/winbindd', ['-F', '--no-process-group', '-s', conf], { stdio: 'ignore' });
    winbindd.unref();
    startWatchdog(winbindd.pid, s);
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const up = await execFileP('wbinfo', ['-p'], { env }).then(() => true, () => false);
      if (up) break;
      if (winbindd.exitCode !== null || Date.now() > deadline) {
        throw new Error(`winbindd did not come up (exit ${String(winbindd.exitCode)}):\n${readFileSync(join(s, 'log', 'winbindd.log'), 'utf8').split('\n').slice(-20).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await execFileP('chgrp', ['winbindd_priv', join(s, 'state', 'winbindd_privileged')]);
    await execFileP(wrapper, [`--username=${NTLM_USER}`, `--domain=${NTLM_DOMAIN}`, `--password=${NTLM_PASSWORD}`]).catch((err: Error) => {
      throw new Error(`Samba's own NTLM check of ${NTLM_DOMAIN}\\${NTLM_USER} failed: ${err.message}`);
    });
    dovecot = await startDovecot({
      ...opts,
      extraConfig: [
        'auth_mechanisms = plain login ntlm',
        'auth_use_winbind = yes',
        `auth_winbind_helper_path = ${wrapper}`,
        '# NTLM users arrive as journal@CORP; %Ln keeps the lower-cased user part for the passwd-file userdb.',
        'auth_username_format = %Ln',
        'auth_failure_delay = 0',
        'service auth {\n  extra_groups = winbindd_priv\n}',
        'service anvil {\n  unix_listener anvil-auth-penalty {\n    mode = 0\n  }\n}',
        opts.extraConfig ?? '',
      ].join('\n'),
    });
    await dovecot.createUser({ username: NTLM_USER, password: NTLM_PASSWORD });
  } catch (err) {
    await dovecot?.stop().catch(() => undefined);
    await stopSamba();
    throw err;
  }
  const d = dovecot;
  return {
    dovecot: d,
    sambaDir: s,
    async stop() {
      await d.stop();
      await stopSamba();
    },
  };
}
