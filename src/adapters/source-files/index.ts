export { FilesSource, createFilesSource } from './files-source.js';
export { FILES_TUNING, type FilesFormat, type FilesSourceOptions, type ImportProblem, type MboxVariant } from './files-source-config.js';
export { detectFormat, listMessageFiles } from './files-listing.js';
export { mapFilesError } from './files-error-map.js';
export { unquote, Unquoter, scanMbox } from './mbox-reader.js';
