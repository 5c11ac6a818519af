#!/usr/bin/env bash
# Builds the local control plane's binaries from Go modules into a cache
# outside the repository, keyed by the pinned versions, and prints the
# directory that holds them. A second run with the same versions only checks
# that every binary is there.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.0
KWOK_VERSION=v0.8.0
key="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"
bin="${XDG_CACHE_HOME:-$HOME/.cache}/meshwave/testenv/${key}/bin"
tools=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwokctl)

missing=()
for t in "${tools[@]}"; do [ -x "$bin/$t" ] || missing+=("$t"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$bin"
export GOFLAGS=-mod=mod CGO_ENABLED=0
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
kube_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  kube_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

build() { # module-dir output package ldflags
  local out="$bin/$2"
  if [ -x "$out" ]; then return; fi
  echo "testenv: building $2 (cold builds take minutes)" >&2
  (cd "$here/tools/$1" && go build -trimpath -ldflags "-s -w $4" -o "$out.tmp" "$3")
  mv "$out.tmp" "$out"
}

build k8s etcd go.etcd.io/etcd/server/v3 ""
for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  build k8s "$c" "k8s.io/kubernetes/cmd/$c" "$kube_ldflags"
done
kwok_ldflags="-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${K8S_VERSION#v}"
build kwok kwok sigs.k8s.io/kwok/cmd/kwok "$kwok_ldflags"
build kwok kwokctl sigs.k8s.io/kwok/cmd/kwokctl "$kwok_ldflags"
echo "$bin"
