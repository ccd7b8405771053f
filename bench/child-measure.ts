/**
 * Running a benchmark's tool as a child process and measuring it: its wall time, its exact peak
 * RSS and CPU (from the preloaded probe for Node children, from /proc samples for others) and the
 * whole machine's busy and stolen CPU meanwhile. Every tool runs as a child so that its figures are
 * its own, never this process's generated messages and their garbage collection.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../test/harness/cli.js';

/** The compiled preload that reports a Node child's peak RSS and CPU on exit. */
export const PROBE = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), 'rss-probe.js')).href;
/** How often a child's /proc status is sampled (fallback for RSS, and CPU for mbsync). */
const SAMPLE_MS = 20;

/** What a measured child did and cost. */
export interface ChildOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
  wallMs: number;
  peakRssKb: number;
  cpuMs: number | null;
  machineCpuMs: number;
  /** Hypervisor steal during the run, in ms over all cores. */
  stealMs: number;
}

/**
 * CPU time of the whole machine (all cores) from /proc/stat, in ms: `busy` is user, nice,
 * system, irq and softirq; `steal` is time the hypervisor gave our vCPUs to someone else, which
 * is not our work but slows every figure down (this VM shares its host).
 */
function machineCpu(): { busyMs: number; stealMs: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal; USER_HZ is 100 on Linux.
  const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0);
  return { busyMs: busy * 10, stealMs: (f[7] ?? 0) * 10 };
}

function readProc(pid: number, comm: string | null): { hwmKb: number; cpuMs: number } | null {
  try {
    // Between fork and exec the child is still a copy of this process (and its hundreds of MB
    // of messages): only sample once it runs the program we meant.
    if (comm !== null && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== comm) return null;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuMs = (Number(rest[11]) + Number(rest[12])) * 10; // utime, stime
    return { hwmKb: hwm?.[1] ? Number(hwm[1]) : 0, cpuMs };
  } catch {
    return null; // exited between samples
  }
}

/**
 * Runs a child to completion. Peak RSS: for Node children the exact VmHWM the preloaded probe
 * writes on exit; for others (mbsync) VmHWM sampled every 20 ms, which misses only growth in the
 * last interval before exit (VmHWM is the kernel's own high-water mark, so no spike between
 * samples is lost, unlike sampling VmRSS).
 */
export function runChild(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; probe?: boolean }): Promise<ChildOutcome> {
  const probeFile = opts.probe ? join(mkdtempSync(join(tmpdir(), 'mailsluice-probe-')), 'probe.json') : null;
  const env = { ...process.env, ...opts.env, ...(probeFile ? { MAILSLUICE_BENCH_PROBE: probeFile } : {}) };
  const cpu0 = machineCpu();
  const t0 = performance.now();
  const child = spawn(cmd, args, { cwd: opts.cwd ?? REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let sampledKb = 0;
  let sampledCpu = 0;
  const timer = setInterval(() => {
    if (child.pid === undefined) return;
    const p = readProc(child.pid, opts.probe ? null : basename(cmd).slice(0, 15));
    if (p) {
      sampledKb = Math.max(sampledKb, p.hwmKb);
      sampledCpu = Math.max(sampledCpu, p.cpuMs);
    }
  }, SAMPLE_MS);
  return new Promise((resolvePromise, reject) => {
    child.on('error', (err) => {
      clearInterval(timer);
      reject(err);
    });
    child.on('close', (code) => {
      const wallMs = performance.now() - t0;
      const cpu1 = machineCpu();
      const machineCpuMs = cpu1.busyMs - cpu0.busyMs;
      const stealMs = cpu1.stealMs - cpu0.stealMs;
      clearInterval(timer);
      let peakRssKb = sampledKb;
      let cpuMs: number | null = sampledCpu || null;
      if (probeFile) {
        try {
          const p = JSON.parse(readFileSync(probeFile, 'utf8')) as { vmHwmKb: number; userCpuMs: number; systemCpuMs: number };
          // Exact, and never polluted by a sample taken before exec.
          peakRssKb = p.vmHwmKb;
          cpuMs = p.userCpuMs + p.systemCpuMs;
        } catch {
          // the child died before its exit hook: keep the sampled figures
        }
        rmSync(dirname(probeFile), { recursive: true, force: true });
      }
      resolvePromise({ code, stdout, stderr, wallMs, peakRssKb, cpuMs, machineCpuMs, stealMs });
    });
  });
}

