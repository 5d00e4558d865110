"""The cost harness: complete rows, profiler memory against prediction, faults as rows, resume, bad input.

Every sweep here is tiny (lengths <= 2048, d_model 16, one layer, 2 repeats); the whole file runs in
well under a minute. Timings are recorded, never asserted: they belong to the benchmark, not the tests.
"""
import io
import json
from dataclasses import asdict

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from longdep.analysis.scaling_figures import make_scaling_figures, plot_memory_vs_n
from longdep.config import UsageError
from longdep.config import ModelConfig, resource_dir, yaml_names
from longdep.measure.cost import predict
from longdep.measure.harness import measure_point
from longdep.measure.isolate import guard_bytes, run_isolated
from longdep.measure.plan import Point, ScaleConfig, load_scale_config, validate_scale
from longdep.measure.sweep import run_scale

REQUIRED = [
    "model", "backend", "device", "threads", "batch", "seq_len", "d_model", "heads", "layers", "step_time_s",
    "step_time_p20_s", "step_time_p80_s", "forward_time_s", "peak_mem_bytes", "predicted_score_bytes", "flops",
    "status", "sequential_steps", "predicted_activation_bytes", "achieved_flops_per_s", "peak_fraction",
    "matmul_peak_flops_per_s", "point_id",
]


def tiny(tmp_path, **changes) -> ScaleConfig:
    cfg = dict(name="t", results_dir=str(tmp_path), models=["lstm", "single_head"], backends=["explicit"],
               seq_lens=[32, 64, 128], batch=[2], model=ModelConfig(d_model=16, heads=2, layers=1, d_ff=32, norm="pre"),
               repeats=2, warmup=1, threads=[1], device="cpu", time_budget_s=60.0, mem_budget_gb=1.0, matmul_size=256)
    cfg.update(changes)
    return validate_scale(ScaleConfig(**cfg))


def point(model, backend, n, d_model=64, heads=4, layers=2, d_ff=128, **kw) -> Point:
    """A point of a sweep of pre-norm models of that width (backend: ignored by non-attention models)."""
    return Point.of(model, backend, n, ModelConfig(d_model=d_model, heads=heads, layers=layers, d_ff=d_ff, norm="pre"),
                    **kw)


def rows(folder):
    return pd.read_csv(folder / "scaling.csv")


def test_tiny_sweep_writes_complete_ok_rows_figures_and_resumes(tmp_path):
    cfg = tiny(tmp_path)
    log = io.StringIO()
    out = run_scale(cfg, stream=log)
    df = rows(out)
    assert set(REQUIRED) <= set(df.columns)
    assert len(df) == 6 and (df["status"] == "ok").all(), df[["model", "seq_len", "status", "note"]]
    assert df[REQUIRED].notna().all().all()
    assert set(df["model"]) == {"lstm", "single_head"}
    assert set(df[df["model"] == "lstm"]["backend"]) == {"recurrent"}
    # sequential steps: N per layer for recurrence, one per layer for attention
    lstm, attn = df[df["model"] == "lstm"], df[df["model"] == "single_head"]
    assert (lstm["sequential_steps"] == lstm["seq_len"] * cfg.model.layers).all()
    assert (attn["sequential_steps"] == cfg.model.layers).all()
    assert (attn["predicted_score_bytes"] == 2 * 1 * attn["seq_len"] ** 2 * 4).all()  # B x 1 head x N^2 x 4
    assert (lstm["predicted_score_bytes"] == 0).all()
    assert (df["step_time_p20_s"] <= df["step_time_p80_s"]).all()
    assert len(log.getvalue().strip().splitlines()) >= 6  # a line per point (plus header and summary)
    env = json.loads((out / "scaling_env.json").read_text())
    assert {"cpu", "commit", "versions", "matmul_peak_flops_per_s", "config"} <= set(env)

    paths = make_scaling_figures(out)
    # one thread count: no speed-up to draw (a figure that says "nothing measured" is not written)
    assert sorted(p.name for p in paths) == sorted(f"{s}.{e}" for s in ("time_vs_n", "memory_vs_n") for e in ("png", "pdf"))
    assert all(p.stat().st_size > 0 for p in paths)

    again = io.StringIO()
    run_scale(cfg, stream=again)  # resume: everything is there, nothing runs, nothing doubles
    assert "0 to run" in again.getvalue()
    df2 = rows(out)
    assert len(df2) == 6 and df2["point_id"].is_unique
    assert df2["step_time_s"].tolist() == df["step_time_s"].tolist()


