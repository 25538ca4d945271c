/** Identity (stage 2): bearer token → Subject, the 401 challenge and the protected resource metadata. */
export { createAuthenticator, type Authenticate } from './authenticate.js';
export { createDevKeys, DEV_ISSUER, type DevKeys } from './dev-keys.js';
export { resourceMetadata, challenge } from './resource-metadata.js';
export { ANONYMOUS, subjectFromClaims, subjectForPolicy, type Subject } from './subject.js';
export { withClientCertificate, verifiedClientCertificate, type ClientCertificateInfo } from './client-certificate.js';
