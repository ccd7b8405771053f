/**
 * `mailsluice test-connection NAME [--probe]`. Loaded only when it runs (main.ts): it brings in
 * the mailbox sources' libraries.
 */
import { existsSync } from 'node:fs';
import { MailsluiceError } from '../core/errors/index.js';
import type { ConnectionConfig } from '../config/loader.js';
import { connectionNamed, readServiceConfig } from '../app/config-file.js';
import { dataPaths } from '../app/embedded.js';
import { testConnection } from '../app/test-connection.js';
import { assertProbeConfigured, serviceHolds, testConnectionWithProbe, type ProbeTestResult, type TestStep } from '../app/probe-test.js';
import { loadOrCreateProbeKey } from '../app/probe-key.js';
import { connectService } from '../app/control-client.js';
import { probeThroughService } from '../app/service-live.js';
import type { ParsedArgs } from './args.js';
import { configPath, withApp } from './commands.js';
import type { Io } from './output.js';
import { checkInfrastructure } from '../app/infrastructure-check.js';
import { stepLine } from './config-commands.js';
import type { ScaleOutConfig } from '../config/scale-out-schema.js';

/**
 * `mailsluice test-connection NAME [--probe]`. The plain test only talks to the mail server and
 * stays in this command beside a running service too; the probe test goes to a running service
 * (ADR 0025), which archives the probe and follows it there.
 */
export async function cmdTestConnection(args: ParsedArgs, io: Io): Promise<number> {
  const name = args.positionals[0];
  if (!name) throw new MailsluiceError('CLI_USAGE', 'test-connection needs the connection name: mailsluice test-connection NAME');
  const config = readServiceConfig(configPath(args));
  const conn = connectionNamed(config, name);
  if (config.scaleOut) return testInScaleOut(config.scaleOut, conn, args, io);
  const hasArchive = existsSync(dataPaths(config.dataDir).db);
  // A probe's steps take up to testRelay.waitMs each: each line is printed as its step completes.
  const live = !args.options.json;
  const onStep = (s: TestStep): void => (live ? io.out(stepLine(s)) : undefined);
  // The STARTTLS downgrade memory lives in the archive: used when one exists, never created here.
  const result = args.options.probe
    ? await probeTest(args, conn, config.dataDir, hasArchive, onStep)
    : hasArchive
      ? await withApp(args, async (app) => testConnection(conn, app.tls))
      : await testConnection(conn);
  if (args.options.json) io.out(JSON.stringify(result) + '\n');
  else {
    if (!args.options.probe) for (const s of result.steps) io.out(stepLine(s));
    for (const w of result.warnings ?? []) io.out(`WARN ${w}\n`);
    io.out(result.ok ? `connection ${name} works\n` : `connection ${name} failed at ${result.steps.find((s) => !s.ok)?.step}\n`);
  }
  return result.ok ? 0 : 1;
}

/**
 * `test-connection NAME` in scale-out mode: the shared infrastructure first (the connection
 * depends on it as much as on its mail server), then the mail server. The probe test (`--probe`)
 * needs a running worker of the cluster, which this build does not reach yet: refused, said so.
 */
async function testInScaleOut(scaleOut: ScaleOutConfig, conn: ConnectionConfig, args: ParsedArgs, io: Io): Promise<number> {
  if (args.options.probe) throw new MailsluiceError('CLI_USAGE', 'test-connection --probe is not available in scale-out mode yet: run the plain test-connection NAME');
  const infrastructure = await checkInfrastructure(scaleOut);
  const result = await testConnection(conn);
  const ok = result.ok && infrastructure.every((s) => s.ok);
  if (args.options.json) io.out(JSON.stringify({ ...result, ok, infrastructure }) + '\n');
  else {
    for (const s of infrastructure) io.out(stepLine(s));
    for (const s of result.steps) io.out(stepLine(s));
    for (const w of result.warnings ?? []) io.out(`WARN ${w}\n`);
    const failed = infrastructure.find((s) => !s.ok)?.step ?? result.steps.find((s) => !s.ok)?.step;
    io.out(ok ? `connection ${conn.name} works, and so does the infrastructure\n` : `connection ${conn.name} failed at ${failed}\n`);
  }
  return ok ? 0 : 1;
}

/**
 * `test-connection NAME --probe`: through a running service's control socket (it sends, archives
 * and finds the probe, and records the test); else here, with the archive (if any) read to look for the probe.
 */
async function probeTest(args: ParsedArgs, conn: ConnectionConfig, dataDir: string, hasArchive: boolean, onStep: (s: TestStep) => void): Promise<ProbeTestResult> {
  assertProbeConfigured(conn);
  const service = hasArchive ? await connectService(dataDir) : null;
  if (service) return probeThroughService(service, conn.name, onStep);
  const key = loadOrCreateProbeKey(dataDir);
  // A drain may hold the archive: it takes the probe if it is still running when the probe comes.
  const archiving = hasArchive && serviceHolds(dataDir);
  return hasArchive
    ? withApp(args, async (app) => testConnectionWithProbe(conn, { key, search: app.store, archiving, memory: app.tls }, onStep))
    : testConnectionWithProbe(conn, { key, archiving: false }, onStep);
}
