/**
 * The script action adapter: the ScenarioAction port's `script` step, the operator's module
 * run in worker threads with a time and memory limit. See README.md.
 */
export { createScriptAction } from './script-action.js';
export { resolveScriptActionConfig, SCRIPT_TUNING, type ScriptActionOptions, type ScriptActionConfig } from './script-action-config.js';
export { validateScriptResponse, type ResponseCheck } from './script-response.js';
