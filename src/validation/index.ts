/** Validation (stage 7): arguments against the tool's inputSchema. */
export { compileValidator, type ArgumentValidator } from './validate-arguments.js';
