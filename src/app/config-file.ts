/**
 * The configuration file as the service reads it: at `start` and every time it is applied again
 * (SIGHUP, the file changing, an edit through the API), so all of them read it alike.
 */
import { loadConfig, type Config } from '../config/loader.js';

/** Reads and validates the configuration file `file` (throws `CONFIG_NOT_FOUND` / `CONFIG_INVALID`). */
export function readServiceConfig(file: string): Config {
  return loadConfig(file);
}
