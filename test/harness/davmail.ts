/**
 * Debian's DavMail (an independent, widely used EWS client, a Java gateway that speaks IMAP to its
 * users and EWS to Exchange) run against the EWS simulator, so the simulator is checked by a
 * client that is not ours. Installed with apt-get when missing (as the Dovecot harness installs
 * Dovecot), run as a child of the test in server mode with its own properties file, IMAP on a free
 * loopback port, trusting the simulator's self-signed certificate by its SHA-1 fingerprint (the
 * `davmail.server.certificate.hash` setting), and stopped by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aptInstall } from './dovecot.js';
import { freePort } from './free-port.js';

const JAR = '/usr/share/davmail/davmail.jar';

/** Installs Debian's davmail-server (headless) when its jar is missing; throws when it cannot. */
export async function ensureDavmailInstalled(): Promise<void> {
  if (existsSync(JAR)) return;
  if (process.getuid?.() !== 0) throw new Error('The davmail check needs Debian\'s davmail-server, which is not installed, and this process is not root to apt-get it.');
  await aptInstall(['davmail-server']);
  if (!existsSync(JAR)) throw new Error(`davmail-server was installed but ${JAR} is still missing.`);
}

/** A running DavMail. */
export interface DavmailInstance {
  readonly imapPort: number;
  readonly pid: number;
  /** DavMail's own log (DEBUG), for diagnostics when the check fails. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

function imapGreets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('data', (d: Buffer) => {
      s.destroy();
      resolve(d.toString('latin1').startsWith('* OK'));
    });
    s.once('error', () => resolve(false));
  });
}

/** Starts DavMail in EWS mode against `ewsUrl` (https), trusting the certificate `certDer`. */
export async function startDavmail(opts: { ewsUrl: string; certDer: Buffer; debug?: boolean }): Promise<DavmailInstance> {
  await ensureDavmailInstalled();
  const dir = await mkdtemp(join(tmpdir(), 'davmail-'));
  const imapPort = await freePort();
  const sha1 = createHash('sha1').update(opts.certDer).digest('hex').match(/../g)!.join(':');
  const logPath = join(dir, 'davmail.log');
  const props = [
    'davmail.server=true',
    'davmail.mode=EWS',
    `davmail.url=${opts.ewsUrl}`,
    `davmail.imapPort=${imapPort}`,
    // The other gateways stay off: an empty port disables a service.
    'davmail.popPort=', 'davmail.smtpPort=', 'davmail.caldavPort=', 'davmail.ldapPort=',
    'davmail.bindAddress=127.0.0.1',
    'davmail.allowRemote=false',
    `davmail.server.certificate.hash=${sha1}`,
    'davmail.enableProxy=false',
    'davmail.useSystemProxies=false',
    'davmail.disableUpdateCheck=true',
    'davmail.enableKeepAlive=true',
    'davmail.ssl.nosecureimap=false',
    `davmail.logFilePath=${logPath}`,
    `log4j.logger.davmail=${opts.debug === false ? 'INFO' : 'DEBUG'}`,
    'log4j.logger.httpclient.wire=WARN',
    'log4j.logger.org.apache.http.wire=WARN',
    'log4j.rootLogger=WARN',
    '',
  ].join('\n');
  const propsPath = join(dir, 'davmail.properties');
  await writeFile(propsPath, props);
  const child: ChildProcess = spawn('java', ['-Djava.awt.headless=true', '-jar', JAR, '-server', propsPath], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString('utf8')));
  const pid = child.pid!;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(pid, 'SIGTERM');
      const timer = setTimeout(() => process.kill(pid, 'SIGKILL'), 5000);
      await once(child, 'exit');
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const t0 = Date.now();
  while (!(await imapGreets(imapPort))) {
    if (child.exitCode !== null || Date.now() - t0 > 60_000) {
      await stop();
      throw new Error(`DavMail did not open its IMAP port ${imapPort} (exit ${String(child.exitCode)}):\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    imapPort,
    pid,
    log: async () => `${output}\n${existsSync(logPath) ? await readFile(logPath, 'utf8') : ''}`,
    stop,
  };
}
