#!/usr/bin/env bash
# Two texjail nodes in cluster mode on one machine, all on loopback, for
# trying crashes and restarts by hand: a real nats-server with JetStream
# (the shared work queue, the job records and each job's events) and a
# real S3-compatible server (s3s-fs: uploads and results), both installed
# by scripts/setup.sh --for-tests.
#
# usage: scripts/cluster.sh up | kill a|b | start a|b | down
#   up       starts nats-server, s3s-fs and nodes a and b (role all: each
#            takes uploads and converts, any node answers for any job) and
#            prints node-a=URL node-b=URL
#   kill X   SIGKILLs node X, as a crash would: the job it was converting
#            goes to the other node once TEXJAIL_CLUSTER_ACK_WAIT_SECS
#            (default 30) has passed (see docs/deploy.md)
#   start X  starts node X again on its data dir and port
#   down     stops everything (the nodes, nats-server, s3s-fs) and removes
#            the state
# Environment: CLUSTER_BIN (directory of texjail, default target/debug),
# TEXJAIL_ROOTFS, CLUSTER_DIR (state, default /tmp/texjail-cluster);
# names of their own: every TEXJAIL_* variable is a texjail setting.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${CLUSTER_BIN:-target/debug}")
dir=${CLUSTER_DIR:-/tmp/texjail-cluster}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_port() {
  for _ in $(seq 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1; see $dir/*.log" >&2
  exit 1
}

start_node() {
  local name=$1 port s3port natsport
  port=$(cat "$dir/$name.port")
  s3port=$(cat "$dir/s3.port")
  natsport=$(cat "$dir/nats.port")
  AWS_ACCESS_KEY_ID=cluster AWS_SECRET_ACCESS_KEY=cluster-secret AWS_REGION=us-east-1 \
    TEXJAIL_SHARED_S3_BUCKET=results TEXJAIL_SHARED_S3_ENDPOINT="http://127.0.0.1:$s3port" \
    TEXJAIL_CLUSTER_NATS_URL="nats://127.0.0.1:$natsport" TEXJAIL_CLUSTER_ROLE=all \
    setsid "$bin/texjail" serve --listen "127.0.0.1:$port" --data-dir "$dir/$name" \
    >>"$dir/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/$name.pid"
  wait_port "$port"
}

# stop NAME SIGNAL: signals the process and waits up to 10 s for it to
# exit, then SIGKILLs it.
stop() {
  local pid
  [ -f "$dir/$1.pid" ] || return 0
  pid=$(cat "$dir/$1.pid")
  kill "-$2" "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/$1.pid"
}

node() {
  case "${1:-}" in a | b) ;; *) echo "usage: $0 ${2} a|b" >&2; exit 2 ;; esac
}

case "${1:-}" in
up)
  [ -e "$dir" ] && { echo "$dir exists: run '$0 down' first" >&2; exit 1; }
  s3s=$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")
  [ -x "$s3s" ] || { echo "s3s-fs is not installed: run scripts/setup.sh --for-tests" >&2; exit 1; }
  nats=$(command -v nats-server || echo /usr/sbin/nats-server)
  [ -x "$nats" ] || { echo "nats-server is not installed: run scripts/setup.sh --for-tests" >&2; exit 1; }
  [ -x "$bin/texjail" ] || { echo "no $bin/texjail: run cargo build --bins" >&2; exit 1; }
  mkdir -p "$dir/s3/results" "$dir/nats"
  for name in nats s3 a b; do free_port >"$dir/$name.port"; done
  setsid "$nats" -js -sd "$dir/nats" -a 127.0.0.1 -p "$(cat "$dir/nats.port")" \
    >>"$dir/nats.log" 2>&1 </dev/null &
  echo $! >"$dir/nats.pid"
  setsid "$s3s" --host 127.0.0.1 --port "$(cat "$dir/s3.port")" \
    --access-key cluster --secret-key cluster-secret "$dir/s3" >>"$dir/s3.log" 2>&1 </dev/null &
  echo $! >"$dir/s3.pid"
  wait_port "$(cat "$dir/nats.port")"
  wait_port "$(cat "$dir/s3.port")"
  start_node a
  start_node b
  echo "node-a=http://127.0.0.1:$(cat "$dir/a.port") node-b=http://127.0.0.1:$(cat "$dir/b.port")"
  ;;
kill)
  node "${2:-}" kill
  stop "$2" KILL
  ;;
start)
  node "${2:-}" start
  [ -f "$dir/$2.pid" ] && kill -0 "$(cat "$dir/$2.pid")" 2>/dev/null && { echo "node $2 runs" >&2; exit 1; }
  start_node "$2"
  echo "node-$2=http://127.0.0.1:$(cat "$dir/$2.port")"
  ;;
down)
  for name in a b nats s3; do stop "$name" TERM; done
  rm -rf "$dir"
  ;;
*)
  echo "usage: $0 up | kill a|b | start a|b | down" >&2
  exit 2
  ;;
esac
