/**
 * The console's sessions (issue 14, "Access control"; ADR 0028): signing in with an API token
 * opens a session, named by a random id the browser keeps in an HttpOnly cookie, with a CSRF
 * token of its own that every state-changing request made with that cookie must echo in a
 * header. Sessions are kept in memory only (a restart signs everyone out, which is the safe
 * failure), end after {@link SESSION_TUNING.idleMs} without use, and remember the hash of the
 * token they were opened with so that revoking the token ends them. Pure: time comes from the
 * `Clock`, randomness from the function handed in.
 */
import type { Clock } from '../ports/clock.js';
import type { Principal } from './principal.js';

/** The bounds of the session table, each with its reason. */
export const SESSION_TUNING = {
  /** A session not used for this long ends: a console left open over a working day stays signed in, one forgotten overnight does not. */
  idleMs: 12 * 60 * 60 * 1000,
  /** The most sessions kept at once; opening one more ends the least recently used (a loop of sign-ins cannot grow memory without bound). */
  maxSessions: 10_000,
} as const;

/** One open session. */
export interface Session {
  /** The cookie's value: 32 random bytes, base64url. */
  id: string;
  /** What every state-changing request made with the cookie must carry in `X-CSRF-Token`. */
  csrfToken: string;
  principal: Principal;
  /** The SHA-256 of the token it was opened with: revoking that token ends the session. */
  tokenHash: string;
  /** When it was opened and when last used, milliseconds since the epoch. */
  openedAt: number;
  lastUsedAt: number;
}

/** Makes a random, URL-safe secret of 32 bytes (the composition root hands in `node:crypto`'s). */
export type RandomSecret = () => string;

/**
 * Compares two strings in time that depends only on their lengths, so an attacker timing the
 * answers learns nothing of a CSRF token byte by byte.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** The open sessions of one process. */
export class SessionTable {
  // In insertion order, refreshed on use: the first entry is the least recently used.
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly clock: Pick<Clock, 'now'>,
    private readonly random: RandomSecret,
    private readonly tuning: { idleMs: number; maxSessions: number } = SESSION_TUNING,
  ) {}

  /** Opens a session for `principal`, signed in with the token whose hash is `tokenHash`. */
  open(principal: Principal, tokenHash: string): Session {
    const now = this.clock.now();
    this.sweep(now);
    while (this.sessions.size >= this.tuning.maxSessions) {
      const oldest = this.sessions.keys().next().value;
      if (oldest === undefined) break;
      this.sessions.delete(oldest);
    }
    const session: Session = { id: this.random(), csrfToken: this.random(), principal: { ...principal }, tokenHash, openedAt: now, lastUsedAt: now };
    this.sessions.set(session.id, session);
    return session;
  }

  /** The session named `id` if it is open and not idle too long (its use is recorded), else null. */
  find(id: string): Session | null {
    const s = this.sessions.get(id);
    if (!s) return null;
    const now = this.clock.now();
    if (now - s.lastUsedAt >= this.tuning.idleMs) {
      this.sessions.delete(id);
      return null;
    }
    s.lastUsedAt = now;
    // Moved to the end: the table's order stays least recently used first.
    this.sessions.delete(id);
    this.sessions.set(id, s);
    return s;
  }

  /** When a session ends if it is not used again, milliseconds since the epoch. */
  expiresAt(s: Session): number {
    return s.lastUsedAt + this.tuning.idleMs;
  }

  /** Ends session `id` (signing out); whether there was one. */
  close(id: string): boolean {
    return this.sessions.delete(id);
  }

  /** Ends every session opened with the token whose hash is `tokenHash` (revoked); how many. */
  closeForToken(tokenHash: string): number {
    let n = 0;
    for (const [id, s] of this.sessions) {
      if (s.tokenHash === tokenHash) {
        this.sessions.delete(id);
        n++;
      }
    }
    return n;
  }

  /** How many sessions are open (idle ones not yet swept included). */
  get size(): number {
    return this.sessions.size;
  }

  /** Drops the sessions idle too long, oldest first, stopping at the first still in use. */
  private sweep(now: number): void {
    for (const [id, s] of this.sessions) {
      if (now - s.lastUsedAt < this.tuning.idleMs) break;
      this.sessions.delete(id);
    }
  }
}
