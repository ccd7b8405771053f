/** `GET /api/v1/openapi.json`: the OpenAPI document of this API (`../openapi.ts`). */
import { createRoute, z } from '@hono/zod-openapi';
import type { ApiApp } from '../api-app.js';
import { JSON_HEADERS } from '../api-app.js';
import { jsonAnswer } from '../schemas.js';
import { openApiDocument } from '../openapi.js';

const route = createRoute({
  method: 'get',
  path: '/api/v1/openapi.json',
  operationId: 'getOpenApiDocument',
  summary: 'This document',
  responses: { 200: jsonAnswer('The OpenAPI document of this API.', z.object({}).passthrough()) },
});

/** The API description resource. */
export function openApiRoutes(app: ApiApp): void {
  app.openapi(route, (c) => c.json(openApiDocument() as Record<string, unknown>, 200, JSON_HEADERS));
}
