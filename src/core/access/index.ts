/** Access control of the management API: principals and their roles. */
export { ROLES, roleAllows, type Role, type Principal } from './principal.js';
