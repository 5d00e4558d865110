#!/usr/bin/env bash
# The GPU half of issue 16 as one call on a lent GPU machine (the device tool's `run`, from the repo
# root): the paper grid with the seeds together, vmap and bf16, timed, then the seeds benches on the
# GPU. The grid's folder is results/gpu/paper (ignored by git; rerunning the script resumes it); the
# device call's $OUT (default results/gpu) gets the bench logs, grid.log and the grid folder packed as
# paper.tar.gz (a call brings back at most 8 files). The machine's image has torch and lightning; omegaconf
# travels as a wheel in .whl/ (see the device tool's README), W&B is off.
#   bash scripts/gpu_paper.sh [GRID_SECONDS]   # default 480: the grid is stopped (Ctrl-C) after that
# The grid goes first (it is what the issue times); the benches (scripts/bench_logs.sh gpu) follow.
# BENCH=0 skips them; GRID=smoke ACC=cpu BENCH=0 tries the script on a CPU.
# The committed results/ put the tracked tree over the device call's 64 MiB: move results/ out of the
# checkout for the call (mv results ../results.hold; mkdir results) and back afterwards.
set -uo pipefail
cd "$(dirname "$0")/.."
RUN=results/gpu
OUT=${OUT:-$RUN}
mkdir -p "$OUT" "$RUN"
if ls .whl/*.whl > /dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site || exit 1
fi
# longdep from this checkout, not installed: its source, configs and experiments named directly
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" LONGDEP_CONFIGS="$PWD/configs" \
  LONGDEP_EXPERIMENTS="$PWD/experiments" WANDB_MODE=${WANDB_MODE:-disabled}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
GRID=${GRID:-paper}
start=$(date +%s)
timeout -s INT "${1:-480}" python3 -m longdep grid "$GRID" --out "$RUN/$GRID" --workers 1 --no-scale --no-figures \
  train.accelerator="${ACC:-gpu}" train.seeds_together=true train.seeds_forward=vmap train.precision=bf16-mixed 2>&1 \
  | tee -a "$OUT/grid.log" | tail -n 5
rc=${PIPESTATUS[0]}
echo "grid $GRID: rc $rc, $(( $(date +%s) - start )) s wall, $(ls "$RUN/$GRID/runs" 2>/dev/null | wc -l) runs done"
# rc 2: the grid refused its input (the line above says why); nothing was trained, nothing to pack
[ "$rc" = 2 ] && exit 2
tar -czf "$OUT/$GRID.tar.gz" -C "$RUN" --exclude wandb --exclude logs --exclude '.*.lock' "$GRID"
if [ "${BENCH:-1}" != 0 ]; then
  LONGDEP="python3 -m longdep" PY=python3 LOGS="$OUT" bash scripts/bench_logs.sh gpu || echo "bench failed: $?"
fi
