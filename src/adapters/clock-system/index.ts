/**
 * The system clock: the Clock port on the real time and Node's timers. See README.md.
 */
export { systemClock } from './system-clock.js';
export type { SystemClockOptions } from './system-clock-config.js';
