#!/usr/bin/env bash
# Measures what job records and shared results cost a served page, with
# real servers on loopback ports: s3s-fs (scripts/setup.sh --for-tests)
# and two `texjail serve` nodes sharing its bucket, plus one node without
# a bucket as the reference.
#
# usage: scripts/bench-shared.sh [BIN_DIR]   (default: target/debug; needs
#        TEXJAIL_ROOTFS or the default rootfs, curl and python3)
# Prints medians and p90s of: a cached upload (60 posts of a converted
# project) on the reference node and on a node with a bucket; the first
# read of a page on the node that did not convert it (copied from the
# bucket), for 6 pages; later reads of a page on both nodes.
set -euo pipefail
bin=${1:-target/debug}
s3s=$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")
[ -x "$s3s" ] || { echo "s3s-fs is not installed: run scripts/setup.sh --for-tests" >&2; exit 1; }
w=$(mktemp -d /tmp/texjail-bench-shared.XXXX)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$w"; }
trap cleanup EXIT
mkdir -p "$w/s3/results"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$s3s" --host 127.0.0.1 --port "$port" --access-key bench --secret-key bench-secret "$w/s3" >/dev/null 2>&1 &
pids+=($!)
sleep 0.5

# start NAME [VAR=VALUE...]: a node on its own data dir; prints its URL.
start() {
  local name=$1; shift
  env "$@" "$bin/texjail" serve --listen 127.0.0.1:0 --data-dir "$w/$name" >"$w/$name.out" 2>"$w/$name.err" &
  pids+=($!)
  for _ in $(seq 200); do grep -q listening "$w/$name.out" 2>/dev/null && break; sleep 0.1; done
  sed -n 's/.*listening on //p' "$w/$name.out"
}
shared=(AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1
  TEXJAIL_SHARED_S3_BUCKET=results TEXJAIL_SHARED_S3_ENDPOINT="http://127.0.0.1:$port")
start ref >/dev/null; ref=$(sed -n 's/.*listening on //p' "$w/ref.out")
start a "${shared[@]}" >/dev/null; a=$(sed -n 's/.*listening on //p' "$w/a.out")
start b "${shared[@]}" >/dev/null; b=$(sed -n 's/.*listening on //p' "$w/b.out")

project() {
  python3 - "$w/p$1.zip" "$1" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("main.tex", "\\documentclass{article}\\begin{document}\\section{Bench %s}Hello $x^2$.\\end{document}\n" % sys.argv[2])
PY
}
stats() { sort -n | awk -v l="$1" '{a[NR]=$1} END {printf "%s: median %.2f ms, p90 %.2f ms (n=%d)\n", l, a[int((NR+1)/2)]*1000, a[int(NR*0.9)]*1000, NR}'; }
post() { curl -sf -o /dev/null -w '%{time_total}\n' -F "project=@$w/p$2.zip" -F converter=pandoc "$1/api/v1/convert?wait=60"; }

firsts=()
for n in 1 2 3 4 5 6; do
  project "$n"
  page=$(curl -sf -F "project=@$w/p$n.zip" -F converter=pandoc "$a/api/v1/convert?wait=60" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["urls"]["page"])')
  firsts+=("$(curl -sf -o /dev/null -w '%{time_total}' "$b$page")")
done
printf '%s\n' "${firsts[@]}" | stats "first read of a page on the other node (copied from the bucket)"
for node in a b; do
  url=${!node}
  for _ in $(seq 60); do curl -sf -o /dev/null -w '%{time_total}\n' "$url$page"; done | stats "later reads of a page on node $node"
done
for node in ref a; do
  url=${!node}
  post "$url" 1 >/dev/null
  for _ in $(seq 60); do post "$url" 1; done | stats "cached upload on node $node"
done
