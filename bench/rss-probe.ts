/**
 * Preloaded into the benchmark's Node children (`node --import .../rss-probe.js ...`): when the
 * process exits it writes its own peak resident set size and CPU time to the file named by
 * `MAILSLUICE_BENCH_PROBE`.
 *
 * Why a preload rather than watching from outside: after a child exits its /proc entry is gone,
 * and sampling VmRSS from outside misses any peak shorter than the sampling interval. The
 * kernel's high-water mark of the address space (`VmHWM`) read by the process itself on exit is
 * exact, and it covers the worker threads too, since they share the
 * process's address space. The bench still samples VmHWM from outside as a fallback for a
 * child that dies before 'exit' runs.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const target = process.env.MAILSLUICE_BENCH_PROBE;
if (target) {
  process.on('exit', () => {
    const ru = process.resourceUsage();
    // VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child forked from the
    // bench (which holds hundreds of MB of generated mail) would report the bench's RSS.
    // VmHWM belongs to the address space made at exec, i.e. to this program alone.
    let vmHwmKb: number | null = null;
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
      if (m?.[1]) vmHwmKb = Number(m[1]);
    } catch {
      // no procfs: fall back to ru_maxrss, which is right unless the parent was larger
    }
    writeFileSync(target, JSON.stringify({ vmHwmKb: vmHwmKb ?? ru.maxRSS, userCpuMs: ru.userCPUTime / 1000, systemCpuMs: ru.systemCPUTime / 1000 }));
  });
}
