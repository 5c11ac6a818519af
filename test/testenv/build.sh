#!/usr/bin/env bash
# Builds the local control plane's binaries from Go modules into a cache
# outside the repository, keyed by the pinned versions, and prints the
# directory that holds them. A second run with the same versions only checks
# that every binary is there.
#
# On a cold cache most of the time is compiling Kubernetes. The two modules
# are downloaded at once (network, not CPU), then the Kubernetes binaries are
# built by one `go build`, which shares and parallelizes their packages, while
# etcd and kwok build beside it: their links overlap its compiles instead of
# waiting for them. Two builds at once keep both cores busy without more.
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
kwok_ldflags="-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${K8S_VERSION#v}"

say() { echo "testenv: $*" >&2; }
started=$(date +%s)
say "building the local control plane (${missing[*]}) into $bin"
say "once per machine: about 16 minutes on 2 cores with an empty Go cache (measured), seconds with a warm one"

# build_group builds the named binaries of one module with one `go build`,
# into a temporary directory, and moves each into place only when all built.
build_group() { # module-dir ldflags binary=package...
  local mod=$1 ldflags=$2; shift 2
  local pkgs=() names=() want
  for want in "$@"; do
    [ -x "$bin/${want%%=*}" ] && continue
    names+=("${want%%=*}"); pkgs+=("${want#*=}")
  done
  [ ${#pkgs[@]} -eq 0 ] && return 0
  local tmp
  tmp=$(mktemp -d "$bin/.build.XXXXXX")
  if [ ${#pkgs[@]} -eq 1 ]; then
    (cd "$here/tools/$mod" && go build -trimpath -ldflags "-s -w $ldflags" -o "$tmp/${names[0]}" "${pkgs[0]}")
  else
    (cd "$here/tools/$mod" && go build -trimpath -ldflags "-s -w $ldflags" -o "$tmp/" "${pkgs[@]}")
  fi
  local n
  for n in "${names[@]}"; do mv "$tmp/$n" "$bin/$n"; done
  rmdir "$tmp"
  say "built ${names[*]} ($(( $(date +%s) - started ))s so far)"
}

say "downloading the k8s and kwok modules (at once)"
(cd "$here/tools/k8s" && go mod download) &
dl_k8s=$!
(cd "$here/tools/kwok" && go mod download) &
dl_kwok=$!
wait "$dl_k8s"
wait "$dl_kwok"

build_group k8s "$kube_ldflags" \
  kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver \
  kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager \
  kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler \
  kubectl=k8s.io/kubernetes/cmd/kubectl &
kube=$!
( build_group k8s "" etcd=go.etcd.io/etcd/server/v3 &&
  build_group kwok "$kwok_ldflags" kwok=sigs.k8s.io/kwok/cmd/kwok kwokctl=sigs.k8s.io/kwok/cmd/kwokctl ) &
side=$!
rc=0
wait "$kube" || rc=$?
wait "$side" || rc=$?
[ "$rc" -eq 0 ] || { say "build failed"; exit "$rc"; }
say "control plane built in $(( $(date +%s) - started ))s"
echo "$bin"
