/** `GET /api/v1/openapi.json`: the OpenAPI document of this API (`../openapi.ts`). */
import { json, type ApiRoute } from '../router.js';
import { OPENAPI_DOCUMENT } from '../openapi.js';

/** The API description resource. */
export function openApiRoutes(): ApiRoute[] {
  return [{ method: 'GET', path: '/api/v1/openapi.json', handle: () => json(200, OPENAPI_DOCUMENT) }];
}