def test_explicit_attention_memory_is_quadratic_and_near_the_predicted_score_bytes():
    def attn(n, backend="explicit"):
        return point("single_head", backend, n, batch=4, d_model=32, layers=1, d_ff=64, threads=1, repeats=1)

    small, large = (measure_point(attn(n))["peak_mem_bytes"] for n in (256, 512))
    assert 3.2 <= large / small <= 4.5  # ~4x per doubling of N
    for n, peak in ((256, small), (512, large)):
        ratio = peak / predict(attn(n))["predicted_score_bytes"]
        assert 2.0 <= ratio <= 5.0, f"N={n}: peak {peak} is {ratio:.2f}x the score bytes"
    sdpa = measure_point(attn(512, "sdpa"))["peak_mem_bytes"]
    assert sdpa < large / 4  # the fused kernel never holds N x N


def test_flops_count_the_causal_half_for_sdpa_and_the_full_square_for_explicit():
    """Explicit attention computes every score and masks; the causal SDPA kernel computes the lower triangle."""
    for model in ("single_head", "multi_head", "transformer"):
        n, b, d, layers = 1024, 2, 32, 2
        full = predict(point(model, "explicit", n, batch=b, d_model=d, layers=layers))["flops"]
        tri = predict(point(model, "sdpa", n, batch=b, d_model=d, layers=layers))["flops"]
        attend = 3 * layers * 4 * b * n * n * d  # QK^T + AV over all heads, forward + backward
        assert full - tri == pytest.approx(attend * (n - 1) / (2 * n), rel=1e-6)
    rnn = predict(point("rnn", "sdpa", 1024, batch=2, d_model=32, layers=2))
    assert rnn["sequential_steps"] == 2 * 1024 and rnn["predicted_score_bytes"] == 0


@pytest.mark.parametrize("skip_predicted", [True, False], ids=["predicted", "measured-limit"])
def test_memory_budget_gives_oom_then_skipped_rows_and_the_sweep_goes_on(tmp_path, skip_predicted):
    # single_head at B=32, N=1024 holds ~400 MB of scores: over a 150 MB budget; the LSTM needs ~40 MB.
    cfg = tiny(tmp_path, models=["single_head", "lstm"], seq_lens=[32, 1024, 2048], batch=[32],
               mem_budget_gb=0.15, skip_predicted_oom=skip_predicted)
    df = rows(run_scale(cfg, stream=io.StringIO())).set_index(["model", "seq_len"])
    assert df.loc[("single_head", 32), "status"] == "ok"
    assert df.loc[("single_head", 1024), "status"] == "oom"
    assert ("predicted" in df.loc[("single_head", 1024), "note"]) == skip_predicted
    assert df.loc[("single_head", 2048), "status"] == "skipped"
    if not skip_predicted:  # run, and judged on its measured peak
        assert "measured peak" in df.loc[("single_head", 1024), "note"]
    assert (df.loc["lstm", "status"] == "ok").all()
    assert (df.loc["lstm", "peak_mem_bytes"] < cfg.mem_budget_gb * 1e9).all()
    # the figure marks the wall: a cross at N=1024 for single_head, nothing for the skipped N
    fig = plot_memory_vs_n(df.reset_index())
    crosses = [line for ax in fig.axes for line in ax.get_lines() if line.get_marker() == "x" and len(line.get_xdata())]
    assert [list(line.get_xdata()) for line in crosses] == [[1024]]
    plt.close(fig)


