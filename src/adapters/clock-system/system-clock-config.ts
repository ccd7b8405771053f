/**
 * The system clock's options: none. It reads the operating system's time (`Date.now()`) and waits
 * on Node's timers, and there is nothing to tune in either: a test that wants another time hands
 * the core a clock of its own through the `Clock` port rather than configuring this one.
 */

/** Options of {@link systemClock}: deliberately empty (see the module comment). */
export type SystemClockOptions = Record<string, never>;
