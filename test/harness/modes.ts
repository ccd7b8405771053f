/**
 * Owner-only files (issue 12, item 11; issue 16): the CLI run under `umask 022`, as a shell with
 * the usual umask runs it, and every path under a tree whose mode is not owner-only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, collectCli, type CliResult, type Workspace } from './cli.js';

/** Every path under `path` (itself included) with a mode other than `want.dir` (directories) or `want.file` (files). */
export function wrongModes(path: string, want = { dir: 0o700, file: 0o600 }): string[] {
  const wrong: string[] = [];
  const visit = (p: string): void => {
    const st = lstatSync(p);
    const mode = st.mode & 0o7777;
    const expected = st.isDirectory() ? want.dir : want.file;
    if (mode !== expected) wrong.push(`${p.slice(path.length) || p} is ${mode.toString(8)}, not ${expected.toString(8)}`);
    if (st.isDirectory()) for (const n of readdirSync(p)) visit(join(p, n));
  };
  visit(path);
  return wrong;
}

/** Starts the CLI under `umask 022` (the caller may kill it). */
export function spawnUnderUmask022(args: string[], ws: Workspace): ChildProcess {
  const quoted = [process.execPath, BIN, ...args, '--config', ws.configPath].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return spawn('/bin/sh', ['-c', `umask 022; exec ${quoted}`], { cwd: ws.dir, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs the CLI under `umask 022` to completion. */
export function runUnderUmask022(args: string[], ws: Workspace): Promise<CliResult> {
  return collectCli(spawnUnderUmask022(args, ws));
}
