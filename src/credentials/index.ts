/** Credentials (stage 6): downstream credentials leased from Vault and injected at routing time; agents never hold them. */
export { createCredentials, type Credentials, type IssueCredentials, type Injection, type RecyclableUpstream } from './credentials.js';
export { createVaultClient, type VaultClient } from './vault-client.js';
export { createUpstreamTls, type UpstreamTls } from './pki-source.js';
