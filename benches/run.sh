#!/usr/bin/env bash
# The whole benchmark in one command: build every contract server (release), install the
# Node peer, then run every scenario against tickwire, Node socket.io, socketioxide and the
# bare-socket floor, interleaved, 3 repetitions, server pinned to core 0 and the load
# generator to core 1. Results: benches/results/{summary.md,results.json,*.svg}.
#
#   benches/run.sh              # full run (under 15 minutes on 2 cores, builds included)
#   benches/run.sh --quick      # tiny sizes, one repetition: checks the pipeline
#   benches/run.sh --perf       # also profile tickwire's tick fan-out with perf
#   benches/run.sh --only echo-ack,fanout-10x100@60 --servers tickwire,floor
#   benches/run.sh --cluster    # the cluster scenarios instead: two nodes of each server kind
#                               # on a fresh redis-server per run (results/cluster/, ~3 min of runs)
#   benches/run.sh --cluster --quick   # the same at tiny sizes, one repetition
#
# Extra arguments go to the runner (`runner --help`). Needs: cargo, node + npm, taskset;
# redis-server for the cluster scenarios.
set -euo pipefail

benches="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$benches/.." && pwd)"

for arg in "$@"; do
  if [ "$arg" = "--cluster" ] && ! command -v redis-server >/dev/null; then
    echo "--cluster needs redis-server on PATH (Debian: apt install redis-server)" >&2
    exit 1
  fi
done

echo "== building tickwire's bench-server, loadgen, floor-server, runner (release)"
cargo build --release --manifest-path "$root/Cargo.toml" -p tickwire-benches \
  --bin bench-server --bin loadgen --bin floor-server --bin runner

echo "== building the socketioxide peer with socketioxide-redis (release, its own lockfile and target dir)"
cargo build --release --manifest-path "$benches/peers/socketioxide/Cargo.toml" \
  --target-dir "$benches/peers/socketioxide/target"

echo "== installing the Node socket.io peer (socket.io, @socket.io/redis-adapter, redis)"
(cd "$benches/peers/node-socketio" && npm ci --no-audit --no-fund --loglevel=error)

target_dir="$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" \
  | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
"$target_dir/release/runner" --benches-dir "$benches" --out "$benches/results" "$@"
echo "== done in ${SECONDS} s (builds included)"
