/** Configuration: one YAML file, validated by a JSON Schema, defaulted and frozen. */
export { loadConfig, buildConfig, ConfigError, fieldName } from './load-config.js';
export type * from './config.js';
