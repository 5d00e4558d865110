"""Configs compose, reject unknown keys and bad values with one clear line, exit 2, write nothing."""

import pytest

from longdep import cli
from longdep.config import RunConfig, UsageError, config_hash, resource_dir, yaml_names
from longdep.training.config import load_config


@pytest.mark.parametrize("name", yaml_names(resource_dir("configs")))
def test_every_config_composes(name):
    cfg = load_config(name)
    assert isinstance(cfg, RunConfig)


def test_overrides_set_typed_fields():
    cfg = load_config("train", ["model.name=lstm", "task.distance=64", "task.max_distance=null", "train.lr=0.003", "eval.distances=[4,8]"])
    assert (cfg.model.name, cfg.task.distance, cfg.train.lr, cfg.eval.distances) == ("lstm", 64, 0.003, [4, 8])


def test_values_and_overrides_merged_at_once_name_the_bad_one_and_later_ones_win():
    """merge() applies a grid cell's values and the overrides each in one OmegaConf merge (a grid builds
    hundreds of cells) on a cached base: the result, the errors and the cache are as one by one."""
    values = {"model.name": "lstm", "train.lr": 0.01, "model": {"d_model": 32}, "eval.distances": [3]}
    cfg = load_config("train", ["train.lr=0.02", "eval.distances=5", "train.lr=0.03"], values)
    assert (cfg.model.name, cfg.model.d_model, cfg.train.lr, cfg.eval.distances) == ("lstm", 32, 0.03, [5])
    with pytest.raises(UsageError, match=r"^bad value train.seed='x': Value 'x'"):
        load_config("train", [], {"model.name": "lstm", "train.seed": "x", "train.lr": 0.1})
    with pytest.raises(UsageError, match=r"^bad override 'model.nme=lstm': unknown key 'model.nme'; valid: name"):
        load_config("train", ["train.lr=0.1", "model.nme=lstm"])
    cfg.model.d_model = 999  # the returned object is the caller's; the cached base is untouched
    again = load_config("train")
    assert again.model.d_model != 999 and again.train.lr == RunConfig().train.lr


BAD = {
    "unknown-key": (["model.nme=lstm"], "nme"),
    "unknown-group": (["modl.name=lstm"], "modl"),
    "unknown-model": (["model.name=gru"], "valid: rnn, lstm, single_head, multi_head, transformer"),
    "unknown-task": (["task.name=parity"], "valid: agreement"),
    "heads-not-dividing": (["model.heads=5"], "does not divide"),
    "non-positive-distance": (["task.distance=0"], "task.distance"),
    "negative-distance": (["task.distance=-3"], "task.distance"),
    "malformed-int": (["task.distance=far"], "far"),
    "not-key-value": (["distance"], "key=value"),
    "bad-backend": (["model.backend=flash"], "valid: explicit, sdpa"),
    "bad-construction": (["task.constructions=[pp,cleft]"], "valid: pp, src, orc, filler"),
    "learned-too-short": (["model.positions=learned", "model.max_len=64", "task.max_distance=128"], "max_len"),
}


@pytest.mark.parametrize("overrides,needle", BAD.values(), ids=BAD.keys())
def test_bad_values_raise_usage_error(overrides, needle):
    with pytest.raises(UsageError) as err:
        load_config("train", overrides)
    message = str(err.value)
    assert needle in message and "\n" not in message


@pytest.mark.parametrize("overrides", [v[0] for v in BAD.values()], ids=list(BAD))
def test_cli_bad_input_exits_2_and_writes_nothing(overrides, tmp_path, capsys):
    code = cli.main(["train", f"results_dir={tmp_path}", *overrides])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("longdep: error:") and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_unknown_config_name_lists_valid():
    with pytest.raises(UsageError, match="valid: .*train"):
        load_config("nope")


def test_config_hash_is_stable_and_sensitive():
    a, b = load_config("train"), load_config("train", ["train.seed=1"])
    assert config_hash(a) == config_hash(load_config("train"))
    assert config_hash(a) != config_hash(b)


def test_the_run_id_holds_the_number_of_devices_only_when_it_changes_the_result():
    from longdep.training.config import load_config
    from longdep.training.run import run_id

    one = run_id(load_config("train"))
    assert run_id(load_config("train", ["train.devices=1", "train.checkpoint_every=0"])) == one
    assert run_id(load_config("train", ["train.devices=2"])) != one  # DDP: two ranks, twice the batch
