/** What the shell hands every page. */
export interface PageProps {
  /** The hash path after the page's own segment (`#/connections/journal` gives the connections page `['journal']`). */
  path: string[];
  /** The signed-in principal's role: `viewer`, `auditor` or `admin`. */
  role: string;
  /** Called on a 401: the session ended; the shell goes back to sign-in and says so. */
  onSessionEnded: () => void;
}

/**
 * The path segment of a section's "new" form: with a `-`, which no system name may hold (Latin
 * letters, digits and `_` only), so a connection or route named `new` keeps its own page.
 */
export const NEW_SEGMENT = 'new-';

/** Whether `role` holds `needed` (viewer < auditor < admin), as the API decides it. */
export function roleAllows(role: string, needed: 'viewer' | 'auditor' | 'admin'): boolean {
  const order = ['viewer', 'auditor', 'admin'];
  return order.indexOf(role) >= order.indexOf(needed);
}
