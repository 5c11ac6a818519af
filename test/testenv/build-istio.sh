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
build() { # output package
  local out="$bin/$1"
  if [ -x "$out" ]; then return; fi
  echo "build-istio: building $1 (a cold build takes minutes)" >&2
  (cd "$here/tools/istio" && go build -trimpath -ldflags "-s -w" -o "$out.tmp" "$2")
  mv "$out.tmp" "$out"
}
build istioctl istio.io/istio/istioctl/cmd/istioctl
build pilot-discovery istio.io/istio/pilot/cmd/pilot-discovery
echo "$bin"
