export { OAuth2TokenSource, FixedAccessToken, accessTokenSourceFor } from './oauth2-token.js';
export { OAUTH2_TUNING, type OAuth2TokenSourceOptions, type TokenRequest, type IssuedToken } from './oauth2-token-config.js';
export { requestToken, endpointHost, grantOf } from './oauth2-token-request.js';
export { mapTokenAnswer, mapTokenRequestError } from './oauth2-error-map.js';
