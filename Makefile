# Two commands do all set-up: `make demo` and `make test`.
PY ?= python3
RESULTS ?= results/paper
# pytest-xdist processes for make test: the suite is single-threaded, so one per core; an idle
# worker takes tests queued for the other (worksteal), so both finish together
TEST_WORKERS ?= 2
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test figures notebook bench bench-logs install clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/longdep grid quick --workers 2
	$(BIN)/longdep report results/quick --write

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal --durations=12

figures: $(STAMP)
	$(BIN)/longdep figures $(RESULTS)

# notebooks/paper.ipynb executed on results/paper with its outputs saved (commit it: previews show them)
notebook: $(STAMP)
	cd notebooks && env -u LONGDEP_RESULTS ../$(BIN)/python -c "import nbformat; from nbclient import NotebookClient; \
	nb = nbformat.read('paper.ipynb', 4); NotebookClient(nb, timeout=600, kernel_name='python3').execute(); \
	nbformat.write(nb, 'paper.ipynb')"

bench: $(STAMP)
	$(BIN)/longdep bench data
	$(BIN)/longdep bench loop task.max_distance=32
	$(BIN)/longdep bench seeds --steps 40 --repeats 3 task.max_distance=64 model.d_model=128
	$(BIN)/longdep bench cell model.name=lstm task.max_distance=64 train.max_steps=300 wandb.enabled=false
	$(BIN)/longdep bench cell model.name=transformer task.max_distance=64 train.max_steps=300 wandb.enabled=false
	$(BIN)/longdep scale --config quick

# results/bench/*.log, the outputs the README's benchmark tables are generated from (~25 min, quiet machine)
bench-logs: $(STAMP)
	BIN=$(BIN) bash scripts/bench_logs.sh

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache

# A one-node SLURM cluster on this machine for `--launcher slurm` and its test (as root: installs
# Debian's slurmctld, slurmd, slurm-client and munge where sbatch is missing; a no-op once up)
.PHONY: slurm-up
slurm-up:
	bash scripts/slurm_up.sh
