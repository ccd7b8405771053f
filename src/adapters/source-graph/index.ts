export { GraphSource, createGraphSource, graphKey } from './graph-source.js';
export { GRAPH_TUNING, graphClientOptions, graphEndpoint, graphSettings, type GraphClientOptions, type GraphSourceConfig } from './graph-source-config.js';
export { GraphClient } from './graph-client.js';
export { resolveGraphFolder, WELL_KNOWN_FOLDERS } from './graph-folders.js';
export { mapGraphError, graphHttpError } from './graph-error-map.js';
export { probeGraph } from './graph-probe.js';
