export { BodiesCache, bodiesSink } from './messageport-bodies.js';