def test_the_memory_budget_is_judged_on_the_measured_peak_not_on_the_process_heap():
    """A point just above its budget is oom and one just below is ok, in an isolated child whose heap
    (imports, freed memory, allocator slack, profiler buffers) is far larger than the margin."""
    p = point("lstm", "sdpa", 1024, batch=32, d_model=16, heads=2, layers=1, d_ff=32, threads=1, repeats=1)
    peak = measure_point(p)["peak_mem_bytes"]
    assert peak > 10e6
    status, result, _ = run_isolated("point", asdict(p), 60, int(peak * 1.05))
    assert status == "ok" and result["status"] == "ok", result
    assert result["peak_mem_bytes"] == peak  # exact and repeatable across processes
    status, result, _ = run_isolated("point", asdict(p), 60, int(peak * 0.95))
    assert status == "ok" and result["status"] == "oom", result
    assert result["note"].startswith("measured peak") and result["peak_mem_bytes"] == peak
    assert guard_bytes(int(peak * 1.05)) > 2 * peak  # the guard sits well above the budget


def test_time_budget_gives_timeout_then_skipped_rows_and_the_sweep_goes_on(tmp_path):
    # one explicit step at B=8, N=2048 takes ~1 s here; the budget is 1 s for the whole point
    cfg = tiny(tmp_path, models=["single_head", "lstm"], seq_lens=[2048, 4096], batch=[8], time_budget_s=1.0)
    df = rows(run_scale(cfg, stream=io.StringIO())).set_index(["model", "seq_len"])
    assert df.loc[("single_head", 2048), "status"] == "timeout"
    assert df.loc[("single_head", 4096), "status"] == "skipped"
    assert len(df.loc["lstm"]) == 2  # the next series still ran
    assert set(df.loc["lstm", "status"]) <= {"ok", "timeout", "skipped"}


@pytest.mark.parametrize("name", yaml_names(resource_dir("configs") / "scale"))
def test_every_scale_config_loads(name):
    import torch

    cfg = load_scale_config([] if torch.cuda.is_available() or name != "gpu" else ["device=cpu"], name)
    assert cfg.models and cfg.backends


def test_single_values_need_no_brackets():
    cfg = load_scale_config(["models=lstm", "threads=1", "batch=4", "seq_lens=64"], "quick")
    assert (cfg.models, cfg.threads, cfg.batch, cfg.seq_lens) == (["lstm"], [1], [4], [64])


BAD = {
    "unknown-model": (["models=[rnn,gru]"], "unknown model 'gru'; valid: rnn, lstm"),
    "unknown-backend": (["backends=[flash]"], "unknown backend 'flash'; valid: explicit, sdpa"),
    "zero-length": (["seq_lens=[64,0]"], "seq_lens entry must be positive, got 0"),
    "negative-length": (["seq_lens=[]", "min_len=-8"], "min_len must be positive"),
    "lengths-reversed": (["seq_lens=[]", "min_len=256", "max_len=64"], "max_len=64 is below min_len=256"),
    "bad-device": (["device=tpu"], "unknown device 'tpu'; valid: auto, cpu, cuda"),
    "bad-threads": (["threads=[-1]"], "threads entry must be >= 0"),
    "heads-not-dividing": (["model.heads=3"], "does not divide"),
    "unknown-key": (["batchsize=4"], "batchsize"),
    "malformed-int": (["repeats=many"], "many"),
    "tokens-not-a-multiple": (["tokens=[3000]"], "tokens entry 3000 must be a multiple of every length"),
    "bad-precision": (["precision=[fp8]"], "unknown precision 'fp8'; valid: 32, bf16-mixed, 16-mixed"),
    "fp16-on-cpu": (["device=cpu", "precision=[16-mixed]"], "precision 16-mixed needs a CUDA device"),
    "unknown-config": None,
}


