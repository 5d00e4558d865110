"""The command line itself: version, defaults a fresh clone can use."""
import shutil

import pytest
import torch

from longdep.cli import main


def test_version_is_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    out = capsys.readouterr().out.strip()
    assert info.value.code == 0 and out.startswith("longdep ") and len(out.splitlines()) == 1


def test_figures_without_an_argument_uses_the_committed_paper_folder(reference, tmp_path, monkeypatch, capsys):
    """A fresh clone has results/paper (committed) and no results/quick until make demo."""
    shutil.copytree(reference, tmp_path / "results" / "paper",  # the accuracy CSV alone: fewer figures to draw
                    ignore=shutil.ignore_patterns("figures", "wandb", "scaling*", "attention.csv*", "probe.csv*"))
    monkeypatch.chdir(tmp_path)
    assert main(["figures"]) == 0
    assert (tmp_path / "results" / "paper" / "figures" / "accuracy_vs_distance.png").exists()
    assert "results/paper/figures" in capsys.readouterr().out


def test_config_show_lists_every_key_with_its_default_type_and_choices(capsys):
    assert main(["config", "show", "train"]) == 0
    lines = capsys.readouterr().out.splitlines()
    keys = {line.split(" = ")[0]: line for line in lines}
    assert "model.name = 'transformer'  # str; one of rnn, lstm" in keys["model.name"]
    assert keys["task.objective"].endswith("# str; one of classify, lm")
    assert keys["train.max_steps"] == "train.max_steps = 20000  # int" and "eval.analyses" in keys
    assert keys["train.schedule"].endswith("# str; one of constant, cosine")
    assert main(["config", "show", "nested"]) == 0
    assert "task.max_depth = 3  # int" in capsys.readouterr().out
    assert main(["config", "show", "scale"]) == 0
    assert "seq_lens = " in capsys.readouterr().out


def test_help_lists_choices_defaults_and_examples(capsys):
    with pytest.raises(SystemExit):
        main(["grid", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # help text wraps lines
    assert "paper, quick, smoke" in out and "local, submitit-local, slurm (default: local)" in out
    assert "Examples:" in out and "(default: None)" not in out


def test_every_help_is_plain_text_with_an_example(capsys):
    """``longdep --help`` and each command's: exit 0, no reStructuredText shown raw, an example at the end."""
    import re
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "longdep", "--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.splitlines()[0].startswith("usage: longdep"), res.stderr[-2000:]
    commands = re.search(r"\{([a-z,-]+)\}", res.stdout).group(1).split(",")  # the commands the usage line lists
    assert {"data", "train", "grid", "scale", "figures", "report", "bench", "config"} <= set(commands)
    for argv in ([], *([c] for c in commands)):
        with pytest.raises(SystemExit) as info:
            main([*argv, "--help"])
        out = capsys.readouterr().out
        assert info.value.code == 0, argv
        assert "``" not in out and ":mod:" not in out and ":func:" not in out, (argv, out)
        assert re.search(r"^Examples?:$", out, re.M) and out.rstrip().splitlines()[-1].startswith("  longdep "), (argv, out)
    assert "The longdep command line." in res.stdout


def test_grid_progress_reads_hours_minutes_seconds():
    from longdep.launch import hms

    assert [hms(s) for s in (0, 59.6, 3599, 3725)] == ["0:00:00", "0:01:00", "0:59:59", "1:02:05"]


def test_bench_cell_prints_where_a_runs_time_went(capsys):
    assert main(["bench", "cell", "model.name=lstm", "model.d_model=16", "train.max_steps=4", "train.val_every=2",
                 "train.val_size=16", "task.max_distance=3", "eval.span=1", "eval.n_per_distance=4",
                 "eval.attractor_distances=[]", "wandb.enabled=false"]) == 0
    out = capsys.readouterr().out.splitlines()
    shares = {line[:30].strip(): float(line.rsplit(None, 1)[-1].rstrip("%")) for line in out[1:]}
    assert {"process start and imports", "data", "training steps", "validation", "evaluation", "probes",
            "analyses", "baselines", "writing"} <= set(shares)
    assert abs(sum(shares.values()) - 100) < 1.0 and "4 steps" in out[0]


def test_bench_loop_compares_the_suite_with_a_plain_loop_on_the_same_batches(capsys, monkeypatch):
    import longdep.training.lit as lit
    from longdep.training.bench_loop import _plain, _suite
    from longdep.training.config import load_config

    assert main(["bench", "loop", "--models", "rnn", "transformer", "--steps", "3", "--repeats", "1",
                 "model.d_model=16", "model.d_ff=32", "model.heads=2", "task.max_distance=3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["rnn", "transformer"] and all("ratio" in line for line in lines)
    # the two loops train the same model on the same batches: the same weights after the same steps
    cfg = load_config("train", ["model.name=lstm", "model.d_model=16", "task.max_distance=3", "train.max_steps=3",
                                "train.val_every=4", "train.checkpoint_every=0", "train.progress=false",
                                "wandb.enabled=false"])
    data = lit.TaskData(cfg.task, 0, cfg.train.batch_size, 3, 16)
    data.setup()
    built, init = [], lit.ClassifierModule.__init__
    monkeypatch.setattr(lit.ClassifierModule, "__init__", lambda self, c: (init(self, c), built.append(self.model))[0])
    _suite(cfg, data, 3)
    _plain(cfg, data, 3)
    suite, plain = (m.state_dict() for m in built)
    assert all(torch.equal(suite[k], plain[k]) for k in suite)


def test_bench_seeds_prints_both_rates_and_their_ratio(capsys):
    assert main(["bench", "seeds", "--models", "mingru", "--seeds", "2", "--steps", "2", "--repeats", "1",
                 "model.d_model=8", "task.max_distance=3", "train.batch_size=4"]) == 0
    line, = capsys.readouterr().out.splitlines()
    words = line.split()
    assert words[:2] == ["mingru", "2"] and "together" in words and words[words.index("speedup") + 1].endswith("x")
    assert float(words[words.index("speedup") + 1][:-1]) > 0


@pytest.mark.parametrize("what,flag", [("loop", "--steps"), ("loop", "--repeats"), ("seeds", "--seeds")])
def test_bench_loop_rejects_a_count_below_one_in_one_line(what, flag, capsys):
    assert main(["bench", what, "--models", "lstm", flag, "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"longdep: error: {flag} must be a positive integer, got 0"]
