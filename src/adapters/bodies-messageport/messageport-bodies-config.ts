/**
 * The bodies hand-off's one tunable, with its reason (a test hands `BodiesCache` a smaller bound as
 * its second argument). The sink has no options: it posts each group as it is handed over.
 */

/**
 * The cache holds at most this many characters of JSON (UTF-16: twice the bytes). A dispatcher far
 * behind (a receiver down for hours) would otherwise keep every body since; the oldest are dropped
 * first and parsed again when their turn comes (ADR 0011: the hand-off is best effort).
 */
export const BODIES_CACHE_MAX_CHARS = 16 * 1024 * 1024;

