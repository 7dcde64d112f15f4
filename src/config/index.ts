export { configSchema, type Config, type RouteConfig } from './schema';
export { loadConfig, parseConfig, configPathFrom, ConfigError, type ConfigIssue } from './load';
