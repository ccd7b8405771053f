/**
 * The API's shapes as its OpenAPI document declares them (`test/golden/openapi.json`, which a test
 * keeps equal to what the server serves): generated into `generated/api-schema.ts` by
 * `openapi-typescript` at `npm run build:console`, so the console's types are the server's and
 * are never copied by hand.
 */
import type { components } from './generated/api-schema.js';

/** Every named schema of the API (`Schemas['Hold']`, …). */
export type Schemas = components['schemas'];
