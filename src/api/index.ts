/**
 * The HTTP API adapter: `node:http` server, routes per resource, error → status in one file, the
 * OpenAPI document, and the signed URLs of attachment references. See README.md.
 */
export { startApiServer, apiRoutes, type ApiServer } from './api-server.js';
export { API_TUNING, type ApiDeps, type ApiServerOptions } from './api-server-config.js';
export { createUrlSigner, urlSignature, attachmentPath, URL_KEY_BYTES, type UrlSigner, type UrlSignerOptions, type SignedRequest } from './signed-url.js';
export { loadOrCreateUrlKey, URL_KEY_FILE } from './url-key.js';
export { ERROR_STATUS, httpStatusOf, errorResponse, type ErrorBody } from './error-status.js';
export { mapListenError } from './api-error-map.js';
export { contentDisposition, safeContentType } from './attachment-headers.js';
export { OPENAPI_DOCUMENT } from './openapi.js';
export { Router, json, type ApiRequest, type ApiResponse, type ApiRoute } from './router.js';
