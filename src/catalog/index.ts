/** Catalog (stage 3): which server and which tool a request names. */
export { Catalog, NAMESPACE_SEPARATOR, type CatalogEntry, type CatalogLog, type ServerView } from './catalog.js';
export { checkToolList, DEFAULT_TOOL_LIST_LIMITS, type ToolListLimits, type ToolListCheck, type DroppedTool } from './limits.js';
