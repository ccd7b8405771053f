/**
 * Who makes a request of the management API, and what each role may do (issue 14, "Access
 * control"). The roles are ordered: an auditor may do all a viewer may, an admin all an auditor
 * may. How a request is tied to a principal (tokens, a session) is the authorizer's business.
 */

/** The roles, least allowed first. */
export const ROLES = ['viewer', 'auditor', 'admin'] as const;

/** `viewer`: status and stats; `auditor`: also the archive's content; `admin`: also configuration. */
export type Role = (typeof ROLES)[number];

/** The one a request was made by. */
export interface Principal {
  /** The token's (or user's) name, as the audit log will name it. */
  name: string;
  role: Role;
}

/** Whether `principal` holds `needed` or a role above it. */
export function roleAllows(principal: Pick<Principal, 'role'>, needed: Role): boolean {
  return ROLES.indexOf(principal.role) >= ROLES.indexOf(needed);
}
