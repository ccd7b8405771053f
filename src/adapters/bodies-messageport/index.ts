export { BodiesCache, bodiesSink } from './messageport-bodies.js';
export { BODIES_CACHE_MAX_CHARS } from './messageport-bodies-config.js';