@pytest.mark.parametrize("overrides,needle", [v for v in BAD.values() if v], ids=[k for k, v in BAD.items() if v])
def test_bad_input_raises_a_one_line_usage_error(overrides, needle):
    with pytest.raises(UsageError) as err:
        load_scale_config(overrides, "quick")
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_unknown_config_name_lists_the_valid_ones():
    with pytest.raises(UsageError, match="valid: .*quick"):
        load_scale_config([], "nonesuch")


def test_constant_token_points_hold_batch_x_n_fixed_and_fp32_fixed_batch_ids_are_unchanged():
    from longdep.measure.plan import plan

    cfg = load_scale_config(["models=[lstm]", "seq_lens=[64,128,256]", "batch=[4]", "tokens=[1024]", "threads=[1]",
                             "device=cpu"], "default")
    pts = plan(cfg)
    fixed = [p for p in pts if not p.tokens]
    const = [p for p in pts if p.tokens]
    assert [(p.batch, p.seq_len) for p in fixed] == [(4, 64), (4, 128), (4, 256)]
    assert [(p.batch, p.seq_len) for p in const] == [(16, 64), (8, 128), (4, 256)]
    assert fixed[2].point_id() != const[2].point_id()  # same shape, separate rows of separate series
    assert len({p.series for p in const}) == 1 and const[0].series != fixed[0].series
    # the id of an fp32 fixed-batch point is the one it had before tokens and precision existed
    # (results/paper/scaling.csv, first row: rnn, cpu, 1 thread, B=4, N=64, d=64, 2 layers, d_ff 128)
    assert point("rnn", "sdpa", 64, batch=4, threads=1).point_id() == "e0aa2fac5258"
    assert point("rnn", "sdpa", 64, batch=4, threads=1, precision="bf16-mixed").point_id() != "e0aa2fac5258"


def test_constant_token_summary_reads_flat_and_linear_series():
    from longdep.measure.summary import constant_token_summary

    n = [64, 128, 256, 512]
    rows = [dict(model=m, backend=b, device="cpu", threads=1, precision="32", tokens=4096, batch=4096 // k, seq_len=k,
                 status="ok", step_time_s=t(k), sequential_steps=s(k))
            for m, b, t, s in (("lstm", "recurrent", lambda k: 1e-4 * k, lambda k: 2 * k),
                               ("transformer", "sdpa", lambda k: 0.05, lambda k: 2)) for k in n]
    table = constant_token_summary(pd.DataFrame(rows)).set_index("model")
    assert table.loc["lstm", "time_slope"] == pytest.approx(1.0) and table.loc["lstm", "ratio"] == pytest.approx(8.0)
    assert table.loc["transformer", "time_slope"] == pytest.approx(0.0, abs=1e-9)
    assert table.loc["lstm", "sequential_steps_max_len"] == 1024
    assert table.loc["transformer", "us_per_token_max_len"] == pytest.approx(0.05 / 4096 * 1e6, rel=1e-3)


def test_the_gpu_config_runs_on_cpu_at_tiny_sizes_in_bf16_with_constant_tokens(tmp_path):
    """configs/scale/gpu.yaml, shrunk: bf16 autocast points and a constant-token series, figures included."""
    cfg = load_scale_config([f"results_dir={tmp_path}", "name=g", "device=cpu", "models=[lstm,transformer]",
                             "backends=[sdpa]", "seq_lens=[16,32]", "batch=[2]", "tokens=[32]", "model.d_model=16",
                             "model.heads=2", "model.d_ff=32", "repeats=1", "warmup=1", "matmul_size=128",
                             "mem_budget_gb=1"], "gpu")
    out = run_scale(cfg, stream=io.StringIO())
    df = rows(out)
    assert (df["status"] == "ok").all(), df[["model", "seq_len", "status", "note"]]
    assert set(df["precision"]) == {"bf16-mixed"} and len(df) == 8
    const = df[df["tokens"] > 0]
    assert (const["batch"] * const["seq_len"] == 32).all() and len(const) == 4
    names = {p.name for p in make_scaling_figures(out)}
    assert {"constant_tokens.png", "time_vs_n_bf16-mixed.png"} <= names
