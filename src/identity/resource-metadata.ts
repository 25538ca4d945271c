/** RFC 9728 protected resource metadata and the WWW-Authenticate challenge that points at it. */
import type { AuthenticationError } from '../errors/index.js';

export interface ResourceMetadata {
  resource: string;
  authorization_servers: string[];
  bearer_methods_supported: string[];
  scopes_supported?: string[];
  resource_name: string;
}

export function resourceMetadata(resourceUrl: string, issuer: string | undefined, scopes: string[]): ResourceMetadata {
  const doc: ResourceMetadata = {
    resource: resourceUrl,
    authorization_servers: issuer ? [issuer] : [],
    bearer_methods_supported: ['header'],
    resource_name: 'Portcullis MCP gateway',
  };
  if (scopes.length > 0) doc.scopes_supported = scopes;
  return doc;
}

/** RFC 9728 §5.1 / RFC 6750 §3: the challenge names the metadata URL, the error and the needed scope. */
export function challenge(err: AuthenticationError, metadataUrl: string, scopes: string[]): string {
  const parts = [`resource_metadata="${metadataUrl}"`];
  if (err.oauthError) parts.push(`error="${err.oauthError}"`, `error_description="${err.description.replace(/["\\]/g, '')}"`);
  if (scopes.length > 0) parts.push(`scope="${scopes.join(' ')}"`);
  return `Bearer ${parts.join(', ')}`;
}
