/**
 * TLS for the client-facing listener: plain HTTP when `listen.tls` is absent (exactly as before), HTTPS otherwise,
 * asking for and verifying client certificates when a client CA is configured. (The config-time checks of every
 * TLS setting live with the config: src/config/check-tls.ts.)
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { ListenTlsConfig } from '../config/index.js';

/** The listener for `handler`: node:http without TLS config, node:https with it (same handler either way). */
export function createListener(tls: ListenTlsConfig | undefined, handler: RequestListener, limits: ListenerLimits): Server {
  // Node checks the header and request timeouts on an interval (30 s by default): check often enough that a
  // configured timeout of a few seconds is kept to within a quarter of itself.
  const timing = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4))),
    keepAliveTimeout: 65_000,
  };
  const server = tls ? createHttps(tls, handler, timing) : createHttpServer(timing, handler);
  server.maxConnections = limits.maxConnections;
  return server;
}

export interface ListenerLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxConnections: number;
}

function createHttps(tls: ListenTlsConfig, handler: RequestListener, timing: Record<string, number>): Server {
  const ca = tls.clientCaFile ? readFileSync(tls.clientCaFile) : undefined;
  return createHttpsServer(
    {
      cert: readFileSync(tls.certFile),
      key: readFileSync(tls.keyFile),
      ...(ca
        ? {
            ca,
            // Ask every client; with requireClientCert the handshake itself refuses one without a verified
            // certificate, otherwise the request goes on and identity decides (socket.authorized says which).
            requestCert: true,
            rejectUnauthorized: tls.requireClientCert,
          }
        : {}),
      minVersion: 'TLSv1.2',
      ...timing,
    },
    handler,
  ) as unknown as Server;
}
