/**
 * The OpenAPI 3.1 document of the HTTP API, served at `GET /api/v1/openapi.json`: generated from
 * the routes' own schemas (`api-app.ts`), so it describes exactly what the server validates and
 * answers. A published surface: `test/golden/openapi.json` pins it.
 */
import type { ApiDeps } from './api-server-config.js';
import { createApiApp } from './api-app.js';
import { withConfigBodySchemas } from './config-body-schemas.js';

const INFO = {
  title: 'mailsluice API',
  version: '1.0.0',
  description:
    'The HTTP API of mailsluice (`mailsluice start`, and `mailsluice drain` while it runs a webhook route). Attachments too large to inline in a webhook request are sent as a reference whose `Url` is a signed URL of this API. The management paths need credentials (`Authorization: Bearer`) with the role each names: `viewer` sees status and stats, `auditor` also the archive, `admin` also configuration; `/healthz`, `/readyz`, this document and signed URLs are open. Every error answer is `{ code, message }` with a code from the error catalogue (docs/errors.md).',
};

let document: unknown;

/** The document (made once, when first asked for: building it walks every schema and converts the config edits' bodies). */
export function openApiDocument(): unknown {
  // Building the application reads nothing from its dependencies.
  document ??= withConfigBodySchemas(createApiApp({} as ApiDeps).getOpenAPI31Document({ openapi: '3.1.0', info: INFO }));
  return document;
}
