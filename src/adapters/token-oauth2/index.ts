export { OAuth2TokenSource, FixedAccessToken, accessTokenSourceFor } from './oauth2-token.js';
export { OAUTH2_TUNING, type OAuth2TokenSourceOptions, type TokenRequest, type IssuedToken } from './oauth2-token-config.js';
export { requestToken, endpointHost, grantOf } from './oauth2-token-request.js';
export { parseClientCertificate, clientAssertion, JWT_BEARER_ASSERTION, type ClientCertificate } from './oauth2-client-assertion.js';
export { mapTokenAnswer, mapTokenRequestError } from './oauth2-error-map.js';
