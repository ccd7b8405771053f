/**
 * The HTTP API adapter: a Hono application whose zod schemas validate requests, type handlers and
 * make the OpenAPI document (ADR 0021), behind a `node:http` server; routes per resource, the
 * role each needs, error → status in one file, and the signed URLs of attachment references.
 * See README.md.
 */
export { startApiServer, apiRoutes, type ApiServer } from './api-server.js';
export { API_TUNING, type ApiDeps, type ApiServerOptions, type ConnectionSettings, type ConnectionStoredSettings, type RouteStoredSettings, type ConnectionsView, type RouteSettings, type RoutesView, type RecordAction, type AuditView, type ConnectionActions, type TokensAdmin, type HoldsAdmin, type ConnectionTestStep, type ConnectionTestResult, type ReloadReport, type AlertsView, type AlertTestResult, type SessionAccess, type OpenSession, type ConfigAdmin, type ConfigChange, type ConfigEditResult, type ConfigKind } from './api-server-config.js';
export { type Authorize, type AuthorizeRequest } from './access.js';
export { createUrlSigner, urlSignature, attachmentPath, URL_KEY_BYTES, type UrlSigner, type UrlSignerOptions, type SignedRequest } from './signed-url.js';
export { SESSION_COOKIE, CSRF_HEADER, STATE_CHANGING, sessionIdFrom, sessionCookie, clearedSessionCookie } from './session-cookie.js';
export { loadOrCreateUrlKey, URL_KEY_FILE } from './url-key.js';
export { ERROR_STATUS, httpStatusOf, errorResponse, type ErrorBody, type ErrorAnswer } from './error-status.js';
export { mapListenError } from './api-error-map.js';
export { contentDisposition, safeContentType } from './attachment-headers.js';
export { openApiDocument } from './openapi.js';
export { createApiApp, type ApiApp } from './api-app.js';
export { loadConsoleFiles, CONSOLE_CSP, type ConsoleFiles } from './console-files.js';
