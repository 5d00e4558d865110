#!/usr/bin/env bash
# results/bench/*.log: the benchmark outputs the README's tables are generated from (`make bench-logs`,
# ~25 min on 2 cores; run it on a quiet machine, then `longdep report results/bench --write README.md`).
# Each log starts with when, at which commit and on what machine it ran, then the command.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
mkdir -p results/bench
run() {
  local name=$1; shift
  local tmp; tmp=$(mktemp)
  {
    echo "# $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc --all) cores," \
         "$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p'), torch $("$BIN/python" -c 'import torch; print(torch.__version__)')"
    echo "\$ longdep $*"
    "$BIN/longdep" "$@"
  } > "$tmp"
  mv "$tmp" "results/bench/$name.log"  # a failed or interrupted bench leaves the previous log
}
run loop bench loop --steps 40 --repeats 3 task.max_distance=64 model.d_model=128
run loop_batch1 bench loop --steps 40 --repeats 3 task.max_distance=64 model.d_model=128 train.batch_size=1
run seeds bench seeds --steps 40 --repeats 3 task.max_distance=64 model.d_model=128
run seeds_small bench seeds --steps 40 --repeats 3 task.max_distance=16 model.d_model=64
# the vmap forward (for a GPU) on this CPU: the models it applies to, the same cell as seeds_small
run seeds_small_vmap bench seeds --models mingru single_head multi_head transformer --steps 40 --repeats 3 \
  task.max_distance=16 model.d_model=64 train.seeds_forward=vmap
