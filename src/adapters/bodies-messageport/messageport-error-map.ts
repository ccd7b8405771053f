/**
 * The bodies hand-off's failures: there are none to map. Posting to a port whose other end has
 * closed (the dispatcher thread ended) is a no-op in Node, and a lookup that finds nothing returns
 * undefined, after which the dispatcher parses the archived message again (ADR 0011). Nothing here
 * turns into a catalogue code; the file exists so the folder has the shape of every adapter folder
 * and says so (test/architecture/adapter-shape.test.ts).
 */
export {};
