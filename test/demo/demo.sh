#!/usr/bin/env bash
# The demo: a local control plane with a mesh, and meshwave run against it.
#
#   test/demo/demo.sh up     # start (or reuse) the demo cluster; leaves it running
#   test/demo/demo.sh down   # stop the mesh and delete the cluster
#
# SCENARIO=backyards (default): meshsim's simulation of the Backyards guide's
# cluster before `backyards install -a` (scenario backyards-1.6-only: only
# the 1.6 control plane mesh), upgraded by examples/backyards-install, whose
# plan installs the 1.7 control plane from its Istio resource first.
# SCENARIO=istio: real upstream Istio (istioctl's rendered
# revisions 1-30 and 1-31 served by real istiod processes, test/istiofix).
#
# MESHWAVE_TESTENV_BIN must name the control plane's binaries, and for the
# istio scenario MESHWAVE_ISTIO_BIN the Istio ones (the Makefile sets both).
# Everything the demo keeps lives in $STATE, outside the repo.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE="${XDG_CACHE_HOME:-$HOME/.cache}/meshwave/demo"
NAME=meshwave-demo
SCENARIO=${SCENARIO:-backyards}
case "$SCENARIO" in
  backyards|istio) ;;
  *) echo "SCENARIO must be backyards or istio, not '$SCENARIO'" >&2; exit 2 ;;
esac
cluster_dir="$STATE/cluster"
kubeconfig="$cluster_dir/kubeconfig"
pid_file="$STATE/meshsim.pid"
ready_file="$STATE/meshsim.ready"
health_file="$STATE/app-health.url"
log_file="$STATE/meshsim.log"
istio_pid_file="$STATE/istiofix.pid"
istio_ready_file="$STATE/istiofix.ready"
istio_log="$STATE/istiofix.log"
scenario_file="$STATE/scenario"
# What the cluster was loaded with: a cluster of an earlier demo's scenario
# is not reused.
meshsim_scenario=backyards-1.6-only
case "$SCENARIO" in
  backyards) loaded="$SCENARIO:$meshsim_scenario" ;;
  *) loaded="$SCENARIO" ;;
esac

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
                && go build -o "$STATE/bin/meshsim" ./test/meshsim/cmd/meshsim \
                && go build -o "$STATE/bin/istiofix" ./test/istiofix/cmd/istiofix)
}

# stop_pid ends the process a pid file names: TERM, then KILL after 10 s.
stop_pid() {
  local file=$1 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
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
  stop_pid "$istio_pid_file"
  rm -f "$istio_ready_file" "$scenario_file"
  if [ -d "$cluster_dir" ]; then
    "$STATE/bin/testenv" down --name "$NAME" --dir "$cluster_dir" --bin "$MESHWAVE_TESTENV_BIN"
    rm -rf "$cluster_dir"
  fi
  echo "demo cluster removed"
}

# wait_ready waits up to 5 minutes for a ready file while process $2 lives.
wait_ready() {
  local file=$1 pid=$2 log=$3
  for _ in $(seq 3000); do
    [ -f "$file" ] && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "the mesh process exited; its log ($log):" >&2
      tail -20 "$log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "the mesh was not ready in 5 minutes; see $log" >&2
  exit 1
}

running() {
  [ "$(cat "$scenario_file" 2>/dev/null)" = "$loaded" ] || return 1
  kubectl --kubeconfig "$kubeconfig" get --raw /readyz >/dev/null 2>&1 || return 1
  if [ "$SCENARIO" = istio ]; then
    [ -f "$istio_ready_file" ] && kill -0 "$(cat "$istio_pid_file" 2>/dev/null)" 2>/dev/null
  else
    meshsim_pid >/dev/null && [ -f "$ready_file" ]
  fi
}

