/** Access control of the management API: principals and their roles, console sessions, the sign-in limit. */
export { ROLES, roleAllows, mayDo, type Role, type Principal, type Action } from './principal.js';
export { SessionTable, SESSION_TUNING, constantTimeEqual, type Session, type RandomSecret } from './session-table.js';
export { LoginLimiter, LOGIN_LIMIT, type LimitVerdict } from './login-limiter.js';
