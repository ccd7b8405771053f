/**
 * The Prometheus adapter's failures: none of its own to map. prom-client builds text in memory
 * and only throws on a programming error (a label not declared, a metric named twice), which is
 * a bug to see as it is, not a catalogue code. What a scrape reads from the archive fails with
 * the store's own codes, which pass through unchanged to the API's `{ code, message }` answer.
 * The file exists so the folder has the shape of every adapter folder
 * (test/architecture/adapter-shape.test.ts).
 */
export {};
