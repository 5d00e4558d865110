"""The cost part of the README's generated results section, from a folder's ``scaling.csv``.

Every number comes from one sweep (the rows and ``scaling_env.json`` of the folder): log-log slopes
over the largest lengths, step time and memory at the largest length that ran, the speed-up of all
cores over one thread, and the constant-token series (time per token at the shortest and longest N).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from longdep.analysis import style
from longdep.analysis.tables import image, markdown
from longdep.records import read_csv, read_json
from longdep.measure.summary import FIT_LARGEST, constant_token_summary, fixed_batch, scaling_summary, speedups


def _name(model: str, backend: str) -> str:
    return style.model_name(model) + ("" if backend in ("recurrent", "scan") else f", {backend}")


def _shape(slope: float) -> str:
    if slope < 0.3:
        return "about flat"
    return "linear in N" if slope >= 0.8 else "sub-linear"


def _order(df: pd.DataFrame) -> pd.DataFrame:
    rank = {m: i for i, m in enumerate(style.model_order())}
    return df.assign(_r=df["model"].map(rank), _b=df["backend"].map({"explicit": 1, "sdpa": 2}).fillna(0)
                     ).sort_values(["_r", "_b"]).drop(columns=["_r", "_b"])


def fixed_batch_table(df: pd.DataFrame) -> str:
    """Per model and backend: time slopes at each thread count, memory slope, the largest N that ran,
    its step time, peak memory and fraction of the matmul peak, and where the memory wall was."""
    summary = scaling_summary(df)
    if not len(summary):
        return "(no fixed-batch series)"
    fixed = fixed_batch(df)
    # one time-slope column per (device, threads); the other columns from the last: the GPU, else all cores
    series = sorted(set(zip(summary["device"], summary["threads"])), key=lambda k: (k[0] != "cpu", k[1]))
    top = series[-1]

    def label(device, t):
        return "time slope" + (f", {t} thread{'s' if t > 1 else ''}" if device == "cpu" else f", {device}")

    rows = []
    at = summary[(summary["device"] == top[0]) & (summary["threads"] == top[1])]
    for _, row in _order(at).iterrows():
        key = (summary["model"] == row["model"]) & (summary["backend"] == row["backend"])
        slopes = [summary[key & (summary["device"] == d) & (summary["threads"] == t)]["time_slope"] for d, t in series]
        walls = fixed[(fixed["model"] == row["model"]) & (fixed["backend"] == row["backend"])
                      & fixed["status"].isin(["oom", "timeout"])]
        wall = (f"N={int(walls['seq_len'].min())} ({walls.sort_values('seq_len')['status'].iloc[0]})"
                if len(walls) else "-")
        rows.append([_name(row["model"], row["backend"]), *(f"{s.iloc[0]:.2f}" if len(s) else "" for s in slopes),
                     f"{row['mem_slope']:.2f}", int(row["largest_n"]), f"{row['step_time_s'] * 1e3:.0f} ms",
                     f"{row['peak_mem_mb']:.0f} MB", f"{row['peak_fraction']:.2f}", wall])
    return markdown(["model", *(label(*k) for k in series), "memory slope", "largest N run", "step time there",
                     "peak memory there", "of matmul peak", "over budget at"], rows)


def speedup_line(df: pd.DataFrame) -> str:
    sp = speedups(fixed_batch(df))
    sp = sp[sp["device"] == "cpu"]
    if not len(sp):
        return ""
    t = int(sp["threads"].max())
    sp = sp[sp["threads"] == t]
    last = _order(sp.sort_values("seq_len").groupby(["model", "backend"], as_index=False).tail(1))
    parts = [f"{_name(r['model'], r['backend'])} {r['speedup']:.2f}x (N={int(r['seq_len'])})" for _, r in last.iterrows()]
    return f"{t} threads vs 1 at the largest N both ran: " + ", ".join(parts) + "."


def constant_token_text(df: pd.DataFrame) -> str:
    table = constant_token_summary(df)
    if not len(table):
        return "(no constant-token series)"
    out = []
    for (device, threads, precision, tokens), g in table.groupby(["device", "threads", "precision", "tokens"], sort=False):
        where = f"{device}, {threads} thread{'s' if threads > 1 else ''}" + ("" if precision == "32" else f", {precision}")
        lo, hi = int(g["min_len"].min()), int(g["max_len"].max())
        out.append(f"*T = {tokens:,} tokens per step ({where}); B = T / N from {tokens // lo} x {lo} to "
                   f"{tokens // hi} x {hi}:*\n")
        rows = [[_name(r["model"], r["backend"]), f"{r['min_len']}-{r['max_len']}", f"{r['us_per_token_min_len']:.2f} us",
                 f"{r['us_per_token_max_len']:.2f} us", f"{r['ratio']:.1f}x",
                 f"{r['time_slope']:.2f} ({_shape(r['time_slope'])})", f"{r['sequential_steps_max_len']:,}"]
                for _, r in _order(g).iterrows()]
        out.append(markdown(["model", "N", "time per token, shortest N", "at longest N", "ratio", "log-log slope",
                             "sequential steps at longest N"], rows))
        out.append("")
    return "\n".join(out).rstrip()


def render_cost(folder: Path, link: str | None = None) -> str:
    """Markdown for the cost results of ``folder`` ('' without ``scaling.csv``); figures are linked
    under ``link`` (default: the folder as given)."""
    folder = Path(folder)
    path = folder / "scaling.csv"
    if not path.exists():
        return ""
    df = read_csv(path)
    if df is None:
        return ""
    env_path = folder / "scaling_env.json"
    env = read_json(env_path) if env_path.exists() else {}
    cfg = env.get("config", {})
    m = cfg.get("model") or cfg  # older sweeps kept the width at the top level
    link = link or folder.as_posix()
    days = df["timestamp"].astype(str).str[:10].value_counts().sort_index() if "timestamp" in df else pd.Series(dtype=int)
    when = ("one sweep" if len(days) <= 1 else "sweeps on " + " and ".join(
        f"{day} ({n} points)" for day, n in days.items()) + " (a resumed sweep keeps its earlier points; compare "
        "points of one day)")
    where = (f"{env['gpu']}, torch {env.get('versions', {}).get('torch', '?')}" if env.get("gpu") and cfg.get("device") != "cpu"
             else f"{env.get('cpu', 'this machine')} ({env.get('all_cores', '?')} cores)")
    setup = (f"{when} on {where}, precision {', '.join(cfg.get('precision', ['32']))}, "
             f"d={m.get('d_model', '?')}, {m.get('layers', '?')} layers, {m.get('norm', '?')}-norm, fixed batch "
             f"{cfg.get('batch', '?')}, memory budget {cfg.get('mem_budget_gb', '?')} GB per point; slopes over the "
             f"largest {FIT_LARGEST} lengths that ran")
    parts = [
        f"**Cost against sequence length** ({setup}). Step time is forward + backward, median of "
        f"{cfg.get('repeats', '?')}; memory is the step's measured peak; the fraction of peak is against a matmul "
        "timed in the same run:\n\n" + fixed_batch_table(df),
        (speed := speedup_line(df)),
        figure_links(folder, link, [("time_vs_n", "step time vs N"), ("memory_vs_n", "peak memory vs N")]
                     + ([("speedup", "parallel speed-up")] if speed else [])),
        "**Parallelism across time, at constant tokens per step.** The same number of tokens per step at every N, "
        "laid out as many short sequences or few long ones: a recurrence's chain of dependent steps grows with N "
        "while each step's products shrink; attention's projections cost the same at every N while its score "
        "products (T x N x d per layer) grow with N; the parallel scan's work and depth (log2 N) barely change:\n\n"
        + constant_token_text(df),
    ]
    parts.append(figure_links(folder, link, [("constant_tokens", "constant tokens")]))
    return "\n\n".join(p for p in parts if p)


def figure_links(folder: Path, link: str, stems) -> str:
    """Markdown images (linked under ``link``) for the figures of ``folder`` written under each stem (one
    per precision: ``time_vs_n.png``, ``time_vs_n_bf16-mixed.png`` ...); '' when none was drawn."""
    out = []
    for stem, alt in stems:
        for path in sorted((Path(folder) / "figures").glob(f"{stem}*.png")):
            if path.stem == stem or path.stem.startswith(stem + "_"):
                out.append(image(link, path.stem, alt))
    return "\n".join(out)
