/** Credentials (stage 6): downstream credentials injected at routing time; agents never hold them. */
export { createCredentialIssuer, type IssueCredentials, type Injection } from './credentials.js';
