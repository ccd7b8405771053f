/**
 * The system clock's failures: there are none to map. `Date.now()` cannot fail, and a timer either
 * fires or is cleared by the abort signal, so `sleep` always resolves (early when aborted, as the
 * `Clock` port says) and never rejects. Nothing here turns into a catalogue code; the file exists
 * so the clock's folder has the shape of every adapter folder and says so instead of leaving a
 * reader to wonder (test/architecture/adapter-shape.test.ts).
 */
export {};
