#!/usr/bin/env bash
# Builds the two programs that check the chart, once per version, into the cache folder:
#   helm            helm.sh/helm/v4 from the Go module registry (`go install`)
#   vigil-validate  deploy/validate/: strict decoding into the Kubernetes API types
# Prints the folder holding both. Go module downloads are cached in Go's own module cache
# (~/go/pkg/mod), so a second machine-warm run only checks stamps.
set -euo pipefail
HELM_VERSION=v4.3.2
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${VIGIL_CACHE:-$HOME/.cache/vigil}
log() { printf '[deploy-tools] %s\n' "$*" >&2; }

GO=$(command -v go || true)
[ -n "$GO" ] || { [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go; }
[ -n "$GO" ] || { log "Go is needed to build helm and the validator (https://go.dev/dl, 1.26 or newer)"; exit 1; }

BIN="$CACHE/deploy-tools/$("$GO" env GOVERSION)"
mkdir -p "$BIN"
if [ ! -x "$BIN/helm-$HELM_VERSION" ]; then
  log "building helm $HELM_VERSION (first time: several minutes)"
  GOBIN="$BIN/.helm" "$GO" install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
  mv "$BIN/.helm/helm" "$BIN/helm-$HELM_VERSION"
fi
ln -sfn "helm-$HELM_VERSION" "$BIN/helm"

# The validator is rebuilt whenever its sources or module sums change.
key=$(cat "$ROOT"/deploy/validate/go.mod "$ROOT"/deploy/validate/go.sum "$ROOT"/deploy/validate/*.go | sha256sum | cut -c1-16)
if [ ! -x "$BIN/vigil-validate-$key" ]; then
  log "building deploy/validate"
  (cd "$ROOT/deploy/validate" && "$GO" build -o "$BIN/vigil-validate-$key" .)
fi
ln -sfn "vigil-validate-$key" "$BIN/vigil-validate"
echo "$BIN"
