/**
 * OpenSSL verification codes that mean "this certificate is not to be trusted" rather than "the
 * handshake broke": the operator's fix is a CA (`tls.ca`) or a correct host name, not a retry.
 * One list for every adapter that speaks TLS through node:tls, so all name a bad certificate alike.
 */
export const TLS_UNTRUSTED_CODES: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
]);
