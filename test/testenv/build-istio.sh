#!/usr/bin/env bash
# Builds the real Istio binaries the upstream-Istio fixture runs (istioctl and
# pilot-discovery, from the module pinned in tools/istio) into a cache outside
# the repository, keyed by that pin, and prints the directory that holds them.
# A second run with the same pin only checks that both binaries are there.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pin=$(awk '$1 == "require" && $2 == "istio.io/istio" {print $3}' "$here/tools/istio/go.mod")
if [ -z "$pin" ]; then
  echo "build-istio: no istio.io/istio pin in $here/tools/istio/go.mod" >&2
  exit 1
fi
bin="${XDG_CACHE_HOME:-$HOME/.cache}/meshwave/istio/${pin}/bin"
tools=(istioctl pilot-discovery)

missing=()
for t in "${tools[@]}"; do [ -x "$bin/$t" ] || missing+=("$t"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$bin"
export GOFLAGS=-mod=mod CGO_ENABLED=0
started=$(date +%s)
echo "build-istio: building ${missing[*]} from istio.io/istio ${pin} into $bin" >&2
echo "build-istio: once per machine: about 10-15 minutes on 2 cores with an empty Go cache" >&2
# One `go build` for both: they share most packages, and their links
# overlap the other's compiles.
tmp=$(mktemp -d "$bin/.build.XXXXXX")
(cd "$here/tools/istio" && go build -trimpath -ldflags "-s -w" -o "$tmp/" \
  istio.io/istio/istioctl/cmd/istioctl istio.io/istio/pilot/cmd/pilot-discovery)
for t in "${tools[@]}"; do mv "$tmp/$t" "$bin/$t"; done
rmdir "$tmp"
echo "build-istio: built in $(( $(date +%s) - started ))s" >&2
echo "$bin"
