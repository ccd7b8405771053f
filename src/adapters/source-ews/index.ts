export { EwsSource, createEwsSource, ewsKey, resolveFolder } from './ews-source.js';
export { EWS_TUNING, REQUEST_SERVER_VERSION, ewsClientOptions, ewsEndpoint, type EwsClientOptions, type EwsSourceConfig } from './ews-source-config.js';
export { EwsClient } from './ews-client.js';
export { mapEwsError } from './ews-error-map.js';
export { probeEws } from './ews-probe.js';
