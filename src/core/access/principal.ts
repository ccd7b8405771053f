/**
 * Who is acting and what they may do (issue 14, "Access control"): an API token's name and role,
 * and the one rule that decides whether a role may take an action. The API's `authorize` hook and
 * the console ask {@link mayDo}; no adapter decides access on its own.
 */

/** The roles, least to most: each may do everything the one before it may. */
export const ROLES = ['viewer', 'auditor', 'admin'] as const;

/** A token's role: `viewer` sees status and stats, `auditor` also reads the archive and the audit log, `admin` also changes configuration and tokens. */
export type Role = (typeof ROLES)[number];

/** The one acting: a token's name and role. */
export interface Principal {
  name: string;
  role: Role;
}

/**
 * What a principal asks to do. `status.read`: connection status, stats, health; `archive.read`:
 * search, view, download and export archived messages; `audit.read`: the audit log;
 * `config.write`: change connections, routes, settings, and replay deliveries; `tokens.manage`:
 * create, list and revoke API tokens.
 */
export type Action = 'status.read' | 'archive.read' | 'audit.read' | 'config.write' | 'tokens.manage';

/** The least role that may take each action. */
const LEAST_ROLE: Record<Action, Role> = {
  'status.read': 'viewer',
  'archive.read': 'auditor',
  'audit.read': 'auditor',
  'config.write': 'admin',
  'tokens.manage': 'admin',
};

/** Whether `value` names a role. */
export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** Where `role` stands in the order (viewer 0, auditor 1, admin 2). */
export function roleRank(role: Role): number {
  return ROLES.indexOf(role);
}

/** Whether a principal of `role` may take `action`; an unknown role may do nothing. */
export function mayDo(role: Role, action: Action): boolean {
  if (!isRole(role)) return false;
  const least = LEAST_ROLE[action];
  return least !== undefined && roleRank(role) >= roleRank(least);
}

/** Whether `principal` holds `needed` or a role above it (the API's per-route check). */
export function roleAllows(principal: Pick<Principal, 'role'>, needed: Role): boolean {
  return isRole(principal.role) && roleRank(principal.role) >= roleRank(needed);
}
