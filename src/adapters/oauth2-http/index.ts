export { OAUTH2_TUNING, OAuth2TokenSource, FixedAccessToken, accessTokenSourceFor, probeAccessToken, sharedAccessTokenSource, type OAuth2TokenSourceOptions } from './oauth2-token-source.js';
export { requestToken, endpointHost, grantOf, type TokenRequest, type IssuedToken } from './oauth2-token-request.js';
