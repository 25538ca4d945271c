# syntax=docker/dockerfile:1
# Portcullis gateway image. Three build stages and a slim runtime:
#   opa      builds the pinned OPA CLI (the same `go install` as scripts/install-tools.sh)
#   deps     production node_modules only
#   build    compiles the TypeScript and builds the example policy bundle with the OPA CLI
#   runtime  Node 20 slim, non-root (numeric UID), no OPA CLI, no compiler, no dev dependencies, no sources
# The runtime writes only to its declared volumes (audit, spool, tmp), so it runs with a read-only root filesystem.
# Build: docker build -t portcullis:0.1.0 .    (pin the base images by digest for production builds)

ARG NODE_IMAGE=node:20-bookworm-slim
ARG GO_IMAGE=golang:1.26-bookworm

FROM ${GO_IMAGE} AS opa
ARG OPA_VERSION=v1.22.2
# Static binary: it runs in the Node build stage whatever libc that has. Rego → WASM needs no cgo.
RUN CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN=/out go install "github.com/open-policy-agent/opa@${OPA_VERSION}" \
 && /out/opa version

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# No production dependency has an install script; refusing them keeps a registry compromise from running code here.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Dev dependencies for tsc; --ignore-scripts also skips the `node` dev dependency's download of Node 22 (conformance only).
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
COPY tsconfig.json ./
COPY scripts/copy-assets.mjs ./scripts/
COPY src ./src
RUN npm run build
COPY policies ./policies
COPY --from=opa /out/opa /usr/local/bin/opa
ARG BUNDLE_REVISION=image
RUN OPA_BIN=/usr/local/bin/opa node dist/main.js policy build policies -o bundles/policy.tar.gz --revision "${BUNDLE_REVISION}"

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOME=/tmp
WORKDIR /app
# A fixed numeric UID/GID so that Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
RUN groupadd --system --gid 10001 portcullis \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin portcullis \
 && mkdir -p /etc/portcullis /var/lib/portcullis/audit /var/lib/portcullis/spool /var/lib/portcullis/bundle \
 && chown 10001:10001 /var/lib/portcullis/audit /var/lib/portcullis/spool /var/lib/portcullis/bundle
# Code and dependencies stay owned by root: the gateway's user can read them, not change them.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The example policy bundle: the Helm chart's default init container copies it into the bundle volume.
COPY --from=build /app/bundles/policy.tar.gz ./bundles/policy.tar.gz
USER 10001:10001
VOLUME ["/var/lib/portcullis/audit", "/var/lib/portcullis/spool", "/tmp"]
EXPOSE 8080
# Docker only (Kubernetes uses the chart's probes). The slim image has no curl; Node 20 has fetch.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.PORTCULLIS_HEALTH_URL || 'http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node","dist/main.js"]
CMD ["serve","--config","/etc/portcullis/portcullis.yaml"]
