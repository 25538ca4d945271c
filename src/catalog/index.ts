/** Catalog (stage 3): which server and which tool a request names. */
export { Catalog, NAMESPACE_SEPARATOR, type CatalogEntry, type ServerView } from './catalog.js';
