#!/usr/bin/env bash
# results/bench/*.log: the benchmark outputs the README's tables are generated from (`make bench-logs`,
# ~25 min on 2 cores; run it on a quiet machine, then `longdep report results/bench --write README.md`).
# Each log starts with when, at which commit and on what machine it ran, then the command.
# `bash scripts/bench_logs.sh gpu` writes the GPU entries instead (scripts/gpu_paper.sh runs them on a
# lent GPU machine, with LONGDEP="python3 -m longdep" PY=python3 LOGS=<folder>).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
LONGDEP=${LONGDEP:-$BIN/longdep}
PY=${PY:-$BIN/python}
LOGS=${LOGS:-results/bench}
mkdir -p "$LOGS"
run() {
  local name=$1; shift
  local tmp; tmp=$(mktemp)
  {
    echo "# $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc --all) cores," \
         "$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p'), torch $($PY -c 'import torch; print(torch.__version__)')$(
         nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | sed 's/^/, /')"
    echo "\$ longdep $*"
    $LONGDEP "$@"
  } > "$tmp"
  mv "$tmp" "$LOGS/$name.log"  # a failed or interrupted bench leaves the previous log
}
if [ "${1:-cpu}" = gpu ]; then  # the seeds' forward on a GPU: one launch per seed (loop) against vmap, fp32 and bf16
  for forward in vmap loop; do
    run "gpu_seeds_$forward" bench seeds --steps 40 --repeats 3 task.max_distance=64 model.d_model=128 \
      train.accelerator=gpu train.seeds_forward=$forward
    run "gpu_seeds_${forward}_bf16" bench seeds --steps 40 --repeats 3 task.max_distance=64 model.d_model=128 \
      train.accelerator=gpu train.seeds_forward=$forward train.precision=bf16-mixed
  done
  exit 0
fi
run loop bench loop --steps 40 --repeats 3 task.max_distance=64 model.d_model=128
run loop_batch1 bench loop --steps 40 --repeats 3 task.max_distance=64 model.d_model=128 train.batch_size=1
run seeds bench seeds --steps 40 --repeats 3 task.max_distance=64 model.d_model=128
run seeds_small bench seeds --steps 40 --repeats 3 task.max_distance=16 model.d_model=64
# the vmap forward (for a GPU) on this CPU: the models it applies to, the same cell as seeds_small
run seeds_small_vmap bench seeds --models mingru single_head multi_head transformer --steps 40 --repeats 3 \
  task.max_distance=16 model.d_model=64 train.seeds_forward=vmap