up() {
  build_tools
  if running; then
    say "demo cluster already running ($SCENARIO)"
  else
    # Whatever is left of an earlier demo (a reboot, a failed start, the
    # other scenario) goes first.
    if [ -d "$cluster_dir" ] || [ -f "$pid_file" ] || [ -f "$istio_pid_file" ]; then down >/dev/null; fi
    mkdir -p "$STATE"
    say "starting the local control plane"
    start=$(date +%s)
    "$STATE/bin/testenv" up --name "$NAME" --dir "$cluster_dir" --bin "$MESHWAVE_TESTENV_BIN" >/dev/null
    echo "cluster up in $(( $(date +%s) - start ))s"
    if [ "$SCENARIO" = istio ]; then
      : "${MESHWAVE_ISTIO_BIN:?set it to the output of test/testenv/build-istio.sh (make demo does)}"
      say "installing Istio revisions 1-30 and 1-31 (real istioctl install, real istiod)"
      setsid "$STATE/bin/istiofix" --name "$NAME" --cluster-dir "$cluster_dir" --bin "$MESHWAVE_TESTENV_BIN" \
        --istio-bin "$MESHWAVE_ISTIO_BIN" --work "$STATE/istio" \
        --pid-file "$istio_pid_file" --ready-file "$istio_ready_file" >"$istio_log" 2>&1 </dev/null &
      wait_ready "$istio_ready_file" $! "$istio_log"
    else
      say "starting meshsim with scenario $meshsim_scenario (only the Istio 1.6 control plane mesh)"
      setsid "$STATE/bin/meshsim" --kubeconfig "$kubeconfig" --scenario "$meshsim_scenario" \
        --pid-file "$pid_file" --ready-file "$ready_file" --app-health-file "$health_file" >"$log_file" 2>&1 </dev/null &
      wait_ready "$ready_file" $! "$log_file"
    fi
    echo "$loaded" > "$scenario_file"
    echo "scenario loaded in $(( $(date +%s) - start ))s since the cluster start"
  fi
  export KUBECONFIG="$kubeconfig"

  say "meshwave version"
  "$repo/bin/meshwave" version

  say "kubectl get po -A -L istio.io/rev"
  kubectl get po -A -L istio.io/rev

  mw="$repo/bin/meshwave"
  work="$STATE/upgrade"
  rm -rf "$work" && mkdir -p "$work"
  if [ "$SCENARIO" = istio ]; then
    say "istioctl tag list"
    "$MESHWAVE_ISTIO_BIN/istioctl" --kubeconfig "$kubeconfig" tag list
    # The upstream upgrade: the tags move first, then the waves restart.
    cp "$repo"/examples/istio-tags/*.mw.hcl "$work/"
    vars=()
    approve=()
  else
    say "kubectl get istio,mgw -A"
    kubectl get istios.istio.banzaicloud.io,meshgateways.istio.banzaicloud.io -A
    # The guide's whole upgrade, with meshwave: plan it, save the plan,
    # apply it. The plan installs cp-v17x from its Istio resource
    # (cp-v17x.yaml, beside the plan) before anything moves to it. The
    # example's http gate asks meshsim whether app-a answers; its soak is
    # shortened from ten minutes to five seconds, and the canary wave's
    # approval is given on the command line.
    cp "$repo"/examples/backyards-install/*.mw.hcl "$repo"/examples/backyards-install/cp-v17x.yaml "$work/"
    vars=(-var "health_url=$(cat "$health_file")/demo-a/app-a" -var canary_soak=5s)
    approve=(-approve canary)
  fi
  cd "$work"

  say "meshwave validate"
  "$mw" validate

  say "meshwave plan -out demo.plan"
  rc=0
  "$mw" plan "${vars[@]}" -out demo.plan -detailed-exitcode || rc=$?
  if [ "$rc" -eq 0 ]; then
    echo "(the demo cluster is already upgraded: nothing to apply; make demo-down && make demo starts over)"
  elif [ "$rc" -eq 2 ]; then
    say "meshwave apply ${approve[*]:+${approve[*]} }demo.plan"
    "$mw" apply "${approve[@]}" demo.plan

    say "kubectl get po -A -L istio.io/rev   (the final listing)"
    if [ "$SCENARIO" = istio ]; then
      kubectl get po -A -o custom-columns='NAMESPACE:.metadata.namespace,NAME:.metadata.name,PROXY:.spec.containers[?(@.name=="istio-proxy")].image,STATUS:.metadata.annotations.sidecar\.istio\.io/status' | cut -c1-160
    else
      kubectl get po -A -l istio.io/rev -L istio.io/rev
      say "kubectl get istio,mgw -A   (cp-v17x installed by the plan, mesh gone)"
      kubectl get istios.istio.banzaicloud.io,meshgateways.istio.banzaicloud.io -A
    fi

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
  echo "  make demo-down     # stops the mesh and deletes the cluster"
}

case "${1:-}" in
  up) up ;;
  down) if [ -x "$STATE/bin/testenv" ]; then down; else build_tools && down; fi ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
