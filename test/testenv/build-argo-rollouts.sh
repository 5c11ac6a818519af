#!/usr/bin/env bash
# Builds the real Argo Rollouts controller the Argo fixture (test/argofix) runs
# as a local process, from the module pinned in tools/argo-rollouts, into a
# cache outside the repository keyed by that pin, and prints the directory
# that holds it. Argo Rollouts' CRDs of the same version (manifests/crds of
# the module: Rollout, and the Experiment and analysis kinds the controller
# also watches) are copied beside it, into crds/, never into the repository.
# A second run with the same pin only checks that everything is there.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mod=github.com/argoproj/argo-rollouts
pin=$(awk -v m="$mod" '$1 == "require" && $2 == m {print $3}' "$here/tools/argo-rollouts/go.mod")
if [ -z "$pin" ]; then
  echo "build-argo-rollouts: no $mod pin in $here/tools/argo-rollouts/go.mod" >&2
  exit 1
fi
bin="${XDG_CACHE_HOME:-$HOME/.cache}/meshwave/argo-rollouts/${pin}/bin"
crds=(rollout-crd.yaml experiment-crd.yaml analysis-run-crd.yaml analysis-template-crd.yaml cluster-analysis-template-crd.yaml)

have_crds() { for f in "${crds[@]}"; do [ -s "$bin/crds/$f" ] || return 1; done; }
if [ -x "$bin/rollouts-controller" ] && have_crds; then
  echo "$bin"
  exit 0
fi

mkdir -p "$bin"
export GOFLAGS=-mod=mod CGO_ENABLED=0
cd "$here/tools/argo-rollouts"
if ! have_crds; then
  # go list -m names the module's directory only once it is downloaded:
  # on a new machine, with an empty module cache, it is not yet.
  go mod download "$mod"
  src=$(go list -m -f '{{.Dir}}' "$mod")
  if [ -z "$src" ] || [ ! -d "$src/manifests/crds" ]; then
    echo "build-argo-rollouts: $mod ${pin} has no manifests/crds in the module cache (${src:-not downloaded})" >&2
    exit 1
  fi
  tmp=$(mktemp -d "$bin/.crds.XXXXXX")
  for f in "${crds[@]}"; do install -m 0644 "$src/manifests/crds/$f" "$tmp/$f"; done
  chmod 0755 "$tmp"
  rm -rf "$bin/crds"
  mv "$tmp" "$bin/crds"
fi
if [ ! -x "$bin/rollouts-controller" ]; then
  started=$(date +%s)
  echo "build-argo-rollouts: building rollouts-controller from $mod ${pin} into $bin" >&2
  # Measured with an empty Go cache: 15 CPU-minutes (11 user, 4 system),
  # so about 8-10 minutes on 2 idle cores.
  echo "build-argo-rollouts: once per machine: about 8-10 minutes on 2 cores with an empty Go cache" >&2
  tmp=$(mktemp -d "$bin/.build.XXXXXX")
  go build -trimpath -ldflags "-s -w -X $mod/utils/version.version=${pin#v}" -o "$tmp/" "$mod/cmd/rollouts-controller"
  mv "$tmp/rollouts-controller" "$bin/rollouts-controller"
  rmdir "$tmp"
  echo "build-argo-rollouts: built in $(( $(date +%s) - started ))s" >&2
fi
echo "$bin"
