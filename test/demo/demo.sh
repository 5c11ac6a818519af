#!/usr/bin/env bash
# The demo: a local control plane with the simulated mesh of the Backyards
# guide's starting point, and meshwave run against it.
#
#   test/demo/demo.sh up     # start (or reuse) the demo cluster; leaves it running
#   test/demo/demo.sh down   # stop meshsim and delete the cluster
#
# MESHWAVE_TESTENV_BIN must name the control plane's binaries (the Makefile
# sets it). Everything the demo keeps lives in $STATE, outside the repo.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE="${XDG_CACHE_HOME:-$HOME/.cache}/meshwave/demo"
NAME=meshwave-demo
SCENARIO=backyards-1.6-to-1.7
cluster_dir="$STATE/cluster"
kubeconfig="$cluster_dir/kubeconfig"
pid_file="$STATE/meshsim.pid"
ready_file="$STATE/meshsim.ready"
health_file="$STATE/app-health.url"
log_file="$STATE/meshsim.log"

: "${MESHWAVE_TESTENV_BIN:?set it to the output of test/testenv/build.sh (make demo does)}"
export PATH="$MESHWAVE_TESTENV_BIN:$PATH"

say() {
  if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then printf '\n\033[1m== %s\033[0m\n' "$*"; else printf '\n== %s\n' "$*"; fi
}

meshsim_pid() {
  [ -f "$pid_file" ] || return 1
  local pid
  pid=$(cat "$pid_file")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

build_tools() {
  mkdir -p "$STATE/bin"
  # go build leaves an up-to-date binary untouched, so a second run is quick.
  (cd "$repo" && go build -o "$STATE/bin/testenv" ./test/testenv/cmd/testenv \
                && go build -o "$STATE/bin/meshsim" ./test/meshsim/cmd/meshsim)
}

stop_meshsim() {
  local pid
  if pid=$(meshsim_pid); then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file" "$ready_file" "$health_file"
}

down() {
  stop_meshsim
  if [ -d "$cluster_dir" ]; then
    "$STATE/bin/testenv" down --name "$NAME" --dir "$cluster_dir" --bin "$MESHWAVE_TESTENV_BIN"
    rm -rf "$cluster_dir"
  fi
  echo "demo cluster removed"
}

up() {
  build_tools
  if meshsim_pid >/dev/null && [ -f "$ready_file" ] && kubectl --kubeconfig "$kubeconfig" get --raw /readyz >/dev/null 2>&1; then
    say "demo cluster already running"
  else
    # Whatever is left of an earlier demo (a reboot, a failed start) goes first.
    if [ -d "$cluster_dir" ] || [ -f "$pid_file" ]; then down >/dev/null; fi
    mkdir -p "$STATE"
    say "starting the local control plane"
    start=$(date +%s)
    "$STATE/bin/testenv" up --name "$NAME" --dir "$cluster_dir" --bin "$MESHWAVE_TESTENV_BIN" >/dev/null
    echo "cluster up in $(( $(date +%s) - start ))s"
    say "starting meshsim with scenario $SCENARIO"
    setsid "$STATE/bin/meshsim" --kubeconfig "$kubeconfig" --scenario "$SCENARIO" \
      --pid-file "$pid_file" --ready-file "$ready_file" --app-health-file "$health_file" >"$log_file" 2>&1 </dev/null &
    for _ in $(seq 1800); do
      [ -f "$ready_file" ] && break
      if ! kill -0 $! 2>/dev/null; then
        echo "meshsim exited; its log ($log_file):" >&2
        tail -20 "$log_file" >&2
        exit 1
      fi
      sleep 0.1
    done
    [ -f "$ready_file" ] || { echo "meshsim did not load the scenario in 3 minutes; see $log_file" >&2; exit 1; }
    echo "scenario loaded in $(( $(date +%s) - start ))s since the cluster start"
  fi
  export KUBECONFIG="$kubeconfig"

  say "meshwave version"
  "$repo/bin/meshwave" version

  say "kubectl get po -A -L istio.io/rev"
  kubectl get po -A -L istio.io/rev

  say "kubectl get istio,mgw -A"
  kubectl get istios.istio.banzaicloud.io,meshgateways.istio.banzaicloud.io -A

  # The guide's upgrade, with meshwave: plan it, save the plan, apply it.
  # The example's http gate asks meshsim whether app-a answers; its soak is
  # shortened from ten minutes to five seconds, and the canary wave's
  # approval is given on the command line.
  mw="$repo/bin/meshwave"
  work="$STATE/upgrade"
  rm -rf "$work" && mkdir -p "$work"
  cp "$repo"/examples/backyards-1.6-to-1.7/*.mw.hcl "$work/"
  vars=(-var "health_url=$(cat "$health_file")/demo-a/app-a" -var canary_soak=5s)
  cd "$work"

  say "meshwave validate"
  "$mw" validate

  say "meshwave plan -out demo.plan"
  rc=0
  "$mw" plan "${vars[@]}" -out demo.plan -detailed-exitcode || rc=$?
  if [ "$rc" -eq 0 ]; then
    echo "(the demo cluster is already upgraded: nothing to apply; make demo-down && make demo starts over)"
  elif [ "$rc" -eq 2 ]; then
    say "meshwave apply -approve canary demo.plan"
    "$mw" apply -approve canary demo.plan

    say "kubectl get po -A -l istio.io/rev -L istio.io/rev   (the guide's final listing)"
    kubectl get po -A -l istio.io/rev -L istio.io/rev

    say "meshwave plan -detailed-exitcode   (again: nothing left to do)"
    "$mw" plan "${vars[@]}" -detailed-exitcode

    say "meshwave status"
    "$mw" status "${vars[@]}"
  else
    exit "$rc"
  fi
  cd "$repo"

  say "the demo cluster stays up"
  echo "  export KUBECONFIG=$kubeconfig"
  echo "  make demo-down     # stops meshsim (log: $log_file) and deletes the cluster"
}

case "${1:-}" in
  up) up ;;
  down) if [ -x "$STATE/bin/testenv" ]; then down; else build_tools && down; fi ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
