/**
 * The OpenAPI 3 document of the HTTP API, served at `GET /api/v1/openapi.json`. A published
 * surface: `test/golden/openapi.json` pins it, and a test checks that its paths are exactly the
 * routes the server has (`api-server.ts`, `apiRoutes`).
 */

const hexSha256 = { type: 'string', pattern: '^[0-9a-f]{64}$', example: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08' } as const;

const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }) as const;

/** See the module comment. */
export const OPENAPI_DOCUMENT = {
  openapi: '3.0.3',
  info: {
    title: 'mailsluice API',
    version: '1.0.0',
    description:
      'The HTTP API of mailsluice (`mailsluice start`, and `mailsluice drain` while it runs a webhook route). Attachments too large to inline in a webhook request are sent as a reference whose `Url` is a signed URL of this API. Every error answer is `{ code, message }` with a code from the error catalogue (docs/errors.md).',
  },
  paths: {
    '/healthz': {
      get: {
        operationId: 'getHealth',
        summary: 'Whether the service is up',
        responses: {
          '200': { description: 'The service runs and its API answers.', content: { 'application/json': { schema: { $ref: '#/components/schemas/Health' } } } },
        },
      },
    },
    '/api/v1/openapi.json': {
      get: {
        operationId: 'getOpenApiDocument',
        summary: 'This document',
        responses: { '200': { description: 'The OpenAPI document of this API.', content: { 'application/json': { schema: { type: 'object' } } } } },
      },
    },
    '/api/v1/messages/{archiveId}/attachments/{sha256}': {
      get: {
        operationId: 'getAttachment',
        summary: 'The bytes of one attachment of an archived message',
        description:
          'Served only under a signed URL, as a webhook request gives it in `Attachments[].Content.Reference.Url`: use it as it is. The signature covers the method, the path and `expires`; a URL changed in any part, or past its expiry, is refused with 403. HEAD answers the same headers without the body.',
        parameters: [
          { name: 'archiveId', in: 'path', required: true, description: 'The archived message: the SHA-256 of its raw bytes (`ArchiveId`).', schema: hexSha256 },
          { name: 'sha256', in: 'path', required: true, description: 'The attachment: the SHA-256 of its decoded bytes (`Attachments[].Sha256`).', schema: hexSha256 },
          { name: 'expires', in: 'query', required: true, description: 'When the URL stops working, in seconds since the epoch.', schema: { type: 'integer', format: 'int64', minimum: 0 } },
          { name: 'signature', in: 'query', required: true, description: 'Hex HMAC-SHA256 of the method, path and expiry with the installation\'s URL key.', schema: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
        ],
        responses: {
          '200': {
            description: 'The decoded bytes of the attachment; their SHA-256 is the `sha256` of the path.',
            headers: {
              'Content-Type': { description: "The attachment's type (`Attachments[].ContentType`), or application/octet-stream.", schema: { type: 'string' } },
              'Content-Length': { description: 'The attachment\'s size in bytes (`Attachments[].Size`).', schema: { type: 'integer' } },
              'Content-Disposition': { description: "`attachment` with the file name (`Attachments[].Name`): `filename` in ASCII, `filename*` in UTF-8 (RFC 6266, RFC 8187).", schema: { type: 'string' } },
            },
            content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
          },
          '400': errorResponse('`archiveId` or `sha256` is not 64 lowercase hex digits (API_BAD_REQUEST).'),
          '403': errorResponse('The signature is missing, malformed or does not match, or the URL has expired (API_FORBIDDEN).'),
          '404': errorResponse('No archived message with this `archiveId`, or it has no attachment with this `sha256` (API_NOT_FOUND).'),
          '500': errorResponse('The archive could not serve the attachment; the code names why, the service log has the details.'),
        },
      },
    },
  },
  components: {
    schemas: {
      Health: { type: 'object', required: ['ok'], properties: { ok: { type: 'boolean', enum: [true] } } },
      Error: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: { type: 'string', description: 'A stable code from the error catalogue (docs/errors.md), e.g. API_FORBIDDEN.', example: 'API_FORBIDDEN' },
          message: { type: 'string', description: 'What went wrong, in one sentence.' },
        },
      },
    },
  },
} as const;
