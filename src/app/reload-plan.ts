/**
 * What applying the configuration file again changes (ADR 0024), decided from the running
 * configuration and the file's, before anything is touched: which connections start, restart
 * and stop, whether the routes (and the dispatcher's settings) changed, and which settings only
 * a restart can apply. Pure: `PipelineRun.reload` does what it says.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Config, ConnectionConfig } from '../config/loader.js';

/** A reload to do. */
export interface ReloadPlan {
  /** Enabled connections new to the running configuration, or enabled now. */
  start: ConnectionConfig[];
  /** Enabled connections whose resolved settings changed: stopped, then started with these. */
  restart: ConnectionConfig[];
  /** Names of running connections removed or disabled. */
  stop: string[];
  /** Whether the routes changed. */
  routesChanged: boolean;
  /** Whether the dispatcher thread must run anew: its routes or its settings (`busConcurrency`, `deliveryRetry`) changed. */
  dispatcherChanged: boolean;
  /** Whether the `alerts` section changed (its rules and channels are handed to the alert loop). */
  alertsChanged: boolean;
  /** Changed settings that apply only at the next start, as config paths (`api.listen`, …). */
  waitingForRestart: string[];
  /**
   * The configuration to run from now on: the file's, with the settings that wait for a restart
   * kept at their running values (the service still runs on those; the file holds the new ones).
   */
  applied: Config;
}

/**
 * The top-level settings that only a restart applies, and why: the data directory is locked,
 * opened and shared by every stage; the API's address, URL and key are the listening server's;
 * `buses` bounds the routes' bus numbers the running buses were checked against; the log
 * rotation is built into every connection's logger (one process-wide file policy). The alerts
 * apply live (`Alerting.reconfigure`).
 */
const RESTART_ONLY = ['dataDir', 'buses', 'api', 'logging'] as const;

/**
 * `prefix` when `a` and `b` differ, or for a section (a plain object) the paths of its settings
 * that differ, one level down: `api.listen`, not `api.listen.port`, as the file names them.
 */
function changedPaths(a: unknown, b: unknown, prefix: string): string[] {
  if (isDeepStrictEqual(a, b)) return [];
  const plain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!plain(a) || !plain(b)) return [prefix];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.filter((k) => !isDeepStrictEqual(a[k], b[k])).map((k) => `${prefix}.${k}`);
}

/** The running connections (enabled ones) by name. */
function enabledByName(config: Config): Map<string, ConnectionConfig> {
  return new Map(config.connections.filter((c) => c.enabled).map((c) => [c.name, c]));
}

/** Plans applying `next` (the file, validated) over `running` (`app.config`). */
export function planReload(running: Config, next: Config): ReloadPlan {
  const before = enabledByName(running);
  const after = enabledByName(next);
  const start: ConnectionConfig[] = [];
  const restart: ConnectionConfig[] = [];
  for (const [name, c] of after) {
    const old = before.get(name);
    if (!old) start.push(c);
    // Compared resolved: a `{ file }` secret whose file now holds another password counts as a change.
    else if (!isDeepStrictEqual(old, c)) restart.push(c);
  }
  const stop = [...before.keys()].filter((name) => !after.has(name));
  const routesChanged = !isDeepStrictEqual(running.routes, next.routes);
  const dispatcherChanged =
    routesChanged || !isDeepStrictEqual(running.brokers, next.brokers) || running.busConcurrency !== next.busConcurrency || !isDeepStrictEqual(running.deliveryRetry, next.deliveryRetry);
  const waitingForRestart = RESTART_ONLY.flatMap((key) => changedPaths(running[key], next[key], key));
  const applied: Config = { ...next, dataDir: running.dataDir, buses: running.buses, api: running.api, logging: running.logging };
  const alertsChanged = !isDeepStrictEqual(running.alerts, next.alerts);
  return { start, restart, stop, routesChanged, dispatcherChanged, alertsChanged, waitingForRestart, applied };
}
